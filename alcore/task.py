"""The learning task of a run, classification or regression, as one concept (docs/tasks.md#tasks).

Whatever differs between the two is asked of the run's ``Task``, never decided by an ``if`` elsewhere: how many outputs
the model has, how labels are encoded for training, the loss and its gradient with respect to the outputs, what a
*hallucinated* label is for a pool point whose label is unknown (docs/tasks.md#hallucinated-labels-in-regression),
the metrics a cycle records, and which metric summarises a learning curve.

- ``Classification(n_classes)``: cross-entropy on class codes; the hallucinated label is the predicted class, so the
  last-layer gradient factor is ``a = p - e_argmax(p)`` (docs/methods.md#notation).
- ``Regression(mean, std)``: one output, the loss ``l = (f - y)² / 2`` on the target standardised with the pool's
  mean and standard deviation (so ``dl/df = f - y``); the hallucinated residual is the predictive spread ``σ(x)``
  (``alcore.uncertainty``), the typical size of ``f - y`` under the model's own predictive distribution.

Readers of stored runs (tables, curves, the report) need only the names: ``metric_names``, ``primary_metric`` and
``metric_label`` take a task name and import nothing heavy; torch is imported where a computation needs it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from alcore.data.errors import DatasetError

TASKS = ("classification", "regression")

#: Per-cycle record fields of each task, in display order; the first is the primary metric (higher is better).
METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("test_accuracy", "test_loss", "test_macro_f1", "target_loss", "target_accuracy"),
    "regression": ("test_r2", "test_loss", "test_mse", "test_mae", "target_loss"),
}
#: How figures and tables title each metric.
METRIC_LABELS = {"test_accuracy": "test accuracy", "test_loss": "test loss", "test_macro_f1": "test macro-F1",
                 "target_loss": "target loss", "target_accuracy": "target accuracy", "test_r2": "test R²",
                 "test_mse": "test MSE", "test_mae": "test MAE"}
#: Metrics where lower is better (every other one: higher is better).
LOWER_IS_BETTER = ("test_loss", "target_loss", "test_mse", "test_mae")
#: Metrics whose values lie in [0, 1] (their bands are clipped there).
FRACTION_METRICS = ("test_accuracy", "test_macro_f1", "target_accuracy")
#: Pseudo-classes of a regression target where an algorithm needs classes (ProbCover's purity rule): as many as the
#: quantile bins that stratify its splits.
REGRESSION_CLUSTERS = 10
#: The ridge of the last layer's Bayesian linear regression that gives σ(x) (``alcore.uncertainty``).
SPREAD_RIDGE = 1.0


def check_task(task: Any, allow_auto: bool = True) -> str:
    """``task`` if it is one of ``TASKS`` (or "auto"), else ValueError naming the choices."""
    allowed = ("auto", *TASKS) if allow_auto else TASKS
    if not isinstance(task, str) or task not in allowed:
        raise ValueError(f"task={task!r} is not valid; choose one of {list(allowed)}")
    return task


def metric_names(task: str) -> tuple[str, ...]:
    """The per-cycle metrics of ``task``, primary first."""
    return METRICS[check_task(task, allow_auto=False)]


def primary_metric(task: str) -> str:
    """The metric that summarises a learning curve of ``task`` (AULC, labels to X%): accuracy, or R² for regression
    (docs/tasks.md#regression says why)."""
    return metric_names(task)[0]


def foreign_metrics(task: str) -> tuple[str, ...]:
    """The metrics of the other tasks: always NaN in a record of ``task``, so its tables leave them out."""
    own = set(metric_names(task))
    return tuple(m for names in METRICS.values() for m in names if m not in own)


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def task_of(info: Mapping[str, Any] | None) -> str:
    """The task name stored in a run's dataset description (``Experiment.dataset_info``); runs stored before tasks
    existed are classification."""
    return str((info or {}).get("task", {}).get("name", "classification")) if info else "classification"


class Task:
    """What the engine asks of a task; ``Classification`` and ``Regression`` answer."""

    name: str = ""
    n_outputs: int = 0
    #: The hallucinated factor needs the predictive spread σ(x) of each row (``alcore.uncertainty``).
    uses_spread: bool = False
    #: Labels are categories (colours per class on a map), not values on a continuous scale.
    categorical: bool = True

    @property
    def metric_names(self) -> tuple[str, ...]:
        return metric_names(self.name)

    @property
    def primary_metric(self) -> str:
        return primary_metric(self.name)

    def info(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    # labels
    def encode(self, y) -> np.ndarray:  # pragma: no cover - abstract
        """Raw dataset values as training labels (int64 codes, or the standardised float64 target)."""
        raise NotImplementedError

    def labels(self, y_encoded):
        """Encoded labels as the tensor the loss takes."""
        import torch

        return torch.as_tensor(np.asarray(y_encoded), dtype=self.label_dtype())

    def label_dtype(self):  # pragma: no cover - abstract
        raise NotImplementedError

    # losses and gradients w.r.t. the model's outputs z
    def loss(self, outputs, y, reduction: str = "mean"):  # pragma: no cover - abstract
        raise NotImplementedError

    def output_gradient(self, outputs, y):  # pragma: no cover - abstract
        """``dl/dz`` (n, n_outputs) for labels ``y`` (encoded): the factor ``a`` of the last-layer gradient
        ``a ⊗ h``."""
        raise NotImplementedError

    def hallucinated_factor(self, outputs, spread=None, probs=None):  # pragma: no cover - abstract
        """``dl/dz`` at the hallucinated label of rows whose label is unknown (n, n_outputs), float64. ``spread``:
        σ(x) per row where ``uses_spread``; ``probs``: class probabilities already computed from ``outputs``."""
        raise NotImplementedError

    def candidate_factors(self, outputs, spread=None):  # pragma: no cover - abstract
        """``dl/dz`` for each candidate label of each row (n, L, n_outputs): every class, or the residuals ``±σ``."""
        raise NotImplementedError

    def pick_label(self, scores, outputs, label_mode: str):  # pragma: no cover - abstract
        """One score per row from per-candidate scores (n, L): the hallucinated label's ("argmax") or the best
        ("max")."""
        raise NotImplementedError

    # what a cycle records
    def display_outputs(self, outputs) -> np.ndarray:  # pragma: no cover - abstract
        """What the records keep of the outputs (``display_probs``): class probabilities, or the standardised
        prediction."""
        raise NotImplementedError

    def predicted(self, outputs, a=None) -> np.ndarray:  # pragma: no cover - abstract
        """The prediction of each row from stored ``display_outputs`` (a class code, or a value in the target's
        units); without outputs, what the factors ``a`` tell (-1 or NaN when nothing does)."""
        raise NotImplementedError

    def scores(self, outputs, y) -> dict[str, float]:  # pragma: no cover - abstract
        """The metrics of outputs against raw values ``y`` (the keys of ``record_fields``)."""
        raise NotImplementedError

    def evaluate(self, model, X, y, device="cpu") -> dict[str, float]:
        """The task's metrics of ``model`` on rows ``X`` with raw values ``y``; NaN for an empty set."""
        if len(y) == 0:
            return {key: float("nan") for key in self.score_keys}
        from alcore.models import predict

        outputs, _ = predict(model, X, device)
        return self.scores(outputs, np.asarray(y))

    score_keys: tuple[str, ...] = ()
    target_keys: tuple[str, ...] = ()

    def record_fields(self, test: Mapping[str, float], target: Mapping[str, float]) -> dict[str, float]:
        """The record's metric fields from the test and target sets' ``scores``."""
        fields = {f"test_{key}": float(test[key]) for key in self.score_keys}
        fields.update({f"target_{key}": float(target[key]) for key in self.target_keys})
        return fields

    # what strategies that need classes are given
    def n_clusters(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def not_ready_reason(self, labeled_y) -> str | None:
        """Why a model trained on ``labeled_y`` cannot score the pool yet (docs/methods.md#cold-start), or None."""
        return None


@dataclass(frozen=True)
class Classification(Task):
    n_classes: int

    name = "classification"
    score_keys = ("loss", "accuracy", "macro_f1")
    target_keys = ("loss", "accuracy")

    @property
    def n_outputs(self) -> int:  # type: ignore[override]
        return int(self.n_classes)

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "n_outputs": self.n_outputs}

    def encode(self, y) -> np.ndarray:
        return np.asarray(y, dtype=np.int64)

    def label_dtype(self):
        import torch

        return torch.long

    def loss(self, outputs, y, reduction: str = "mean"):
        import torch.nn.functional as F

        return F.cross_entropy(outputs, y, reduction=reduction)

    def output_gradient(self, outputs, y):
        from alcore.gradients.factors import gradient_factors

        return gradient_factors(_softmax(outputs), None, y)[0]

    def hallucinated_factor(self, outputs, spread=None, probs=None):
        from alcore.gradients.factors import gradient_factors

        return gradient_factors(_softmax(outputs) if probs is None else probs, None)[0]

    def candidate_factors(self, outputs, spread=None):
        import torch

        p = _softmax(outputs)
        return p[:, None, :] - torch.eye(p.shape[1], dtype=p.dtype, device=p.device)[None]

    def pick_label(self, scores, outputs, label_mode: str):
        if label_mode == "argmax":
            return scores.gather(1, outputs.argmax(1, keepdim=True)).squeeze(1)
        if label_mode == "max":
            return scores.max(1).values
        raise ValueError(f"label_mode={label_mode!r} is not valid; choose 'argmax' or 'max'")

    def display_outputs(self, outputs) -> np.ndarray:
        return _softmax(outputs).float().numpy()

    def predicted(self, outputs, a=None) -> np.ndarray:
        outputs = np.asarray(outputs)
        if outputs.ndim == 2 and outputs.size:
            return outputs.argmax(axis=1)
        a = np.asarray(a) if a is not None else np.zeros((0, 0))
        if a.ndim == 2 and a.size:  # a = p - onehot(argmax p): the predicted class is its most negative entry
            return a.argmin(axis=1)
        return np.full(len(outputs) if outputs.ndim else 0, -1)

    def scores(self, outputs, y) -> dict[str, float]:
        import torch
        import torch.nn.functional as F
        from sklearn.metrics import f1_score

        pred = outputs.argmax(dim=1).numpy()
        return {
            "loss": float(F.cross_entropy(outputs.double(), torch.as_tensor(y, dtype=torch.long))),
            "accuracy": float((pred == y).mean()),
            "macro_f1": float(f1_score(y, pred, average="macro", labels=np.arange(outputs.shape[1]), zero_division=0)),
        }

    def n_clusters(self) -> int:
        return int(self.n_classes)

    def not_ready_reason(self, labeled_y) -> str | None:
        return "single_class" if len(np.unique(labeled_y)) < 2 else None


@dataclass(frozen=True)
class Regression(Task):
    """A real-valued target, learnt standardised: ``(y - mean) / std`` with the pool's mean and standard deviation."""

    mean: float
    std: float

    name = "regression"
    n_outputs = 1
    uses_spread = True
    categorical = False
    score_keys = ("loss", "mse", "mae", "r2")
    target_keys = ("loss",)

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "n_outputs": 1, "mean": float(self.mean), "std": float(self.std)}

    def encode(self, y) -> np.ndarray:
        return (np.asarray(y, dtype=np.float64) - self.mean) / self.std

    def decode(self, z) -> np.ndarray:
        """Standardised values back in the target's own units."""
        return np.asarray(z, dtype=np.float64) * self.std + self.mean

    def label_dtype(self):
        import torch

        return torch.float32

    def loss(self, outputs, y, reduction: str = "mean"):
        per_row = 0.5 * (outputs[:, 0] - y.to(outputs.dtype)) ** 2
        if reduction == "none":
            return per_row
        return per_row.sum() if reduction == "sum" else per_row.mean()

    def output_gradient(self, outputs, y):
        return (outputs[:, :1] - y.to(outputs.dtype)[:, None]).clone()

    def hallucinated_factor(self, outputs, spread=None, probs=None):
        import torch

        if spread is None:
            raise ValueError("a regression model's hallucinated residual needs the predictive spread σ(x)")
        return torch.as_tensor(np.asarray(spread), dtype=torch.float64).reshape(-1, 1)

    def candidate_factors(self, outputs, spread=None):
        import torch

        a = self.hallucinated_factor(outputs, spread)
        return torch.stack([a, -a], dim=1)  # the residuals f - y of the labels f - σ and f + σ

    def pick_label(self, scores, outputs, label_mode: str):
        # The prediction itself as label gives a zero gradient; both modes take the optimistic residual ±σ
        # (docs/tasks.md#hallucinated-labels-in-regression).
        if label_mode not in ("argmax", "max"):
            raise ValueError(f"label_mode={label_mode!r} is not valid; choose 'argmax' or 'max'")
        return scores.max(1).values

    def display_outputs(self, outputs) -> np.ndarray:
        return outputs[:, :1].float().numpy()

    def predicted(self, outputs, a=None) -> np.ndarray:
        outputs = np.asarray(outputs)
        if outputs.ndim == 2 and outputs.size:
            return self.decode(outputs[:, 0])
        return np.full(len(a) if a is not None else len(outputs), np.nan)  # σ says nothing about the value

    def scores(self, outputs, y) -> dict[str, float]:
        f = outputs[:, 0].double().numpy()
        z = self.encode(y)
        pred = self.decode(f)
        residual = pred - y
        total = float(((y - y.mean()) ** 2).sum())
        return {"loss": float(np.mean((f - z) ** 2)), "mse": float(np.mean(residual ** 2)),
                "mae": float(np.mean(np.abs(residual))),
                "r2": 1.0 - float((residual ** 2).sum()) / total if total > 0 else float("nan")}

    def n_clusters(self) -> int:
        return REGRESSION_CLUSTERS


def _softmax(outputs):
    import torch

    return torch.softmax(outputs.double(), dim=1)


def task_for(dataset, fit_idx=None) -> Task:
    """The task of ``dataset``; a regression target is standardised with the rows ``fit_idx`` (the pool)."""
    if dataset.task == "classification":
        return Classification(dataset.n_classes)
    y = np.asarray(dataset.y, dtype=np.float64)
    rows = y if fit_idx is None else y[np.asarray(fit_idx)]
    std = float(rows.std())
    if not std > 0:
        raise DatasetError(f"{dataset.name}: the target is constant over the pool ({rows[0]:g} everywhere); a "
                           "regression target must vary: check that the right column was chosen")
    return Regression(float(rows.mean()), std)


def task_from_info(info: Mapping[str, Any] | None) -> Task:
    """The task of a stored run from its dataset description (``Experiment.dataset_info``)."""
    info = info or {}
    task = info.get("task") or {}
    if task.get("name") == "regression":
        return Regression(float(task["mean"]), float(task["std"]))
    return Classification(int(info.get("n_classes", task.get("n_outputs", 0))))
