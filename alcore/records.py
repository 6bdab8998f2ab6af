"""What one acquisition cycle leaves behind: the record the app, the map and the store all read."""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

#: Array-valued fields, stored in NPZ; every other field is a JSON scalar/dict/list.
ARRAY_FIELDS = (
    "labeled_idx",
    "selected",
    "selected_labels",
    "pool_idx",
    "utilities",
    "train_loss",
    "display_idx",
    "display_probs",
    "display_a",
    "display_h",
    "selected_a",
    "selected_h",
)


@dataclass
class CycleRecord:
    """One cycle: the model trained on ``labeled_idx`` is evaluated, then ``selected`` is chosen.

    Index arrays are global indices into the dataset. ``utilities`` is aligned with ``pool_idx``
    (the candidates at selection time). ``display_*`` hold, for the run's fixed display subset,
    the model's outputs (``display_probs``: class probabilities, or a regression model's standardised
    prediction, shape (n, 1)) and the last-layer gradient factors a (p - onehot(argmax p), or the
    predictive spread σ of a regression model) and h = features(x), from which the map is computed
    without the n x C*d matrix. The metrics are the run's task's (``alcore.task``); the other task's
    are NaN. ``selected_labels`` are raw values: class codes, or the target in its own units.
    The final record of a run (``is_final``) only evaluates; it selects nothing. A record with ``diverged`` is the
    final one of a run whose training diverged: it holds no metrics and no display data (its model is of no use),
    and ``diagnostics["diverged"]`` says what happened and what to change.
    """

    cycle: int
    n_labeled: int
    strategy: str
    fallback_reason: str | None = None
    is_final: bool = False
    diverged: bool = False
    batch_size: int = 0
    test_loss: float = float("nan")
    test_accuracy: float = float("nan")
    test_macro_f1: float = float("nan")
    target_loss: float = float("nan")
    target_accuracy: float = float("nan")
    test_r2: float = float("nan")
    test_mse: float = float("nan")
    test_mae: float = float("nan")
    timings: dict[str, float] = field(default_factory=dict)
    diversity: dict[str, float] = field(default_factory=dict)
    diagnostics: dict = field(default_factory=dict)
    labeled_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    selected: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    selected_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pool_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    utilities: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    train_loss: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    display_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    display_probs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    display_a: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    display_h: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    selected_a: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    selected_h: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    def scalars(self) -> dict:
        """The JSON part of the record."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ARRAY_FIELDS}

    def arrays(self) -> dict[str, np.ndarray]:
        """The NPZ part of the record."""
        return {name: np.asarray(getattr(self, name)) for name in ARRAY_FIELDS}

    def summary(self) -> dict:
        """One flat row for tables and learning curves (no arrays)."""
        row = {k: v for k, v in self.scalars().items() if k not in ("timings", "diversity", "diagnostics")}
        row.update({f"div_{k}": v for k, v in self.diversity.items()})
        row.update({f"time_{k}": v for k, v in self.timings.items()})
        return row
