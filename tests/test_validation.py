"""Every setting is checked where it comes in, and a bad one is refused in one format that names the field, the
value and what is allowed (alcore.validation), never a traceback. The cases are the ones users hit, one by one."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import FAST, load_bench, make_fast_config

from alcore import data, limits
from alcore.cli import main
from alcore.config import ConfigError, ExperimentConfig
from alcore.data import DatasetError
from alcore.loop import Experiment
from alcore.validation import describe

# (field, value, what the message says is allowed): each refused at construction, naming exactly that field
REFUSED = [
    ("lr", float("inf"), "a finite number in (0, 10]"),
    ("lr", True, "a finite number in (0, 10]"),
    ("lr", float("nan"), "a finite number in (0, 10]"),
    ("weight_decay", float("inf"), "a finite number in [0, 10]"),
    ("warm_start", "no", "true or false"),
    ("warm_start", 1, "true or false"),
    ("test_size", 0, "a finite number in (0, 1)"),
    ("test_size", 1.0, "a finite number in (0, 1)"),
    ("test_size", 1.5, "a finite number in (0, 1)"),
    ("test_size", -0.2, "a finite number in (0, 1)"),
    ("epochs", 10**9, "an integer in 1..10000"),
    ("cycles", 10**7, "an integer in 1..10000"),
    ("seed", 2**32, "an integer in 0..4294967295"),
    ("seed", -1, "an integer in 0..4294967295"),
    ("display_size", 10**9, "an integer in 1..100000"),
    ("batch_size", 2.5, "an integer in 1..10000000"),
    ("name", 5, "text of 0 to 200 characters"),
    ("target_classes", [0, "a"], "a list of 1 to 10000 integers"),
    ("model_options.hidden", [0], "a list of 1 to 16 integers, each in 1..1048576"),
    ("model_options.hidden", [], "a list of 1 to 16 integers"),
    ("model_options.dropout", float("nan"), "a finite number in [0, 1)"),
    ("model_options.dropout", 1.0, "a finite number in [0, 1)"),
    ("model_options.width", 3, "model 'mlp' has no such option"),
    ("dataset_options.n_samples", 10**12, "an integer in 1..10000000"),
    ("dataset_options.noise", float("inf"), "a finite number in [0, 1e+06]"),
    ("dataset_options.random_state", 2**40, "an integer in 0..4294967295"),
    ("dataset_options.bogus", 1, "dataset 'moons' has no such option"),
    ("strategy_options.n_passes", 2.5, "an integer in"),
    ("strategy_options.nope", 1, "strategy 'bald' has no such option"),
]


def _values(field: str, value) -> dict:
    """Config values setting ``field`` (``a.b`` sets option b of the a dict) on a moons run with BALD."""
    values = {**FAST, "strategy": "bald"}
    if "." in field:
        group, option = field.split(".")
        values[group] = {**values.get(group, {}), option: value}
    else:
        values[field] = value
    return values


@pytest.mark.parametrize("field, value, allowed", REFUSED, ids=[f"{f}={v!r}" for f, v, _ in REFUSED])
def test_each_out_of_range_value_is_refused_naming_its_field_value_and_what_is_allowed(field, value, allowed):
    with pytest.raises(ConfigError) as err:
        ExperimentConfig(**_values(field, value))
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}={value!r} is not valid; "), str(err.value)
    assert allowed in str(err.value)


def test_hidden_sizes_asking_for_tens_of_gigabytes_are_refused_before_anything_is_allocated():
    with pytest.raises(ConfigError) as err:
        ExperimentConfig(**_values("model_options.hidden", [200_000, 200_000]))
    assert err.value.field == "model_options"
    assert "over the ceiling of 8.0 GB" in str(err.value) and "model parameters" in str(err.value)


def test_the_memory_ceiling_is_checked_again_with_the_real_data(tmp_path, monkeypatch):
    """An upload's shape is known only once it is read: the run refuses it before any model is built."""
    rows = np.random.default_rng(0).normal(size=(60, 50))
    path = tmp_path / "wide.csv"
    path.write_text("\n".join([",".join(f"f{i}" for i in range(50)) + ",label"]
                              + [",".join(map(str, r)) + f",{i % 2}" for i, r in enumerate(rows)]))
    config = ExperimentConfig(**{**FAST, "dataset": "file", "dataset_options": {"path": str(path)},
                                 "model_options": {"hidden": [20_000, 2_000]}})
    monkeypatch.setenv("ALCORE_MEMORY_CEILING_GB", "0.5")
    with pytest.raises(ConfigError, match="over the ceiling of 0.5 GB") as err:
        Experiment(config, run_dir=tmp_path / "run")
    assert err.value.field == "model_options" and not (tmp_path / "run").exists()


def test_the_budget_error_names_the_field_to_change():
    with pytest.raises(ConfigError) as err:
        Experiment(make_fast_config(batch_size=50, cycles=10))
    assert err.value.field == "cycles" and str(err.value).startswith("cycles=10 is not valid; ")


@pytest.mark.parametrize("overrides, field", [
    ({"target_size": 500}, "target_size"),                          # moons: 160 points outside the test set
    ({"target_size": 160}, "test_size"),                            # nothing left for the pool
    ({"target_size": 5, "target_classes": [7]}, "target_classes"),  # moons has classes 0 and 1
])
def test_a_split_the_data_cannot_give_is_a_config_error_naming_the_field(tmp_path, overrides, field):
    config = make_fast_config(**overrides)
    with pytest.raises(ConfigError) as err:
        Experiment(config, run_dir=tmp_path / "run")
    assert err.value.field == field and err.value.value == getattr(config, field)
    assert str(err.value).startswith(f"{field}={getattr(config, field)!r} is not valid")
    assert not (tmp_path / "run").exists()


def test_every_message_has_the_one_format():
    assert describe("lr", float("inf"), "it must be a finite number") == "lr=inf is not valid; it must be a finite number"
    long = describe("name", "x" * 500, "short")
    assert len(long) < 200 and "(502 characters)" in long


# --- paths, files and text ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path, allowed", [("/nonexistent/x.csv", "no such file"), ("/etc/shadow", ".csv or .npz"),
                                           ("", "text of 1 to"), ("/tmp", ".csv or .npz"),
                                           ("bad\0name.csv", "text of 1 to")])
def test_a_data_path_that_does_not_exist_or_is_not_allowed_is_refused(path, allowed):
    with pytest.raises(ConfigError) as err:
        ExperimentConfig(**{**FAST, "dataset": "file", "dataset_options": {"path": path}})
    assert err.value.field == "dataset_options.path" and allowed in str(err.value)


def test_an_unreadable_data_file_is_refused(tmp_path):
    path = tmp_path / "locked.csv"
    path.write_text("a,label\n1,0\n")
    path.chmod(0)
    try:
        if path.open("rb"):  # running as root: permissions do not apply
            pytest.skip("permissions are not enforced for this user")
    except PermissionError:
        with pytest.raises(ConfigError, match="not readable"):
            ExperimentConfig(**{**FAST, "dataset": "file", "dataset_options": {"path": str(path)}})
    finally:
        path.chmod(0o644)


def test_a_json_config_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "config.json"
    path.write_bytes(b'\xef\xbb\xbf{"seed": 3, "strategy": "random"}')
    assert ExperimentConfig.from_json(path).seed == 3
    assert ExperimentConfig.from_json('\ufeff{"seed": 4, "strategy": "random"}').seed == 4
    assert main(["run", "--config", str(path), "--out", str(tmp_path / "r"), "--dataset", "nope"]) == 2


@pytest.mark.parametrize("content, message", [(b"\xff\xfe{\x00", "not UTF-8"), (b"{" * 100_000, "not valid JSON"),
                                              (b"[]", "JSON object")])
def test_config_files_that_are_not_json_objects_are_refused_naming_the_flag(tmp_path, capsys, content, message):
    path = tmp_path / "config.json"
    path.write_bytes(content)
    assert main(["run", "--config", str(path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --config") and message in err


@pytest.mark.parametrize("target", ["folder", "missing-parent"])
def test_a_config_path_that_is_a_folder_or_missing_exits_2(tmp_path, capsys, target):
    path = tmp_path if target == "folder" else tmp_path / "no" / "config.json"
    assert main(["run", "--config", str(path), "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.startswith("error: --config=")


def test_an_npz_whose_header_claims_a_huge_shape_is_refused_without_allocating_it():
    npz = load_bench("fuzz").npz_claiming((10**10, 10**5))
    with pytest.raises(DatasetError, match=r"claims shape \(10000000000, 100000\).*damaged"):
        data.load_bytes(npz, "huge.npz")


def test_labels_with_31_digits_are_class_names():
    csv = "a,b,label\n" + "\n".join(f"{i},{i * 2},{10**30 + i % 2}" for i in range(40))
    ds = data.load_bytes(csv.encode(), "ids.csv")
    assert ds.class_names == (str(10**30), str(10**30 + 1)) and ds.n_classes == 2


def test_a_header_of_a_million_columns_is_refused_before_parsing():
    header = ",".join(f"c{i}" for i in range(1_000_000)).encode()
    with pytest.raises(DatasetError, match="the header has 144961 or more columns, over the limit of 10000"):
        data.load_bytes(header + b"\n" + b"1," * 999_999 + b"1\n", "wide.csv")


def test_fewer_rows_than_the_fixed_embeddings_dimensions_run(tmp_path):
    """30 rows of 100 features: the cold start's PCA keeps as many components as the rows allow."""
    rows = np.random.default_rng(1).normal(size=(30, 100))
    path = tmp_path / "small.csv"
    path.write_text("\n".join([",".join(f"f{i}" for i in range(100)) + ",label"]
                              + [",".join(f"{v:.4f}" for v in r) + f",{i % 2}" for i, r in enumerate(rows)]))
    config = ExperimentConfig(**{**FAST, "dataset": "file", "dataset_options": {"path": str(path)},
                                 "strategy": "typiclust", "batch_size": 3, "cycles": 2})
    records = Experiment(config).run()
    assert [len(r.selected) for r in records] == [3, 3, 0]


# --- the other configs: sweep, gif ----------------------------------------------------------------------------------

@pytest.mark.parametrize("flags, field", [(["--strategies", ","], "--strategies"), (["--datasets", " "], "--datasets"),
                                          (["--seeds", ""], "seeds"), (["--seeds", "0-99999999"], "seeds"),
                                          (["--jobs", "0"], "--jobs"), (["--threads", "0"], "--threads")])
def test_empty_or_out_of_range_sweep_flags_are_refused_naming_the_flag(tmp_path, capsys, flags, field):
    assert main(["sweep", "--out", str(tmp_path / "s"), "--dry-run", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {field}=") and "is not valid;" in err
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("flags, field", [(["--max-points", "0"], "max_points"), (["--fps", "0"], "fps"),
                                          (["--fps", "nan"], "fps"), (["--width", "10"], "width"),
                                          (["--height", "100000"], "height")])
def test_gif_options_out_of_range_are_refused_before_any_work(tmp_path, capsys, flags, field):
    assert main(["gif", str(tmp_path / "no-run"), "--out", str(tmp_path / "x.gif"), *flags]) == 2
    assert capsys.readouterr().err.startswith(f"error: {field}=")
    assert not (tmp_path / "x.gif").exists()


def test_a_gif_too_big_for_memory_is_refused(monkeypatch):
    from alcore.viz.gif import check_gif_options

    monkeypatch.setenv("ALCORE_MEMORY_CEILING_GB", "1")
    with pytest.raises(ConfigError, match="frames of 4096 x 4096 pixels need"):
        check_gif_options(size=(4096, 4096), n_frames=100)


def test_the_documented_ceilings_are_the_ones_enforced():
    """docs/run-format.md#validation-ceilings lists these numbers."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "run-format.md").read_text()
    section = text.split("## Validation ceilings", 1)[1].split("\n## ", 1)[0]
    for value in (limits.MAX_EPOCHS, limits.MAX_CYCLES, limits.MAX_DISPLAY, limits.MAX_SEED, limits.MAX_LAYERS,
                  limits.MAX_UNITS, limits.MAX_GROUP_RUNS):
        assert f"{value:,}" in section, value
    assert f"{limits.DEFAULT_MEMORY_CEILING_GB:g} GiB" in section and "ALCORE_MEMORY_CEILING_GB" in section
