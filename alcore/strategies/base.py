"""The contract every strategy shares (docs/methods.md#conventions): ``select(state, k, rng) -> Selection``."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import torch

from alcore import seeding
from alcore.constants import FALLBACK_REASONS  # noqa: F401  (the reasons a Selection may give)
from alcore.constants import MODEL_NOT_READY
from alcore.models import ALModel, predict
from alcore.seeding import strategy_rng  # noqa: F401  (alcore.strategies.strategy_rng)
from alcore.spaces import fixed_embedding
from alcore.task import TASKS, Classification, Task
from alcore.train import TrainResult, TrainSettings


@dataclass
class Selection:
    """Chosen global indices (distinct, all in the pool), utilities over the pool, and why it fell back if it did."""

    indices: np.ndarray
    utilities: np.ndarray
    diagnostics: dict[str, Any] = field(default_factory=dict)
    fallback_reason: str | None = None


@dataclass(eq=False)
class PoolState:
    """Everything a strategy may look at in one cycle. Pool labels are not in it.

    Model outputs over the pool are computed once, on first use, and shared by every strategy that asks. Labels are
    the task's encoded labels (class codes, or the standardised target; ``alcore.task``).
    """

    X: torch.Tensor                 # (n_total, n_features) float32, standardised, CPU
    pool_idx: np.ndarray            # candidates (global indices)
    labeled_idx: np.ndarray
    labeled_y: np.ndarray
    target_idx: np.ndarray
    target_y: np.ndarray            # the target set's labels (its own rater's, when the dataset has a second one)
    n_classes: int                  # 0 for a regression target
    model: ALModel
    train_result: TrainResult | None = None
    train_settings: TrainSettings | None = None
    sample_shape: tuple[int, ...] = ()
    device: torch.device | str = "cpu"
    cycle: int = 0
    seed: int = 0
    cold_start_strategy: str = "auto"
    _fixed: np.ndarray | None = None  # precomputed fixed embedding over all rows, shared across cycles
    task: Task | None = None        # None: classification with n_classes classes

    def __post_init__(self) -> None:
        if self.task is None:
            self.task = Classification(self.n_classes)

    @property
    def n_pool(self) -> int:
        return len(self.pool_idx)

    @property
    def n_labeled(self) -> int:
        return len(self.labeled_idx)

    @property
    def is_image(self) -> bool:
        return len(self.sample_shape) == 2

    @property
    def labeled_classes(self) -> np.ndarray:
        return np.unique(self.labeled_y)

    @cached_property
    def _pool_outputs(self) -> tuple[torch.Tensor, torch.Tensor]:
        return predict(self.model, self.X, self.device, rows=self.pool_idx)

    @property
    def pool_logits(self) -> torch.Tensor:
        return self._pool_outputs[0]

    @cached_property
    def pool_log_probs(self) -> torch.Tensor:
        return torch.log_softmax(self.pool_logits.double(), dim=1)

    @cached_property
    def pool_probs(self) -> torch.Tensor:
        return self.pool_log_probs.exp()

    @property
    def pool_h(self) -> torch.Tensor:
        """Penultimate features h of the pool (n_pool, d)."""
        return self._pool_outputs[1]

    @cached_property
    def pool_a(self) -> torch.Tensor:
        """The factor ``a`` of the last-layer gradient ``g = a ⊗ h`` at the hallucinated label, float64 (n_pool, C):
        ``p - onehot(argmax p)`` (docs/methods.md#notation), or the predictive spread ``σ`` of a regression model
        (docs/tasks.md#hallucinated-labels-in-regression)."""
        spread = self.pool_spread if self.task.uses_spread else None
        return self.task.hallucinated_factor(self.pool_logits, spread, probs=self.pool_probs)

    @cached_property
    def pool_spread(self) -> np.ndarray:
        """σ(x) of every pool row from the last layer and the labelled rows' features (``alcore.uncertainty``)."""
        from alcore.uncertainty import last_layer_spread

        return last_layer_spread(self.pool_h.numpy(), self.labeled_h.numpy())

    @cached_property
    def labeled_h(self) -> torch.Tensor:
        """Penultimate features h of the labelled rows."""
        return predict(self.model, self.X, self.device, rows=np.asarray(self.labeled_idx, dtype=np.int64))[1]

    def fixed_embedding(self) -> np.ndarray:
        """Fixed embedding over all rows (not only the pool): standardised inputs, PCA <= 64 dims."""
        if self._fixed is None:
            seed = seeding.run_seed(self.seed, seeding.FIXED_EMBEDDING)
            self._fixed = fixed_embedding(self.X.numpy(), random_state=seed)
        return self._fixed


class Strategy:
    """Base class. Subclasses set ``name``, ``description``, an ``Options`` dataclass and ``_select``.

    ``select`` enforces the shared rules once: k <= 0 or an empty pool gives an empty selection, k larger than the
    pool is clamped and says so, model-based strategies fall back to the cold-start strategy until the model has
    something to learn from (docs/methods.md#cold-start), and every answer is checked to be distinct pool indices.

    ``state.cold_start_strategy == "self"`` replaces that fallback (reasons ``MODEL_NOT_READY``) with the strategy
    itself, run on the model as it is: at zero labels the untrained, seeded network (BADGE's hallucinated labels and
    gradient embeddings of a random network; the seed's experiment). Such a selection has ``fallback_reason=None``,
    ``diagnostics["self_cold_start"]`` naming the reason it did not fall back, and ``diagnostics["untrained_model"]``
    whenever no label had been seen. Other reasons (no target set) still fall back, as under ``"auto"``.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    needs_model: ClassVar[bool] = True
    needs_target: ClassVar[bool] = False
    tasks: ClassVar[tuple[str, ...]] = TASKS  # the tasks it works for (docs/tasks.md#regression)

    @dataclass
    class Options:
        pass

    def __init__(self, **options: Any) -> None:
        allowed = [f.name for f in fields(self.Options)]
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise ValueError(f"unknown option(s) {unknown} for strategy {self.name!r}; valid options: {allowed}")
        self.options = self.Options(**options)
        self.validate_options()

    def validate_options(self) -> None:
        """Raise ValueError naming the option when a value is out of range."""

    def check_task(self, task: str) -> None:
        """Raise ValueError naming an option whose value has no meaning for ``task`` (docs/tasks.md#regression)."""

    # ------------------------------------------------------------------------------------------
    def select(self, state: PoolState, k: int, rng: np.random.Generator) -> Selection:
        n = state.n_pool
        if k <= 0 or n == 0:
            return Selection(np.zeros(0, np.int64), np.full(n, np.nan))
        k_eff = min(int(k), n)
        reason = self.fallback_reason(state)
        runs_itself = reason in MODEL_NOT_READY and state.cold_start_strategy == "self"
        if reason is not None and not runs_itself:
            fallback = resolve_cold_start(state)
            sel = fallback.select(state, k_eff, rng)
            sel.fallback_reason = reason
            sel.diagnostics["fallback_strategy"] = fallback.name
        else:
            sel = self._select(state, k_eff, rng)
            if runs_itself:
                sel.diagnostics["self_cold_start"] = reason  # what "auto" would have fallen back for
            if self.needs_model and state.n_labeled == 0:
                sel.diagnostics["untrained_model"] = True  # scored by the seeded initial weights
        if k > n:
            sel.diagnostics["clamped"] = True
        sel.indices = np.asarray(sel.indices, dtype=np.int64)
        sel.utilities = np.asarray(sel.utilities, dtype=np.float64)
        _check_selection(sel, state, k_eff)
        return sel

    def fallback_reason(self, state: PoolState) -> str | None:
        """Why the model cannot be trusted yet (docs/methods.md#cold-start), or None."""
        if not self.needs_model:
            return None
        if state.n_labeled == 0:
            return "cold_start"
        not_ready = state.task.not_ready_reason(state.labeled_y)
        if not_ready is not None:
            return not_ready
        if state.n_labeled < self.min_labels(state):
            return "cold_start"
        return None

    def min_labels(self, state: PoolState) -> int:
        return state.n_classes

    def _select(self, state: PoolState, k: int, rng: np.random.Generator) -> Selection:  # pragma: no cover
        raise NotImplementedError


def _check_selection(sel: Selection, state: PoolState, k: int) -> None:
    idx = sel.indices
    if len(idx) != k or len(np.unique(idx)) != len(idx) or not np.isin(idx, state.pool_idx).all():
        raise AssertionError(f"strategy returned an invalid selection (k={k}, got {len(idx)} indices, "
                             f"{len(np.unique(idx))} distinct, all in pool: {np.isin(idx, state.pool_idx).all()})")
    if len(sel.utilities) != state.n_pool:
        raise AssertionError("utilities must be aligned with the pool")


def resolve_cold_start(state: PoolState) -> Strategy:
    """The strategy used before a model exists: typiclust on tabular data, random on raw images
    (docs/methods.md#cold-start); under ``"self"`` the same choice for the fallbacks that remain (no target set)."""
    from alcore import strategies

    name = state.cold_start_strategy
    if name in ("auto", "self"):
        name = "typiclust" if not state.is_image and "typiclust" in strategies.available() else "random"
    strategy = strategies.get(name)
    if strategy.needs_model:  # a model-based cold-start strategy would recurse into itself
        strategy = strategies.get("random")
    return strategy


def top_k(utilities: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of the k largest utilities; ties broken by a seeded random key, NaN counts as -inf
    (docs/methods.md#ties)."""
    u = np.asarray(utilities, dtype=np.float64)
    u = np.where(np.isnan(u), -np.inf, u)
    order = np.lexsort((rng.permutation(len(u)), -u))
    return order[:k]


def argmax_random_tie(values: np.ndarray, rng: np.random.Generator, candidates: np.ndarray | None = None) -> int:
    """Position of the maximum, uniform among exact ties (docs/methods.md#ties)."""
    v = np.asarray(values, dtype=np.float64)
    mask = v == v.max() if candidates is None else (v == v[candidates].max()) & candidates
    winners = np.flatnonzero(mask)
    return int(winners[rng.integers(len(winners))])


class ScoreStrategy(Strategy):
    """A strategy that scores each pool point independently and takes the top k (docs/methods.md#ties ties)."""

    def scores(self, state: PoolState, rng: np.random.Generator) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _select(self, state: PoolState, k: int, rng: np.random.Generator) -> Selection:
        u = np.asarray(self.scores(state, rng), dtype=np.float64)
        diagnostics: dict[str, Any] = {}
        reason = None
        if np.all(u == u[0]):
            reason = "degenerate_scores"
        chosen = top_k(u, k, rng)
        return Selection(state.pool_idx[chosen], u, diagnostics, reason)
