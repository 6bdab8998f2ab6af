"""Property-based fuzzing of what users hand the engine: config values and uploaded files.

Whatever comes in, the answer is a valid object or the engine's own error with a message: ``ConfigError`` for a
config, ``DatasetError`` for a file. Never a pandas, numpy, zipfile or Python exception.
"""
from __future__ import annotations

import io
import json
import tempfile
import zipfile
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from alcore import data, strategies
from alcore.config import ConfigError, ExperimentConfig
from alcore.constants import COLD_START_RULES
from alcore.data import Dataset, DatasetError, load, load_bytes

FUZZ = settings(max_examples=120, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])

# --- configs ------------------------------------------------------------------------------------------------------

FIELDS = sorted(f.name for f in fields(ExperimentConfig))
ANYTHING = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.integers(-3, 300),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.lists(st.one_of(st.integers(-3, 12), st.text(max_size=3), st.none()), max_size=4),
    st.dictionaries(st.text(max_size=6), st.one_of(st.integers(-5, 50), st.floats(), st.text(max_size=4)),
                    max_size=3),
    st.binary(max_size=4), st.tuples(st.integers()),
)
PLAUSIBLE = {
    "dataset": st.sampled_from([*data.available(), "Digits", ""]),
    "strategy": st.sampled_from([*strategies.available(), "bdage"]),
    "cold_start_strategy": st.sampled_from([*COLD_START_RULES, *strategies.available(), "nope"]),
    "model": st.sampled_from(["logreg", "mlp", "cnn", "resnet"]),
    "optimizer": st.sampled_from(["adam", "sgd", "lbfgs"]),
    "device": st.sampled_from(["auto", "cpu", "cuda", "tpu"]),
    "target_classes": st.one_of(st.none(), st.lists(st.integers(-2, 12), max_size=4)),
    "test_size": st.floats(-1, 2),
    "lr": st.one_of(st.floats(-1, 1), st.just(float("nan"))),
}


@st.composite
def config_values(draw) -> dict:
    names = draw(st.lists(st.sampled_from(FIELDS), unique=True, max_size=8))
    values = {}
    for name in names:
        plausible = PLAUSIBLE.get(name, st.integers(-5, 100))
        values[name] = draw(st.one_of(plausible, ANYTHING))
    return values


def assert_config_error(err: ConfigError) -> None:
    assert isinstance(err, ValueError) and str(err).strip(), repr(err)


@FUZZ
@given(config_values())
@example({"dataset": ["digits"]})          # unhashable names
@example({"strategy": {"name": "badge"}})
@example({"cold_start_strategy": []})
@example({"target_classes": 3})            # not a list
@example({"target_classes": b"\x01"})      # bytes iterate as ints, then cannot be written as JSON
@example({"model_options": {"hidden": b"x"}})
def test_any_field_values_make_a_config_or_a_config_error_with_a_message(values):
    try:
        config = ExperimentConfig(**values)
    except ConfigError as err:
        assert_config_error(err)
        return
    # a config that constructs survives its own JSON
    assert ExperimentConfig.from_json(config.to_json()).to_dict() == config.to_dict()


@FUZZ
@given(config_values(), st.dictionaries(st.text(min_size=1, max_size=8), ANYTHING, max_size=2))
def test_unknown_fields_are_a_config_error_naming_them(values, extra):
    assume(not set(extra) & set(FIELDS))
    try:
        ExperimentConfig.from_dict({**values, **extra})
    except ConfigError as err:
        assert_config_error(err)
        if extra:  # unknown names are checked first, and named
            assert "unknown config field" in str(err) and all(repr(k) in str(err) for k in extra)
        return
    assert not extra


@FUZZ
@example("[1, 2]")  # JSON, but not an object
@example("not json")
@given(st.one_of(st.text(max_size=40).map(lambda t: "{" + t), st.just("[1, 2]"), st.just("{}"),
                 config_values().map(lambda v: json.dumps(v, default=str))))
def test_any_json_text_makes_a_config_or_a_config_error(text):
    try:
        ExperimentConfig.from_json(text)
    except ConfigError as err:
        assert_config_error(err)


# --- uploaded files -----------------------------------------------------------------------------------------------

SPECIAL_CELLS = ["", "nan", "NaN", "inf", "-inf", "1e308", "-1e308", "1e400", "3.4e39", "NA", "null", "None",
                 "1,5", '"', "'", "0x1F", "1_000", "١٢", "\u00e9", "TRUE", " 7 "]
CELL = st.one_of(
    st.integers(-3, 3).map(str),
    st.integers(-10**30, 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(SPECIAL_CELLS),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=5),
)


@st.composite
def csv_bytes(draw) -> bytes:
    """A table: sometimes clean numbers with a small label column, often ragged, odd-valued or mis-encoded."""
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    n_cols = draw(st.integers(0, 5))
    n_rows = draw(st.integers(0, 30))
    clean = draw(st.booleans())
    header = draw(st.lists(st.one_of(st.sampled_from(["x", "y", "label", "a", "b", "1", "2.5", ""]),
                                     st.text(max_size=4)), min_size=n_cols, max_size=n_cols))
    if clean:
        header = [f"f{i}" for i in range(n_cols - 1)] + ["label"] if n_cols else []
    lines = [sep.join(header)] if draw(st.booleans()) or clean else []
    for _ in range(n_rows):
        if clean and n_cols:
            feats = [repr(draw(st.floats(-1e3, 1e3, allow_nan=False))) for _ in range(n_cols - 1)]
            cells = feats + [str(draw(st.integers(0, 2)))]
        else:
            width = n_cols if draw(st.integers(0, 4)) else draw(st.integers(0, 7))
            cells = [draw(CELL) for _ in range(width)]
        lines.append(sep.join(cells))
    text = draw(st.sampled_from(["\n", "\r\n"])).join(lines)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    raw = text.encode(encoding, errors="replace")
    if draw(st.integers(0, 9)) == 0:
        raw += draw(st.binary(max_size=30))
    return raw


ARRAY_DTYPES = [np.float16, np.float32, np.float64, np.int8, np.uint8, np.int64, np.bool_, np.complex64, "U3", "S3",
                "datetime64[s]"]


@st.composite
def any_array(draw, n: int | None = None, ndim: int | None = None) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(ARRAY_DTYPES)))
    if n is not None:
        shape = (n,) if ndim == 1 else (n, draw(st.integers(0, 4)))
    else:
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=12))
    if dtype.kind == "f":
        elements = st.floats(width=dtype.itemsize * 8, allow_nan=True, allow_infinity=True)
    elif dtype.kind in "iu":
        elements = st.integers(int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)) \
            if draw(st.booleans()) else st.integers(0, 2)
    else:
        elements = None
    return draw(hnp.arrays(dtype, shape, elements=elements))


@st.composite
def npz_bytes(draw) -> bytes:
    """An archive of arrays: matching X and y, or arrays of any shape and dtype, some of them pickled objects."""
    arrays: dict[str, np.ndarray] = {}
    if draw(st.booleans()):
        n = draw(st.integers(0, 40))
        arrays["X"] = draw(any_array(n=n, ndim=2))
        arrays["y"] = draw(any_array(n=n, ndim=1))
        if draw(st.integers(0, 3)) == 0:
            arrays["X"] = draw(hnp.arrays(np.float64, (n, draw(st.integers(1, 3))),
                                          elements=st.floats(-1e3, 1e3)))
            arrays["y"] = np.arange(n) % 3
    for key in draw(st.lists(st.sampled_from(["X", "y", "class_names", "labels", "extra"]), unique=True,
                             max_size=3)):
        arrays[key] = draw(any_array())
    if draw(st.integers(0, 7)) == 0:
        arrays[draw(st.sampled_from(["X", "y", "class_names"]))] = np.array([1, "a", None], dtype=object)
    buf = io.BytesIO()
    (np.savez_compressed if draw(st.booleans()) else np.savez)(buf, **arrays)
    raw = buf.getvalue()
    if draw(st.integers(0, 5)) == 0:  # truncated or damaged in transit
        cut = draw(st.integers(0, len(raw)))
        raw = raw[:cut] + draw(st.binary(max_size=8))
    return raw


def single_array_npy() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.arange(20.0))
    return buf.getvalue()


def zip_without_arrays() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("X.npy", b"not an array")
        z.writestr("y.txt", b"1,2,3")
    return buf.getvalue()


FILE_CONTENTS = st.one_of(
    csv_bytes().map(lambda b: (b, "upload.csv")),
    npz_bytes().map(lambda b: (b, "upload.npz")),
    st.binary(max_size=300).flatmap(lambda b: st.sampled_from([(b, "random.csv"), (b, "random.npz")])),
    st.sampled_from([(b"", "empty.csv"), (b"", "empty.npz"), (b"\n\n", "blank.csv"), (single_array_npy(), "one.npz"),
                     (zip_without_arrays(), "zip.npz"), (b"x,y\n1,2\n", "data.txt"), (b"x,y\n1,2\n", "noext")]),
)
LABEL_COLUMN = st.one_of(st.none(), st.none(), st.sampled_from(["label", "y", "x", "labels", "missing"]),
                         st.integers(0, 3))


def assert_valid_dataset(ds: Dataset) -> None:
    assert ds.X.dtype == np.float32 and ds.X.ndim == 2 and np.isfinite(ds.X).all()
    assert ds.y.dtype == np.int64 and ds.y.shape == (ds.n_samples,)
    assert set(np.unique(ds.y).tolist()) == set(range(ds.n_classes)) and ds.n_classes >= 2
    assert int(np.prod(ds.sample_shape)) == ds.n_features


def outcome(fn):
    """``("dataset", Dataset)`` or ``("error", message)``; anything else propagates and fails the test."""
    try:
        ds = fn()
    except DatasetError as err:
        message = str(err).strip()
        assert message, "a DatasetError without a message"
        return "error", message
    assert isinstance(ds, Dataset)
    assert_valid_dataset(ds)
    return "dataset", ds


def npz_of(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@FUZZ
@given(FILE_CONTENTS, LABEL_COLUMN)
@example((npz_of(X=np.zeros((12, 2)), y=np.arange(12) % 2, class_names=np.array([b"\x80", b"b"])), "upload.npz"),
         None)  # class names that are not UTF-8
def test_any_uploaded_bytes_load_as_a_dataset_or_a_dataset_error(content, label_column):
    raw, name = content
    kind, _ = outcome(lambda: load_bytes(raw, name, label_column=label_column))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(raw)
        on_disk, _ = outcome(lambda: load("file", path=str(path), label_column=label_column))
    assert on_disk == kind  # the same answer from an upload and from a file with the same bytes


@FUZZ
@given(csv_bytes(), st.one_of(st.integers(-2, 200), st.sampled_from([None, "10", 1.5, True])))
def test_size_limits_and_bad_options_are_dataset_errors(raw, max_bytes):
    outcome(lambda: load_bytes(raw, "upload.csv", max_bytes=max_bytes))


@pytest.mark.parametrize("value", [None, 12, 3.5, "x,y\n1,2\n", ["a"], object()])
def test_non_bytes_uploads_are_dataset_errors(value):
    with pytest.raises(DatasetError, match="bytes"):
        load_bytes(value, "upload.csv")


def test_a_file_that_is_missing_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load("file", path=str(tmp_path / "gone.csv"))


# --- the fuzz bench (bench/fuzz.py) ---------------------------------------------------------------------------------

def test_a_quick_draw_of_the_fuzz_bench_finds_no_traceback_and_no_message_without_a_field(tmp_path, monkeypatch):
    """The bench's generators, a few dozen of each kind, in this process (the bench itself runs over 1,000)."""
    from conftest import load_bench

    fuzz = load_bench("fuzz")
    monkeypatch.setenv("ALCORE_CACHE_DIR", str(tmp_path / "cache"))
    counts = {"configs": 40, "json": 20, "uploads": 40, "queries": 40, "app_queries": 0, "sweeps": 10, "gifs": 20}
    tally = fuzz.run(seed=1, counts=counts, workdir=tmp_path)
    assert tally.tracebacks == [] and tally.unnamed == []
    assert tally.cases["config"] == 40 and tally.cases["upload"] == 40 and tally.refused and tally.accepted


@pytest.mark.slow
def test_the_fuzz_bench_smoke_prints_zero_tracebacks_and_zero_unnamed_messages(subprocess_env):
    import subprocess
    import sys

    from conftest import REPO_ROOT

    child = subprocess.run([sys.executable, "bench/fuzz.py", "--smoke"], cwd=REPO_ROOT, env=subprocess_env,
                           capture_output=True, text=True, timeout=1200)
    assert child.returncode == 0, child.stderr[-3000:]
    assert "0 tracebacks, 0 messages that name no field" in child.stdout.splitlines()[-1]
