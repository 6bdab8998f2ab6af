"""Shared fixtures: small, fast experiment configs, and an exact comparison of cycle records.

Everything here is sized so that one acquisition cycle takes milliseconds on two CPU cores:
a few hundred 2-D points, a 16-unit MLP and a handful of epochs.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch

from alcore.config import ExperimentConfig
from alcore.records import ARRAY_FIELDS, CycleRecord

REPO_ROOT = Path(__file__).resolve().parents[1]

# Tiny models on a busy 2-core machine: a second intra-op thread only spins, and makes 200 Adam steps of a 64-128-10
# MLP about 10x slower (0.08 s -> 0.8 s CPU). One thread unless the caller chose; child processes get the same.
if "OMP_NUM_THREADS" not in os.environ:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)

#: The strategies every run can use without a target set, in the order the issue names them.
BASELINE_STRATEGIES = ("random", "entropy", "margin", "least_confidence")

FAST = dict(
    dataset="moons",
    dataset_options={"n_samples": 200},
    model="mlp",
    model_options={"hidden": [16], "dropout": 0.0},
    strategy="random",
    batch_size=10,
    cycles=3,
    epochs=5,
    train_batch_size=32,
    display_size=60,
    seed=0,
    device="cpu",
)


def make_fast_config(**overrides: Any) -> ExperimentConfig:
    """A moons run that finishes in well under a second; any field can be overridden."""
    return ExperimentConfig(**{**FAST, **overrides})


def make_digits_config(**overrides: Any) -> ExperimentConfig:
    """Digits (8x8 images, 10 classes) with a small MLP and few epochs."""
    values = {**FAST, "dataset": "digits", "dataset_options": {}, "model_options": {"hidden": [32]},
              "batch_size": 20, "cycles": 2, "epochs": 10, "display_size": 200}
    return ExperimentConfig(**{**values, **overrides})


@pytest.fixture
def fast_config() -> Callable[..., ExperimentConfig]:
    return make_fast_config


@pytest.fixture
def digits_config() -> Callable[..., ExperimentConfig]:
    return make_digits_config


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for ``python -m alcore`` in a child process: the repo importable, output unbuffered."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def load_bench(name: str):
    """The module ``bench/<name>.py`` (benches are scripts, not a package)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO_ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# --- comparing records ------------------------------------------------------------------------

#: Scalars that must match exactly between two runs of the same config and seed (timings never do).
COMPARED_SCALARS = ("cycle", "n_labeled", "strategy", "fallback_reason", "is_final", "test_loss", "test_accuracy",
                    "test_macro_f1", "target_loss", "target_accuracy", "test_r2", "test_mse", "test_mae", "diversity")


def _same_scalar(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_scalar(a[k], b[k]) for k in a)
    return a == b


def assert_same_records(got: list[CycleRecord], want: list[CycleRecord]) -> None:
    """Bit-for-bit equality of everything a run decides: selections, utilities, metrics, losses, display arrays."""
    assert [r.cycle for r in got] == [r.cycle for r in want]
    for g, w in zip(got, want):
        for name in COMPARED_SCALARS:
            assert _same_scalar(getattr(g, name), getattr(w, name)), (
                f"cycle {w.cycle}: {name} differs: {getattr(g, name)!r} != {getattr(w, name)!r}")
        for name in ARRAY_FIELDS:
            ga, wa = np.asarray(getattr(g, name)), np.asarray(getattr(w, name))
            assert ga.shape == wa.shape, f"cycle {w.cycle}: {name} shape {ga.shape} != {wa.shape}"
            assert np.array_equal(ga, wa, equal_nan=ga.dtype.kind == "f"), f"cycle {w.cycle}: {name} differs"


@pytest.fixture
def same_records() -> Callable[[list[CycleRecord], list[CycleRecord]], None]:
    return assert_same_records


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private runs folder for app tests, with buttons that wait for their background job (ALCORE_SYNC)."""
    root = tmp_path / "runs"
    monkeypatch.setenv("ALCORE_RUNS_DIR", str(root))
    monkeypatch.setenv("ALCORE_SYNC", "1")
    return root


@pytest.fixture(autouse=True)
def _keep_main_module():
    """Streamlit's script runner (AppTest) installs the page it ran as ``sys.modules['__main__']``; a later test
    that starts processes with the 'spawn' method (joblib fallbacks, Dask nannies) would re-run that page in every
    child. Put pytest's own ``__main__`` back after each test."""
    import sys

    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


def pool_state(X, labeled=(), y=None, n_classes: int = 3, model=None, seed: int = 0):
    """A PoolState over rows X (all of them pool except ``labeled``), labels cycling through the classes, an
    untrained logistic regression unless ``model`` is given: the fixture of the embedding-based strategies."""
    from alcore.models import LogReg
    from alcore.strategies import PoolState

    X = torch.as_tensor(np.asarray(X), dtype=torch.float32)
    n = len(X)
    labeled = np.asarray(labeled, dtype=np.int64)
    y = np.arange(n) % n_classes if y is None else np.asarray(y)
    return PoolState(X=X, pool_idx=np.setdiff1d(np.arange(n), labeled), labeled_idx=labeled, labeled_y=y[labeled],
                     target_idx=np.zeros(0, np.int64), target_y=np.zeros(0, np.int64), n_classes=n_classes,
                     model=model if model is not None else LogReg(X.shape[1], n_classes), seed=seed)
