"""The model of a stored cycle, rebuilt: records do not store weights, so the same data, split, labelled set and seeds
retrain it on CPU (``replay_error`` says how closely its display probabilities match the stored ones)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from alcore import seeding
from alcore.config import ExperimentConfig
from alcore.models import predict
from alcore.records import CycleRecord
from alcore.strategies.base import PoolState
from alcore.teaching.points import keep_selected


@dataclass
class Replay:
    """A run's cycle rebuilt: its data, split, labelled set and the model trained on it."""

    config: ExperimentConfig
    record: CycleRecord
    experiment: Any                # the loop.Experiment holding data, split and settings (never stepped)
    model: Any
    train_result: Any
    replay_error: float            # max |p - p_stored| over the display subset (0 when the retraining is exact)
    approximate: bool              # warm-start runs are retrained from scratch: close, not identical
    notes: list[str] = field(default_factory=list)

    @property
    def X(self) -> torch.Tensor:
        return self.experiment.X

    @property
    def y(self) -> np.ndarray:
        return self.experiment.y

    @property
    def pool(self) -> np.ndarray:
        return np.asarray(self.record.pool_idx, np.int64)

    def pool_state(self, pool: np.ndarray, target: np.ndarray) -> PoolState:
        """What a strategy would see at this cycle, restricted to ``pool`` and with ``target`` as the target set."""
        exp, labeled = self.experiment, np.asarray(self.record.labeled_idx, np.int64)
        target = np.asarray(target, np.int64)
        return PoolState(X=exp.X, pool_idx=np.asarray(pool, np.int64), labeled_idx=labeled,
                         labeled_y=exp.task.encode(exp.y[labeled]), target_idx=target,
                         target_y=exp.task.encode(exp.target_y[target]), n_classes=exp.n_classes,
                         model=self.model, train_result=self.train_result, train_settings=exp.train_settings,
                         sample_shape=tuple(exp.dataset.sample_shape), device=exp.device, cycle=self.record.cycle,
                         seed=self.config.seed, cold_start_strategy=self.config.cold_start_strategy, task=exp.task)


def replay(config: ExperimentConfig, record: CycleRecord, dataset=None) -> Replay:
    """Retrain the model of ``record``'s cycle (same data, split, labels and training seed as the run)."""
    from alcore.loop import Experiment

    exp = Experiment(config, dataset=dataset)  # no run_dir: nothing is written
    model, result = exp.train_cycle(record.cycle, record.labeled_idx)
    outputs, _ = predict(model, exp.X[np.asarray(record.display_idx)], exp.device)
    p = exp.task.display_outputs(outputs)
    err = float(np.abs(p - record.display_probs).max()) if p.size and record.display_probs.size else 0.0
    notes = []
    if config.warm_start:
        notes.append("This run continues training across cycles (warm start); the tour retrains this cycle's "
                     "model from its initialisation, so its numbers are close to the run's, not identical.")
    return Replay(config=config, record=record, experiment=exp, model=model, train_result=result,
                  replay_error=err, approximate=bool(config.warm_start), notes=notes)


def score_subset(rep: Replay, max_points: int) -> np.ndarray:
    """The pool points the replayed scores cover: all, or a seeded subsample keeping the batch."""
    pool = rep.pool
    if len(pool) <= max_points:
        return pool
    rng = seeding.tour_rng(rep.config.seed, rep.record.cycle, seeding.TOUR_SCORES)
    return pool[keep_selected(pool, rep.record.selected, max_points, rng)]


def target_set(rep: Replay) -> tuple[np.ndarray, str]:
    """The run's target set, or the test set as a stand-in when the run has none (said in the second value)."""
    split = rep.experiment.split
    if len(split.target):
        return split.target, "target"
    return split.test, "test set (stand-in: this run has no target set)"


def run_options(rep: Replay, strategy: str) -> dict[str, Any]:
    """The run's own options when it uses ``strategy`` (so the tour's numbers are the run's), else the defaults."""
    return dict(rep.config.strategy_options) if rep.config.strategy == strategy else {}
