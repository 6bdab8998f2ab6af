"""SIGKILL at random points of whole runs, and files cut at random offsets, through bench/kill.py (its smoke run:
the bench itself kills 50 runs). Every finished cycle survives; resumed runs equal uninterrupted ones."""
from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO_ROOT


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_runs_killed_at_random_points_and_cut_at_random_offsets_lose_no_finished_cycle(subprocess_env):
    child = subprocess.run([sys.executable, "bench/kill.py", "--smoke", "--seed", "1"], cwd=REPO_ROOT,
                           env=subprocess_env, capture_output=True, text=True, timeout=1800)
    assert child.returncode == 0, child.stdout[-2000:] + child.stderr[-3000:]
    last = child.stdout.splitlines()[-1]
    assert last.startswith("0 finished cycles lost; identical to an uninterrupted run: 3/3 after the kills, 3/3 after "
                           "the cuts"), last
