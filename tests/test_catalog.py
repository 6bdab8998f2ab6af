"""The catalog reads strategies and models from their source: it must say exactly what the imported classes say,
and listing them (or validating a default config) must not import torch, the point of reading the source."""
from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap

import pytest

from alcore import catalog, models, strategies
from alcore.config import MODELS
from tests.conftest import REPO_ROOT


@pytest.mark.parametrize("name", list(strategies.available()))
def test_parsed_spec_equals_the_imported_class(name):
    parsed = strategies.spec(name)
    assert parsed == catalog.spec_from_class(strategies.get_class(name))
    assert parsed.description, f"{name} has no description"


def test_every_strategy_option_has_help_text():
    missing = [(s.name, o.name) for s in strategies.specs().values() for o in s.options if not o.help]
    assert missing == [], "options without a trailing # comment (the form's help text)"


@pytest.mark.parametrize("model", MODELS)
def test_model_defaults_equal_the_constructor_signature(model):
    cls = {"logreg": models.LogReg, "mlp": models.MLP, "cnn": models.CNN}[model]
    expected = {p.name: p.default for p in inspect.signature(cls).parameters.values()
                if p.default is not inspect.Parameter.empty}
    assert catalog.model_defaults(model) == expected


def test_values_it_cannot_read_come_from_the_imported_class(tmp_path, monkeypatch):
    module = tmp_path / "computed_strategy.py"
    module.write_text(textwrap.dedent('''
        from dataclasses import dataclass
        from alcore.strategies.base import Strategy

        class Computed(Strategy):
            name = "computed"
            description = "d" * 3

            @dataclass
            class Options:
                width: int = 2 ** 4  # a computed default
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = catalog.strategy_spec("computed_strategy")
    assert spec.description == "ddd"
    assert spec.options == (catalog.OptionSpec("width", 16, "a computed default"),)


def test_listing_strategies_and_a_default_config_import_neither_torch_nor_sklearn():
    code = ("import sys; from alcore import strategies, data; from alcore.config import ExperimentConfig; "
            "import alcore.catalog as c; strategies.available(); data.available(); ExperimentConfig(); "
            "[c.model_defaults(m) for m in ('logreg', 'mlp', 'cnn')]; "
            "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


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
