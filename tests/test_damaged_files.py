"""Damaged files (docs/run-format.md#damaged-files): each kind of file a run writes, cut at random byte offsets, is
found on reading, reported once, and computed again; the repaired run equals one that was never damaged."""
from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
from conftest import make_fast_config

from alcore import export
from alcore.cli import main
from alcore.compare import GROUP_MANIFEST, create_comparison, list_comparisons, load_comparison
from alcore.loop import Experiment
from alcore.store import CONFIG, DAMAGED, MANIFEST, UNREADABLE, ManifestError, RunStore, list_runs
from alcore.sweep import read_failures, write_failures

CUTS = np.random.default_rng(13)  # the offsets are random, and the same on every run of the suite
CYCLES = 3


def cut(path, fraction: float) -> int:
    """Truncate ``path`` at ``fraction`` of its size (never its full size); the offset."""
    data = path.read_bytes()
    offset = min(int(fraction * len(data)), len(data) - 1)
    path.write_bytes(data[:offset])
    return offset


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished run of each kind (cold start, warm start), and what an undamaged run computes."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name, values in {"plain": {}, "warm": {"warm_start": True}}.items():
        config = make_fast_config(cycles=CYCLES, strategy="entropy", initial_labels=4, **values)
        with Experiment(config, run_dir=root / name) as exp:
            exp.run()
        out[name] = (root / name, Experiment(config).run())
    return out


def damaged_copy(runs, kind, tmp_path):
    source, reference = runs[kind]
    target = tmp_path / kind
    shutil.copytree(source, target)
    return target, reference


FILES = {  # what to cut: (run kind, the path of cycle k's file)
    "cycle json": ("plain", lambda run, k: run / "cycles" / f"cycle_{k:05d}.json"),
    "cycle npz": ("plain", lambda run, k: run / "cycles" / f"cycle_{k:05d}.npz"),
    "weights npz": ("warm", lambda run, k: run / f"model_state_{k:05d}.npz"),
}
CASES = [(name, int(k), float(f)) for name in FILES for k, f in zip(CUTS.integers(0, CYCLES + 1, 3), CUTS.random(3))]


@pytest.mark.parametrize("name, cycle, fraction", CASES, ids=[f"{n}-cycle{k}-at{f:.2f}" for n, k, f in CASES])
def test_a_cut_cycle_file_is_found_and_resume_recomputes_the_run_exactly(runs, tmp_path, same_records, name, cycle,
                                                                         fraction, caplog):
    kind, file_of = FILES[name]
    run, reference = damaged_copy(runs, kind, tmp_path)
    offset = cut(file_of(run, cycle), fraction)
    store = RunStore(run)
    with caplog.at_level(logging.WARNING, logger="alcore.store"):
        records = store.load_records(warm_start=kind == "warm")
        store.load_records(warm_start=kind == "warm")
    assert [r.cycle for r in records] == list(range(cycle))
    assert store.damage.cycle == cycle and file_of(run, cycle).name in store.damage.file
    assert len([r for r in caplog.records if "damaged" in r.getMessage()]) == 1, f"cut at byte {offset}"

    with Experiment.resume(run) as resumed:
        assert resumed.repaired == store.damage and resumed.cycle == cycle
        resumed.run()
    same_records(RunStore(run).load_records(), reference)
    kept = list((run / DAMAGED).rglob(file_of(run, cycle).name))
    assert len(kept) == 1 and kept[0].stat().st_size == offset  # set aside, never deleted
    assert RunStore(run).manifest()["status"] == "complete" and RunStore(run).manifest()["repairs"]


@pytest.mark.parametrize("fraction", CUTS.random(3).round(3).tolist())
def test_a_cut_manifest_is_rebuilt_from_the_config_and_nothing_is_lost(runs, tmp_path, same_records, fraction):
    run, reference = damaged_copy(runs, "plain", tmp_path)
    # stop the run half-way, so the resume has cycles to compute
    for k in (2, 3):
        for ext in ("json", "npz"):
            (run / "cycles" / f"cycle_{k:05d}.{ext}").unlink()
    cut(run / MANIFEST, fraction)
    with pytest.raises(ManifestError, match="run plain: manifest.json cannot be read"):
        RunStore(run).manifest()
    [row] = list_runs(tmp_path)
    assert row["status"] == UNREADABLE and "manifest.json" in row["error"]
    with Experiment.resume(run) as resumed:
        assert resumed.cycle == 2
        resumed.run()
    same_records(RunStore(run).load_records(), reference)
    assert "rebuilt from config.json" in RunStore(run).manifest()["repairs"][0]["damage"]


def test_a_run_whose_manifest_and_config_are_both_cut_is_listed_and_refused_with_a_message(runs, tmp_path, capsys):
    run, _ = damaged_copy(runs, "plain", tmp_path)
    cut(run / MANIFEST, 0.5)
    cut(run / CONFIG, 0.5)
    [row] = list_runs(tmp_path)
    assert row["status"] == UNREADABLE
    assert main(["run", "--out", str(run), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "manifest.json is damaged and config.json cannot rebuild it" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def mapped(runs):
    """The plain run's map, laid out once (copies of the run carry it)."""
    return export.run_projection(runs["plain"][0])


@pytest.mark.parametrize("fraction", CUTS.random(2).round(3).tolist())
def test_a_cut_map_frame_is_computed_again_never_a_crash(runs, mapped, tmp_path, fraction):
    run, _ = damaged_copy(runs, "plain", tmp_path)
    before = mapped
    frame = sorted((run / "projection").rglob(f"cycle_{CYCLES:04d}.npz"))[0]
    cut(frame, fraction)
    after = export.run_projection(run)
    assert after.cycles == before.cycles
    for a, b in zip(after.frames, before.frames):  # laid out again from the frame before it: the same map
        np.testing.assert_allclose(a, b, atol=1e-5)
    with np.load(frame, allow_pickle=False) as z:  # written again, whole
        assert int(z["cycle"]) == CYCLES


def test_a_cut_group_manifest_is_an_error_naming_the_group_and_the_listing_skips_it(tmp_path):
    comparison = create_comparison(tmp_path, make_fast_config(), ["random", "entropy"], [0])
    cut(comparison.path / GROUP_MANIFEST, 0.4)
    with pytest.raises(ValueError, match=f"comparison {comparison.group_id}: compare.json cannot be read"):
        load_comparison(tmp_path, comparison.group_id)
    assert list_comparisons(tmp_path) == []


def test_a_cut_failures_file_reads_as_empty_and_is_written_whole_again(tmp_path):
    row = {"run_id": "r1", "status": "failed", "dataset": "moons", "strategy": "random", "seed": 0,
           "run_dir": str(tmp_path / "r1"), "error": "boom", "traceback": ""}
    write_failures(tmp_path, [row])
    cut(tmp_path / "failures.json", 0.5)
    assert read_failures(tmp_path) == {}
    write_failures(tmp_path, [{**row, "run_id": "r2"}])
    assert set(json.loads((tmp_path / "failures.json").read_text())["failures"]) == {"r2"}
