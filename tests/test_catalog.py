"""The catalog asks the registries: strategy specs and model options come from the classes, memoised on disk keyed
by the source, so that the app's first render does not import torch while the cache is fresh."""
from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys

import pytest

from alcore import catalog, data, models, presets, strategies
from alcore.config import MODELS
from alcore.source_cache import SourceCache, source_key
from alcore.strategies.spec import spec_from_class
from tests.conftest import REPO_ROOT

CONSTRUCTORS = {"logreg": models.LogReg, "mlp": models.MLP, "cnn": models.CNN}


def from_disk(cache: SourceCache, folder) -> SourceCache:
    """The same answer as a new process would see it, with the cache files in ``folder``."""
    return SourceCache(cache.name, cache.build, cache.convert, folder=folder)


@pytest.mark.parametrize("name", list(strategies.REGISTRY))
def test_each_strategy_spec_equals_what_its_class_says(name):
    spec = strategies.spec(name)
    assert spec == spec_from_class(strategies.get_class(name))
    assert spec.name == name and spec.description, f"{name} has no description"


def test_the_cached_answer_read_back_from_disk_equals_the_classes(tmp_path):
    built = from_disk(strategies.SPEC_CACHE, tmp_path).get()
    (path,) = tmp_path.glob("strategies-*.json")
    calls = []
    read = SourceCache("strategies", lambda: calls.append(1), strategies.SPEC_CACHE.convert, folder=tmp_path).get()
    assert calls == [] and read == built  # answered from the file, tuples still tuples
    assert read == {n: spec_from_class(strategies.get_class(n)) for n in strategies.REGISTRY}
    assert path.exists()


def test_every_strategy_option_has_help_text():
    missing = [(s.name, o.name) for s in strategies.specs().values() for o in s.options if not o.help]
    assert missing == [], "options without a trailing # comment (the form's help text)"


@pytest.mark.parametrize("model", MODELS)
def test_model_defaults_equal_the_constructor_signature(model, tmp_path):
    expected = {p.name: p.default for p in inspect.signature(CONSTRUCTORS[model]).parameters.values()
                if p.default is not inspect.Parameter.empty}
    assert catalog.model_defaults(model) == expected
    from_disk(catalog.MODEL_CACHE, tmp_path).get()
    assert from_disk(catalog.MODEL_CACHE, tmp_path).get()[model] == expected


def test_the_catalog_answers_what_the_registries_say():
    assert catalog.strategies() == strategies.specs()
    assert catalog.datasets() == data.available() and catalog.presets() == presets.list_presets()
    assert catalog.dataset_options("moons") == data.default_options("moons")
    assert set(catalog.models()) == set(MODELS)
    with pytest.raises(ValueError, match="model='nope'"):
        catalog.model_defaults("nope")


def counting_cache(root, folder, calls):
    def build():
        calls.append(1)
        return {"answer": (len(calls), "x")}

    return SourceCache("t", build, root=root, folder=folder)


def test_a_changed_source_file_computes_the_answer_again_once(tmp_path):
    root, folder, calls = tmp_path / "src", tmp_path / "cache", []
    root.mkdir()
    (root / "a.py").write_text("X = 1\n")
    assert counting_cache(root, folder, calls).get() == {"answer": (1, "x")}
    assert counting_cache(root, folder, calls).get() == {"answer": (1, "x")} and len(calls) == 1
    key = source_key(root)
    (root / "a.py").write_text("X = 2\n")
    assert source_key(root) != key
    assert counting_cache(root, folder, calls).get() == {"answer": (2, "x")}
    assert counting_cache(root, folder, calls).get() == {"answer": (2, "x")} and len(calls) == 2


@pytest.mark.parametrize("content", [b"{not json", b"\x00\xff\xfe", b'{"key": "other", "value": 1}', b"[]",
                                     b'{"key": "KEY", "value": {"__tuple__": 5}}', b""])
def test_a_corrupt_cache_file_is_computed_again_never_an_error(tmp_path, content):
    root, folder, calls = tmp_path / "src", tmp_path / "cache", []
    root.mkdir()
    (root / "a.py").write_text("X = 1\n")
    cache = counting_cache(root, folder, calls)
    path = cache.path(source_key(root))
    folder.mkdir()
    path.write_bytes(content.replace(b"KEY", source_key(root).encode()))
    assert cache.get() == {"answer": (1, "x")} and calls == [1]
    assert json.loads(path.read_text())["key"] == source_key(root)  # rewritten whole


def test_stored_data_the_answer_cannot_use_counts_as_corrupt(tmp_path):
    SourceCache("s", lambda: {"name": "x"}, folder=tmp_path).get()  # an older shape of the same answer
    strict = SourceCache("s", lambda: {"name": "x", "options": ()}, convert=lambda v: (v["name"], v["options"]),
                         folder=tmp_path)
    assert strict.get() == ("x", ())


def test_a_cache_folder_that_cannot_be_written_still_answers(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    calls = []
    assert counting_cache(REPO_ROOT / "alcore", blocked / "cache", calls).get() == {"answer": (1, "x")}


def probe(code: str, cache: str) -> str:
    env = {**os.environ, "ALCORE_CACHE_DIR": cache}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True,
                         env=env)
    return out.stdout.strip()


FIRST_RENDER = ("import sys, pages.ui.frame, pages.ui.setup_form; from alcore import catalog, data, strategies; "
                "from alcore.config import MODELS, ExperimentConfig; "
                "[strategies.spec(s).options for s in strategies.available()]; "
                "[catalog.model_defaults(m) for m in MODELS]; data.available(); ExperimentConfig(); "
                "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))")


def test_what_the_first_render_asks_imports_no_torch_once_the_cache_is_fresh(tmp_path):
    """A missing cache is filled from the classes (importing torch, once); a fresh one answers without them."""
    assert probe(FIRST_RENDER, str(tmp_path)) != "[]"
    assert sorted(p.name.split("-")[0] for p in tmp_path.glob("*.json")) == ["models", "strategies"]
    assert probe(FIRST_RENDER, str(tmp_path)) == "[]"


def test_the_apps_shared_page_code_imports_no_engine_heavyweights():
    """What every page imports first (the shell, the setup form) loads without torch, scikit-learn or pandas: the
    first render after a server start does not wait for them (the job registry imports them in the background)."""
    code = ("import sys, pages.ui.frame, pages.ui.setup_form; "
            "print(sorted(m for m in ('torch', 'sklearn', 'pandas', 'openTSNE') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_options_given_are_still_validated_by_the_strategy():
    from alcore.config import ConfigError, ExperimentConfig

    with pytest.raises(ConfigError, match="label_mode"):
        ExperimentConfig(strategy="less", target_size=20, strategy_options={"label_mode": "expected_gradient"})
    with pytest.raises(ConfigError, match="target_size"):
        ExperimentConfig(strategy="alignment", target_size=0)
