"""Kill runs at random points and cut their files at random offsets; resumed runs must lose nothing.

    python bench/kill.py                 # 50 runs, each killed twice with SIGKILL, then one file of each cut (minutes)
    python bench/kill.py --smoke         # 3 runs (--runs 3): the slow test's smoke
    python bench/kill.py --seed 4        # another draw (seeded: a failure is replayed exactly)

Each run is ``python -m alcore run`` in a child process on a small config (moons or digits; random, entropy,
margin, BADGE or BALD; dropout, warm starts), killed with ``SIGKILL`` at a random moment: after a random number of
stored cycles plus a random fraction of a cycle, so that kills land between writes and in the middle of them. The
kill is repeated on the resumed child (``--resume``), then the run is resumed here to its end. Then one of its files
(a cycle's JSON or NPZ, the manifest, or with warm starts a cycle's weights) is cut at a random byte offset, and the
run is resumed again.

Printed on the last line, the targets: 0 finished cycles lost (every cycle whose JSON existed when its writer was
killed is loaded as it was by the resume, never computed again), and every resumed run, after the kills and after
the cut, identical record for record to the same config run without interruption (the baseline, computed here).
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from alcore.config import ExperimentConfig  # noqa: E402
from alcore.loop import Experiment  # noqa: E402
from alcore.records import ARRAY_FIELDS  # noqa: E402
from alcore.store import CYCLES, MANIFEST, WARM_STATE, RunStore  # noqa: E402

SCALARS = ("cycle", "n_labeled", "strategy", "fallback_reason", "is_final", "test_loss", "test_accuracy",
           "test_macro_f1", "target_loss", "target_accuracy", "diversity")
START_S = 300.0  # a child that stores no cycle in this long is a failure of the bench itself


def draw_config(rng: np.random.Generator, i: int) -> ExperimentConfig:
    strategy = ["random", "entropy", "margin", "badge", "bald"][i % 5]
    digits = rng.random() < 0.3
    return ExperimentConfig(
        dataset="digits" if digits else "moons", dataset_options={} if digits else {"n_samples": 300},
        model="mlp", model_options={"hidden": [16], "dropout": float(rng.choice([0.0, 0.2]))},
        strategy=strategy, batch_size=10, cycles=int(rng.integers(3, 7)), epochs=int(rng.integers(3, 12)),
        initial_labels=int(rng.choice([0, 10])), warm_start=bool(rng.random() < 0.3), display_size=60,
        train_batch_size=32, seed=int(rng.integers(0, 1000)), device="cpu")


def same(got, want) -> bool:
    if [r.cycle for r in got] != [r.cycle for r in want]:
        return False
    for g, w in zip(got, want):
        for name in SCALARS:
            a, b = getattr(g, name), getattr(w, name)
            if not (a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))):
                if not (isinstance(a, dict) and a.keys() == b.keys() and all(
                        a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)):
                    return False
        for name in ARRAY_FIELDS:
            ga, wa = np.asarray(getattr(g, name)), np.asarray(getattr(w, name))
            if ga.shape != wa.shape or not np.array_equal(ga, wa, equal_nan=ga.dtype.kind == "f"):
                return False
    return True


def kill_child(cmd: list[str], run_dir: Path, stored_before: int, total: int, rng: np.random.Generator,
               cycle_s: float, env: dict) -> tuple[int, bool]:
    """Start ``cmd``, SIGKILL it at a random point; (cycles stored at the kill, whether it was still running)."""
    target = int(rng.integers(stored_before, total))  # kill after this many stored cycles ...
    extra = float(rng.uniform(0, 1.5 * cycle_s))      # ... and this much more time
    child = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             start_new_session=True)
    deadline = time.monotonic() + START_S
    while child.poll() is None and RunStore(run_dir).n_cycles() < target and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(extra)
    alive = child.poll() is None
    if alive:
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    return RunStore(run_dir).n_cycles(), alive


def cut_a_file(run_dir: Path, config: ExperimentConfig, rng: np.random.Generator) -> str:
    """Cut one of the run's files at a random offset; its kind."""
    n = RunStore(run_dir).n_cycles()
    kinds = ["cycle json", "cycle npz", "manifest"] + (["weights"] * config.warm_start)
    kind = kinds[int(rng.integers(len(kinds)))]
    cycle = int(rng.integers(0, n))
    path = {"cycle json": run_dir / CYCLES / f"cycle_{cycle:05d}.json",
            "cycle npz": run_dir / CYCLES / f"cycle_{cycle:05d}.npz",
            "manifest": run_dir / MANIFEST, "weights": run_dir / f"{WARM_STATE}_{cycle:05d}.npz"}[kind]
    raw = path.read_bytes()
    path.write_bytes(raw[:int(rng.integers(0, len(raw)))])
    return kind


def finish(run_dir: Path, reference, failures: list[str], when: str) -> bool:
    """Resume the run to its end; whether its records equal the uninterrupted ``reference`` (else a failure)."""
    with Experiment.resume(run_dir) as exp:
        exp.run()
    ok = same(RunStore(run_dir).load_records(), reference)
    if not ok:
        failures.append(f"{when}, the records differ from the uninterrupted run")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--kills", type=int, default=2, help="SIGKILLs per run before it is resumed to its end")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="3 runs (as --runs 3), like fuzz.py --smoke")
    args = parser.parse_args(argv)
    if args.smoke:
        args.runs = 3
    rng = np.random.default_rng(args.seed)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    env.setdefault("OMP_NUM_THREADS", "1")
    started = time.perf_counter()
    kills = mid_run = finished = lost = identical = cut_identical = 0
    cuts: dict[str, int] = {}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="alcore-kill-") as tmp:
        for i in range(args.runs):
            config = draw_config(rng, i)
            t = time.perf_counter()
            reference = Experiment(config).run()
            cycle_s = (time.perf_counter() - t) / len(reference)
            run_dir, config_path = Path(tmp) / f"run{i}", Path(tmp) / f"run{i}.json"
            config.to_json(config_path)
            stored, total = 0, config.cycles + 1
            for k in range(args.kills):
                if stored >= total:
                    break
                cmd = [sys.executable, "-m", "alcore", "run", "--out", str(run_dir)]
                cmd += ["--resume"] if RunStore(run_dir).exists() else ["--config", str(config_path)]
                at_kill, alive = kill_child(cmd, run_dir, stored, total, rng, cycle_s, env)
                kills += 1
                mid_run += alive
                if RunStore(run_dir).exists():
                    with Experiment.resume(run_dir) as probe:  # what a resume finds: every finished cycle, as it was
                        if probe.cycle < at_kill or probe.repaired is not None:
                            lost += at_kill - probe.cycle
                            failures.append(f"run {i}, kill {k}: {at_kill} cycles stored, the resume found "
                                            f"{probe.cycle} ({probe.repaired})")
                    finished += at_kill
                stored = at_kill
            if not RunStore(run_dir).exists():  # killed before its manifest: a new run, as the user would
                shutil.rmtree(run_dir, ignore_errors=True)
                with Experiment(config, run_dir=run_dir) as exp:
                    exp.run()
            identical += finish(run_dir, reference, failures, f"run {i}: after the kills")
            kind = cut_a_file(run_dir, config, rng)
            cuts[kind] = cuts.get(kind, 0) + 1
            cut_identical += finish(run_dir, reference, failures, f"run {i}: after a cut {kind}")
    for failure in failures:
        print(failure, file=sys.stderr)
    cut_kinds = ", ".join(f"{v} {k}" for k, v in sorted(cuts.items()))
    print(f"kill (seed {args.seed}): {args.runs} runs, {kills} SIGKILLs ({mid_run} while running), {finished} finished "
          f"cycles at the kills; cuts: {cut_kinds}; {time.perf_counter() - started:.0f} s")
    ok = lost == 0 and identical == cut_identical == args.runs
    print(f"{lost} finished cycles lost; identical to an uninterrupted run: {identical}/{args.runs} after the kills, "
          f"{cut_identical}/{args.runs} after the cuts: {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
