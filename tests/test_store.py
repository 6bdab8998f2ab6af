"""Runs on disk: atomic files, complete cycles only, newest runs first, nothing pickled."""
from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from alcore.loop import Experiment
from alcore.records import ARRAY_FIELDS, CycleRecord
from alcore.run_lock import RunLock
from alcore.store import UNREADABLE, RunStore, atomic_write_bytes, atomic_write_json, list_runs, read_npz


def _strict_json(text: str):
    """json.loads that refuses NaN/Infinity tokens, which other JSON readers (browsers, pandas) reject."""
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")
    return json.loads(text, parse_constant=refuse)


def _leftover_temp_files(folder):
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture
def stored_run(fast_config, tmp_path):
    """A finished run on disk: 3 cycles + the final evaluation."""
    with Experiment(fast_config(strategy="entropy", cycles=3), run_dir=tmp_path / "run") as exp:
        exp.run()
    return exp


def test_each_cycle_is_one_json_and_one_npz_and_the_manifest_follows(stored_run):
    store = stored_run.store
    names = sorted(p.name for p in (store.path / "cycles").iterdir())
    assert names == [f"cycle_{i:05d}.{ext}" for i in range(4) for ext in ("json", "npz")]
    manifest = store.manifest()
    assert manifest["status"] == "complete" and manifest["n_cycles"] == store.n_cycles() == 4
    assert manifest["config"] == stored_run.config.to_dict()
    assert {"python", "numpy", "torch", "scikit-learn"} <= set(manifest["versions"])
    assert manifest["dataset"]["pool"] == len(stored_run.split.pool)
    assert _leftover_temp_files(store.path) == []


def test_manifest_says_running_until_the_final_cycle(fast_config, tmp_path):
    exp = Experiment(fast_config(cycles=2), run_dir=tmp_path / "run")
    assert exp.store.manifest()["status"] == "created"
    exp.step()
    assert exp.store.manifest()["status"] == "running" and exp.store.manifest()["n_cycles"] == 1
    exp.run()
    assert exp.store.manifest()["status"] == "complete"


def test_stored_records_read_back_equal_to_the_live_ones(stored_run, same_records):
    loaded = stored_run.store.load_records()
    same_records(loaded, stored_run.records)
    assert all(isinstance(r, CycleRecord) for r in loaded)
    assert np.isnan(loaded[0].target_loss)  # no target set: NaN survives the JSON round trip
    light = stored_run.store.load_records(arrays=False)
    assert [r.test_accuracy for r in light] == [r.test_accuracy for r in stored_run.records]
    assert all(len(r.selected) == 0 for r in light)
    rows = stored_run.store.summary_rows()
    assert [row["n_labeled"] for row in rows] == [0, 10, 20, 30]


def test_nothing_on_disk_needs_pickle(fast_config, tmp_path):
    """Every NPZ opens with allow_pickle=False (no object arrays) and every JSON is standard JSON."""
    exp = Experiment(fast_config(strategy="margin", cycles=2, warm_start=True, target_size=10), run_dir=tmp_path / "r")
    exp.run()
    npz = sorted(exp.store.path.rglob("*.npz"))
    assert len(npz) >= 4
    for path in npz:
        with np.load(path, allow_pickle=False) as z:
            for key in z.files:
                assert z[key].dtype != object, f"{path.name}:{key}"
    for path in sorted(exp.store.path.rglob("*.json")):
        _strict_json(path.read_text())
    assert set(read_npz(npz[0])) == set(ARRAY_FIELDS)


def test_inf_and_nan_scalars_are_stored_as_standard_json_and_read_back_as_floats(tmp_path):
    store = RunStore(tmp_path / "run")
    with RunLock(store.path):
        store.create({"x": 1})
        record = CycleRecord(cycle=0, n_labeled=0, strategy="random", test_loss=float("inf"),
                             diversity={"logdet": float("-inf"), "radius": float("inf"), "rank": float("nan")},
                             timings={"train": float("inf")})
        store.append(record)
    values = _strict_json((store.path / "cycles" / "cycle_00000.json").read_text())
    assert values["test_accuracy"] is None
    [back] = store.load_records()
    assert np.isnan(back.test_accuracy) and np.isnan(back.diversity["rank"])
    assert back.test_loss == float("inf")
    assert back.diversity["logdet"] == float("-inf") and back.diversity["radius"] == float("inf")
    assert back.timings["train"] == float("inf")
    assert all(isinstance(v, float) for v in back.diversity.values())


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "manifest.json"
    atomic_write_json(path, {"version": 1})

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        atomic_write_json(path, {"version": 2})
    assert json.loads(path.read_text()) == {"version": 1}
    assert _leftover_temp_files(tmp_path) == []


def test_atomic_write_replaces_the_whole_file(tmp_path):
    path = tmp_path / "deep" / "file.bin"
    atomic_write_bytes(path, b"a" * 1000)
    atomic_write_bytes(path, b"b")
    assert path.read_bytes() == b"b"
    assert sorted(p.name for p in path.parent.iterdir()) == ["file.bin"]


def test_creating_over_an_existing_run_is_refused(stored_run):
    with RunLock(stored_run.store.path), pytest.raises(FileExistsError, match="resume"):
        RunStore(stored_run.store.path).create({})


def test_writing_a_run_without_its_writer_lock_is_refused(stored_run):
    store = RunStore(stored_run.store.path)
    with pytest.raises(RuntimeError, match="writer lock"):
        store.update(status="running")
    with pytest.raises(RuntimeError, match="writer lock"):
        store.append(stored_run.records[0])


# --- what counts as a stored cycle ------------------------------------------------------------

def _cycle_files(store):
    return store.path / "cycles"


def test_a_stray_npz_without_its_json_is_not_a_cycle(stored_run):
    store = stored_run.store
    (_cycle_files(store) / "cycle_00003.json").unlink()  # killed between the NPZ and the JSON of cycle 3
    assert store.n_cycles() == 3
    assert [r.cycle for r in store.load_records()] == [0, 1, 2]


def test_a_json_without_its_npz_is_not_a_cycle(stored_run):
    store = stored_run.store
    (_cycle_files(store) / "cycle_00003.npz").unlink()
    assert [r.cycle for r in store.load_records()] == [0, 1, 2]


def test_temp_files_of_an_interrupted_write_are_ignored(stored_run):
    store = stored_run.store
    folder = _cycle_files(store)
    (folder / "cycle_00003.json").unlink()
    (folder / ".cycle_00003.json.ab12cd.tmp").write_text('{"cycle": 3, "n_lab')
    (folder / ".cycle_00004.npz.ef34gh.tmp").write_bytes(b"PK\x03\x04 half a zip")
    assert [r.cycle for r in store.load_records()] == [0, 1, 2]


def test_only_a_gap_free_prefix_of_cycles_counts(stored_run):
    store = stored_run.store
    for ext in ("json", "npz"):
        (_cycle_files(store) / f"cycle_00001.{ext}").unlink()
    assert store.n_cycles() == 1
    assert [r.cycle for r in store.load_records()] == [0]


# --- listing runs -------------------------------------------------------------------------------

def _make_run(root, name, **config):
    store = RunStore(root / name)
    with RunLock(store.path):
        store.create({"name": name, **config})
    return store


def test_list_runs_is_newest_first_with_the_folder(tmp_path):
    for name in ("first", "second", "third"):
        _make_run(tmp_path, name)
        time.sleep(0.01)
    runs = list_runs(tmp_path)
    assert [r["config"]["name"] for r in runs] == ["third", "second", "first"]
    assert runs[0]["path"] == str(tmp_path / "third") and runs[0]["run_id"] == "third"


def test_list_runs_of_a_missing_folder_is_empty(tmp_path):
    assert list_runs(tmp_path / "nothing here") == []


JUNK_MANIFESTS = [b'{"run_id": "x", "config": {', b"", b"\xff\xfe\x00garbage\x9c", b"[1, 2]", b"null",
                  b'{"config": [], "created": "yesterday"}', b'{"config": {}, "created": "x", "n_cycles": "many"}',
                  b'{"config": {"name": 3}, "created": 1e400, "status": 7}', b'{"run_id": 5}']


@pytest.mark.parametrize("content", JUNK_MANIFESTS, ids=["truncated", "empty", "binary", "array", "null",
                                                         "config-a-list", "junk-fields", "junk-values", "no-config"])
def test_list_runs_lists_a_junk_manifest_as_a_row_with_its_reason(tmp_path, content):
    _make_run(tmp_path, "good")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_bytes(content)
    (tmp_path / "not-a-run").mkdir()
    runs = {r["run_id"]: r for r in list_runs(tmp_path)}
    assert runs["good"]["config"]["name"] == "good" and runs["good"]["status"] == "created"
    assert set(runs) == {"good", "bad"}
    for r in runs.values():  # what a listing shows is always of the right type
        assert isinstance(r["created"], float | int) and isinstance(r["n_cycles"], int)
        assert isinstance(r["status"], str) and isinstance(r["config"], dict)
    if runs["bad"]["status"] == UNREADABLE:
        assert "manifest.json" in runs["bad"]["error"] and runs["bad"]["path"] == str(tmp_path / "bad")
