"""Benchmark: one acquisition cycle on a large synthetic pool, phase by phase, with peak memory.

    python bench/scale.py                      # 200,000-point pool on the CPU: badge and entropy
    python bench/scale.py --n-pool 50000       # a smaller pool (smoke run)
    python bench/scale.py --cuda               # adds one BADGE cycle on a 1,000,000-point pool on a CUDA GPU
                                               # (automatic when one is present; --no-cuda to skip)

Each (strategy, device) runs in a fresh subprocess, so each peak RSS (``getrusage`` ``ru_maxrss``) is its own.
The pool is ``blobs`` with 32 features and 10 classes, ``n_pool / 0.8`` samples (20% go to the test set); the
cycle starts from 200 random labels, so the model-based strategies run their real selection, not a cold start.

Printed per run: the seconds of each phase of ``Experiment.step`` (``record.timings``: train, evaluate, select,
diversity, display, store) plus data generation and setup, and the peak RSS reached inside each phase (sampled
from /proc every 2 ms by wrapping the engine functions that run it; Linux only) next to the process's overall
peak. Then, per strategy, the selection's peak above the set-up process in units of the pool's features (n x (10 + 128)
float32) and its time and process peak against entropy's cycle on the same pool in the same run (the baseline).
Targets: peak RSS < 4 GB on the CPU at 200,000 points; at 1,000,000 points (``--n-pool 1000000``) a lean BADGE
cycle (issue 16: it peaked at 4.4 GB and selected in 45 s).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGET_PEAK_MB = 4096
PHASES = ("generate", "setup", "train", "evaluate", "select", "factors", "fixed_space", "diversity", "display",
          "store")


# --- inside the child ---------------------------------------------------------------------------------------------

class RssSampler:
    """Peak resident memory per named phase: a thread reads /proc/self/statm every ``interval`` seconds."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.stack: list[str] = ["other"]
        self.peaks: dict[str, float] = {}
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.available = Path("/proc/self/statm").exists()

    def rss_mb(self) -> float:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * self._page / 2**20

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(self.interval)

    def sample(self) -> None:
        rss, phase = self.rss_mb(), self.stack[-1]
        if rss > self.peaks.get(phase, 0.0):
            self.peaks[phase] = rss

    def start(self) -> None:
        if self.available:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def wrap(self, owner, name: str, phase: str) -> None:
        """Replace ``owner.name`` by a wrapper that marks ``phase`` while it runs (the engine is not edited)."""
        fn = getattr(owner, name)
        sampler = self

        def wrapped(*args, **kwargs):
            sampler.stack.append(phase)
            if sampler.available:
                sampler.sample()
            try:
                return fn(*args, **kwargs)
            finally:
                if sampler.available:
                    sampler.sample()
                sampler.stack.pop()

        setattr(owner, name, wrapped)


def child(strategy: str, n_pool: int, device: str, batch_size: int, initial_labels: int, epochs: int,
          threads: int | None = None) -> dict:
    import torch

    if threads:
        torch.set_num_threads(threads)

    from alcore import data, loop, metrics, store, task
    from alcore.config import ExperimentConfig

    sampler = RssSampler()
    sampler.start()
    n_samples = int(round(n_pool / 0.8))
    config = ExperimentConfig(dataset="blobs", dataset_options={"n_samples": n_samples, "n_features": 32,
                                                                "n_classes": 10},
                              strategy=strategy, batch_size=batch_size, cycles=1, initial_labels=initial_labels,
                              epochs=epochs, device=device, seed=0)
    timings: dict[str, float] = {}
    rss_after: dict[str, float] = {}

    def ru_max_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux

    sampler.stack.append("generate")
    t = time.perf_counter()
    dataset = data.load(config.dataset, **config.dataset_options)
    timings["generate"] = time.perf_counter() - t
    sampler.stack.pop()
    rss_after["generate"] = ru_max_mb()

    # the phases of Experiment.step, marked by wrapping the functions that run them
    sampler.wrap(loop.Experiment, "train_cycle", "train")
    sampler.wrap(task.Task, "evaluate", "evaluate")
    sampler.wrap(metrics, "batch_diversity", "diversity")
    sampler.wrap(loop.Experiment, "fixed_space", "fixed_space")
    sampler.wrap(loop.Experiment, "_factors", "factors")
    sampler.wrap(store.RunStore, "append", "store")

    with tempfile.TemporaryDirectory() as tmp:
        sampler.stack.append("setup")
        t = time.perf_counter()
        exp = loop.Experiment(config, run_dir=Path(tmp) / "run", dataset=dataset)
        timings["setup"] = time.perf_counter() - t
        sampler.stack.pop()
        rss_after["setup"] = ru_max_mb()
        sampler.wrap(exp.strategy, "select", "select")
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        record = exp.step()
        rss_after["step"] = ru_max_mb()
    sampler.stop()
    timings.update(record.timings)
    out = {"strategy": strategy, "device": str(exp.device), "n_pool": int(len(exp.split.pool)),
           "n_samples": n_samples, "n_labeled": int(record.n_labeled), "batch": int(len(record.selected)),
           "fallback_reason": record.fallback_reason, "test_accuracy": float(record.test_accuracy),
           "timings": timings, "phase_peak_rss_mb": sampler.peaks, "peak_rss_after_mb": rss_after,
           "peak_rss_mb": ru_max_mb(), "torch_threads": torch.get_num_threads()}
    if device == "cuda":
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
        out["gpu"] = torch.cuda.get_device_name()
    return out


# --- the parent ---------------------------------------------------------------------------------------------------

def run_child(strategy: str, n_pool: int, device: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", strategy, str(n_pool), device, "--batch-size", str(args.batch_size),
           "--initial-labels", str(args.initial_labels), "--epochs", str(args.epochs)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"strategy": strategy, "device": device, "n_pool": n_pool,
                "error": (proc.stderr.strip().splitlines() or ["no output"])[-1], "stderr": proc.stderr[-3000:]}
    return json.loads(lines[-1])


def print_result(r: dict) -> None:
    head = f"{r['strategy']:>8} on {r['device']:<5} pool={r['n_pool']:>9,}"
    if "error" in r:
        print(f"{head}  FAILED: {r['error']}")
        print(r.get("stderr", ""))
        return
    peak = r["peak_rss_mb"]
    verdict = "" if r["device"].startswith("cuda") else (
        f"  ({'under' if peak < TARGET_PEAK_MB else 'OVER'} the {TARGET_PEAK_MB / 1024:.0f} GB target)")
    print(f"{head}  labels={r['n_labeled']} batch={r['batch']} test_acc={r['test_accuracy']:.4f} "
          f"fallback={r['fallback_reason']}  peak RSS {peak:,.0f} MB{verdict}")
    if "cuda_peak_mb" in r:
        print(f"{'':>10}GPU {r['gpu']}: peak allocated {r['cuda_peak_mb']:,.0f} MB")
    total = sum(v for k, v in r["timings"].items())
    print(f"{'':>10}{'phase':<12}{'seconds':>10}{'peak RSS MB':>14}")
    for phase in PHASES + tuple(k for k in r["timings"] if k not in PHASES):
        if phase in r["timings"] or phase in r["phase_peak_rss_mb"]:
            sec = r["timings"].get(phase)
            mb = r["phase_peak_rss_mb"].get(phase)
            print(f"{'':>10}{phase:<12}{'' if sec is None else f'{sec:10.3f}':>10}"
                  f"{'' if mb is None else f'{mb:14,.0f}':>14}")
    print(f"{'':>10}{'total':<12}{total:10.3f}")


def compare_to_entropy(results: list[dict]) -> None:
    """Each CPU strategy against entropy's cycle on the same pool in this run (the baseline: it needs the model's
    probabilities and nothing else), and the selection's peak above the data, in units of the pool's features."""
    base = next((r for r in results if r.get("strategy") == "entropy" and r.get("device") == "cpu"
                 and "error" not in r), None)
    for r in results:
        if "error" in r or r.get("device") != "cpu":
            continue
        features_mb = r["n_pool"] * (10 + 128) * 4 / 2**20  # blobs: 10 classes; the MLP's last hidden layer: 128
        above = r["phase_peak_rss_mb"].get("select", float("nan")) - r["peak_rss_after_mb"]["setup"]
        line = (f"{r['strategy']:>8}: select {r['timings']['select']:.2f} s, its peak {above:,.0f} MB above the set-up "
                f"process = {above / features_mb:.2f}x the pool's features ({features_mb:,.0f} MB)")
        if base is not None and r is not base:
            ratio = r["timings"]["select"] / base["timings"]["select"]
            line += (f"; against entropy's cycle in this run: select {ratio:.1f}x"
                     f", process peak {r['peak_rss_mb'] / base['peak_rss_mb']:.2f}x")
        print(line)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-pool", type=int, default=200_000, dest="n_pool")
    p.add_argument("--strategies", default="badge,entropy")
    p.add_argument("--batch-size", type=int, default=100, dest="batch_size")
    p.add_argument("--initial-labels", type=int, default=200, dest="initial_labels")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads in each run (default: torch's own, one per core)")
    p.add_argument("--cuda", action="store_true", default=None, help="add the 1,000,000-point BADGE cycle on CUDA")
    p.add_argument("--no-cuda", action="store_false", dest="cuda")
    p.add_argument("--cuda-pool", type=int, default=1_000_000, dest="cuda_pool")
    p.add_argument("--cpu", action=argparse.BooleanOptionalAction, default=True,
                   help="run the CPU measurements (--no-cpu: only the CUDA one)")
    p.add_argument("--json", help="also write every result to this JSON file")
    p.add_argument("--smoke", action="store_true", help="a 3,000-point pool, 2 epochs, no CUDA: a few seconds")
    p.add_argument("--child", nargs=3, metavar=("STRATEGY", "N_POOL", "DEVICE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.smoke:
        args.n_pool, args.epochs, args.cuda = 3000, 2, False
    if args.child:
        strategy, n_pool, device = args.child
        print(json.dumps(child(strategy, int(n_pool), device, args.batch_size, args.initial_labels, args.epochs,
                               args.threads)))
        return 0

    import torch

    cuda = torch.cuda.is_available() if args.cuda is None else args.cuda
    if cuda and not torch.cuda.is_available():
        print("--cuda: no CUDA GPU here; skipping the 1,000,000-point cycle")
        cuda = False
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"one cycle, {args.initial_labels} initial labels, batch {args.batch_size}, {args.epochs} epochs; "
          f"{os.cpu_count()} CPUs (load average {load:.1f}), torch {torch.__version__}, "
          f"{args.threads or torch.get_num_threads()} torch thread(s)")
    results = []
    if args.cpu:
        for strategy in [s.strip() for s in args.strategies.split(",") if s.strip()]:
            results.append(run_child(strategy, args.n_pool, "cpu", args))
            print_result(results[-1])
    if cuda:
        results.append(run_child("badge", args.cuda_pool, "cuda", args))
        print_result(results[-1])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    compare_to_entropy(results)
    cpu_peaks = [r["peak_rss_mb"] for r in results if r.get("device") == "cpu" and "peak_rss_mb" in r]
    failed = any("error" in r for r in results)
    return 1 if failed or any(p >= TARGET_PEAK_MB for p in cpu_peaks) else 0


if __name__ == "__main__":
    sys.exit(main())
