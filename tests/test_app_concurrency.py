"""Several browser tabs opening pages of a freshly started server at once: every page draws, nothing raises.

The sessions run in a fresh process (tests/concurrent_sessions.py) so that they race for the first imports of
torch, scikit-learn and the engine, and for the caches filled on first use (the strategy and model specs, with no
cache on disk)."""
from __future__ import annotations

import subprocess
import sys

from conftest import REPO_ROOT, make_digits_config

from alcore.loop import Experiment


def test_eight_sessions_opening_pages_at_once_raise_nothing(tmp_path, subprocess_env):
    with Experiment(make_digits_config(), run_dir=tmp_path / "runs" / "shared") as exp:
        exp.run()
    env = {**subprocess_env, "ALCORE_CACHE_DIR": str(tmp_path / "cold-cache"), "ALCORE_PREPARE": "0"}
    child = subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "concurrent_sessions.py"),
                            str(tmp_path / "runs"), "shared", "8"], cwd=REPO_ROOT, env=env, capture_output=True,
                           text=True, timeout=600)
    assert child.returncode == 0, child.stderr[-3000:]
    assert child.stdout.strip().splitlines()[-1] == "problems: 0", child.stdout[-3000:]
    assert "Traceback" not in child.stderr, child.stderr[-3000:]
