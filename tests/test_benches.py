"""Every bench runs in its smoke mode (tiny sizes, seconds), so that a refactor cannot break a bench silently.

Nothing here is timed: a bench's figures are only meaningful as the ratios it prints against its own baselines.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"

# bench -> (smoke arguments, a line the bench prints only once it has measured everything)
SMOKE = {
    "badge.py": (["--smoke"], "BADGE select, n=20,000"),
    "cycle.py": (["--smoke"], "target: one digits cycle"),
    "diagnose_stories.py": (["--seeds", "0"], "the pool "),
    "grads.py": (["--smoke"], "last-layer path / closed form"),
    "projection.py": (["--smoke"], "gif: 2 frames"),
    "scale.py": (["--smoke"], "badge on cpu"),
    "targeted.py": (["--seeds", "0", "--cycles", "1"], "picks from A"),
    "cuda_check.py": (["--smoke"], "CUDA"),
    "selection_kernels.py": (["--smoke"], "less"),
}
BROWSER = {"app_latency.py": (["--smoke"], "engine cycle + frame")}
# bench -> the test that runs its smoke mode elsewhere
ELSEWHERE = {
    "study_targeted.py": "tests/test_targeted.py::test_the_study_command_prints_its_table_from_scratch",
    "fuzz.py": "tests/test_fuzz.py::test_the_fuzz_bench_smoke_prints_zero_tracebacks_and_zero_unnamed_messages",
    "kill.py": "tests/test_kill.py::test_runs_killed_at_random_points_and_cut_at_random_offsets_lose_no_finished_cycle",
}


def test_every_bench_has_a_smoke_run():
    assert sorted(p.name for p in BENCH.glob("*.py") if p.name != "timing.py") == sorted(
        {**SMOKE, **BROWSER, **ELSEWHERE})
    for name, test in ELSEWHERE.items():
        path, _, function = test.partition("::")
        assert f"def {function}(" in (REPO / path).read_text() and name in (REPO / path).read_text(), test


def _run(name: str, args: list[str], expected: str, timeout: int = 600) -> None:
    proc = subprocess.run([sys.executable, str(BENCH / name), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{name} {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert expected in proc.stdout, f"{name} did not print {expected!r}:\n{proc.stdout[-3000:]}"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMOKE))
def test_bench_smoke_run_completes(name):
    _run(name, *SMOKE[name])


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("name", sorted(BROWSER))
def test_browser_bench_smoke_run_completes(name):
    _run(name, *BROWSER[name])


def test_cuda_check_without_a_gpu_says_so_and_exits_cleanly():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, str(BENCH / "cuda_check.py"), "--smoke"], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("No CUDA GPU here:") and "Nothing was checked" in proc.stdout
    assert proc.stderr.strip() == ""
