"""The README's instructions work as written for a newcomer: its Python snippet runs from another folder with the
repository on the module path, as the README says."""
from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def python_snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    snippet = next(b for b in blocks if "Experiment(" in b)
    return snippet


def test_the_readme_says_how_to_run_the_snippet_outside_the_repository_and_what_the_browser_tests_need():
    assert "PYTHONPATH=/path/to/the/repository python" in README
    assert "apt-get install -y chromium" in README and "/usr/bin/chromium" in README


def test_the_python_snippet_runs_from_another_folder_with_the_repository_on_the_module_path(tmp_path):
    snippet = python_snippet().replace("cycles=10", "cycles=1")  # the same code, one cycle to keep the test short
    assert "cycles=1," in snippet
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    child = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=300)
    assert child.returncode == 0, child.stderr[-2000:]
    lines = child.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("0 0 ") and "cold_start" in lines[0], child.stdout
    assert (tmp_path / "runs" / "badge-demo" / "manifest.json").exists(), "the run lands beside the script"
