"""The acquisition cycle, one step at a time: train, score the pool, select, reveal labels, evaluate, store."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from alcore import data, metrics, seeding, strategies
from alcore.config import ConfigError, ExperimentConfig, config_differences, strategy_option_error
from alcore.models import ALModel, build_model, predict, resolve_device
from alcore.projection import display_subset
from alcore.records import CycleRecord
from alcore.run_data import prepare_features, run_split
from alcore.run_lock import RunLock
from alcore.spaces import fixed_embedding
from alcore.store import WARM_STATE, Damage, ManifestError, RunStore
from alcore.strategies.base import PoolState
from alcore.task import Task, task_for
from alcore.train import (TrainResult, TrainSettings, _small_model_threads, divergence_message, load_state_arrays,
                          state_arrays, train_model)
from alcore.uncertainty import last_layer_spread



class RunExists(FileExistsError):
    """``run_dir`` already holds a run: continuing it is an explicit resume; the message names any setting that
    differs from the stored run's."""


class Experiment:
    """One run of ``config``. ``step()`` runs one cycle; ``run()`` the rest; ``resume(run_dir)`` continues a stored run.

    A run of ``cycles`` acquisition cycles yields ``cycles + 1`` records: the last one only evaluates the model
    trained on every label bought, so the learning curve ends at ``initial_labels + cycles * batch_size``. A cycle
    whose training diverges (the loss becomes NaN or infinite) ends the run with a ``diverged`` final record.

    With a ``run_dir`` the experiment is the run's one writer: it holds the run's lock (``alcore.run_lock``) from
    construction until ``close()`` (or the end of a ``with`` block, or the process), and a second writer gets
    ``RunBusy``. A caller that already holds the lock hands it over as ``lock`` and releases it itself. A new
    experiment in a folder that already holds a run is ``RunExists``: use ``resume``.
    """

    def __init__(self, config: ExperimentConfig, run_dir: str | Path | None = None,
                 dataset: data.Dataset | None = None, *, lock: RunLock | None = None, _resume: bool = False) -> None:
        self.config = config
        if dataset is None:
            dataset = data.load_for_task(config.dataset, config.dataset_options, config.task)
        data.check_dataset_task(dataset, config.task)
        self.split = run_split(config, dataset.y)
        config.check_budget(len(self.split.pool))
        self.dataset = prepare_features(dataset, self.split.pool, config.seed)
        self.task: Task = task_for(self.dataset, self.split.pool)
        config.check_task(self.task.name)  # a file's task is known only now
        self.y = self.dataset.y                    # raw values: class codes, or the target in its own units
        self.target_y = self.dataset.target_y      # what target-set rows are scored against (a second rater's)
        self.n_classes = self.dataset.n_classes
        self.X = torch.from_numpy(data.standardize(self.dataset.X, self.split.pool))
        config.check_memory(len(self.y), self.X.shape[1], self.n_classes)  # the data's real shape, uploads too
        try:
            self.device = resolve_device(config.device)
        except ValueError as err:  # cuda asked for on a machine without one
            raise ConfigError(f"device={config.device!r} is not valid on this machine; {err}", field="device",
                              value=config.device) from None
        self.strategy = strategies.get(config.strategy, **config.strategy_options)
        # fail here, not at the first step (cnn on tabular data, bad options); its size sets the cycle's threads
        try:
            self._template = self.new_model()
        except ValueError as err:
            raise ConfigError(f"model={config.model!r} is not valid for this data; {err}", field="model",
                              value=config.model) from None
        self.train_settings = TrainSettings(epochs=config.epochs, lr=config.lr, optimizer=config.optimizer,
                                            batch_size=config.train_batch_size, weight_decay=config.weight_decay,
                                            n_checkpoints=config.n_checkpoints)
        init_rng = seeding.initial_labels_rng(config.seed)
        self.initial_labeled = np.sort(init_rng.choice(self.split.pool, config.initial_labels, replace=False))
        self.labeled = self.initial_labeled.copy()
        self.display_idx = display_subset(data.strata(self.y), self.split.pool, n_max=config.display_size,
                                          random_state=seeding.run_seed(config.seed, seeding.DISPLAY))
        self.records: list[CycleRecord] = []
        self._fixed: np.ndarray | None = None
        self._nearest_sq: np.ndarray | None = None  # pool rows' squared distance to the labelled set (fixed space)
        self._warm_model: ALModel | None = None
        self.store: RunStore | None = None
        self.repaired: Damage | None = None  # what resume found damaged and computed again
        self._lock: RunLock | None = None  # the writer lock this experiment took (and releases)
        if run_dir is not None:
            self._open(Path(run_dir), lock, _resume)

    def _open(self, run_dir: Path, lock: RunLock | None, resume: bool) -> None:
        """Take the run's writer lock (RunBusy if another writer has it) unless handed one, then create the run
        (or, resuming, find it)."""
        if lock is None:
            self._lock = lock = RunLock(run_dir).acquire()
        elif not lock.held:
            raise ValueError("the lock handed to Experiment must be held")
        try:
            store = RunStore(run_dir)
            if not resume and store.exists():
                raise RunExists(_exists_message(run_dir, store, self.config))
            if not resume:
                store.create(self.config.to_dict(), {"dataset": self.dataset_info()})
            store.remove_temp_files()
            self.store = store
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the run's writer lock if this experiment took it (the run stays on disk and can be resumed)."""
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> "Experiment":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- state ------------------------------------------------------------------------------
    @property
    def pool(self) -> np.ndarray:
        """Unlabelled candidates: the pool split minus everything labelled so far."""
        return np.setdiff1d(self.split.pool, self.labeled, assume_unique=True)

    @property
    def cycle(self) -> int:
        return len(self.records)

    @property
    def done(self) -> bool:
        return bool(self.records) and self.records[-1].is_final

    @property
    def next_is_final(self) -> bool:
        """Whether the next step only evaluates: every acquisition cycle has run, or the pool is empty."""
        return self.cycle >= self.config.cycles or len(self.pool) == 0

    def dataset_info(self) -> dict:
        d = self.dataset
        return {"name": d.name, "n_samples": int(len(d.y)), "n_features": int(d.X.shape[1]),
                "n_classes": int(d.n_classes), "class_names": list(d.class_names),
                "sample_shape": list(d.sample_shape), "pool": int(len(self.split.pool)),
                "target": int(len(self.split.target)), "test": int(len(self.split.test)),
                "task": self.task.info(), "target_name": d.target_name}

    def fixed_space(self) -> np.ndarray:
        if self._fixed is None:
            seed = seeding.run_seed(self.config.seed, seeding.FIXED_EMBEDDING)
            self._fixed = fixed_embedding(self.X.numpy(), random_state=seed)
        return self._fixed

    def new_model(self) -> ALModel:
        """The run's model at its seeded initialisation (the same every cycle)."""
        cfg = self.config
        return build_model(cfg.model, self.X.shape[1], self.task.n_outputs, self.dataset.sample_shape,
                           seed=seeding.run_seed(cfg.seed, seeding.MODEL), **cfg.model_options)

    # --- the cycle --------------------------------------------------------------------------
    def step(self) -> CycleRecord:
        """Run one cycle and return its record (stored on disk before it is returned).

        A small model's whole cycle runs on one torch thread, as its training does (``alcore.train``): its
        forward passes are too small to share, and on a busy 2-core machine a second thread that waits for a core
        turned the display phase's 1 ms into 0.3 s (bench/cycle.py).
        """
        if self.done:
            raise RuntimeError("the run is complete: every cycle has been run")
        with _small_model_threads(self._template, self.device):
            return self._step()

    def _step(self) -> CycleRecord:
        cfg, cycle, timings = self.config, self.cycle, {}
        pool = self.pool
        is_final = self.next_is_final

        t = time.perf_counter()
        model, train_result = self.train_cycle(cycle)
        timings["train"] = time.perf_counter() - t
        if train_result.diverged:
            return self._stop_diverged(train_result, pool, timings)

        t = time.perf_counter()
        test = self.task.evaluate(model, self.X[self.split.test], self.y[self.split.test], self.device)
        target = self.task.evaluate(model, self.X[self.split.target], self.target_y[self.split.target], self.device)
        timings["evaluate"] = time.perf_counter() - t

        record = CycleRecord(
            cycle=cycle, n_labeled=len(self.labeled), strategy=self.strategy.name, is_final=is_final,
            **self.task.record_fields(test, target),
            labeled_idx=self.labeled.copy(), train_loss=train_result.loss_history, pool_idx=pool,
        )
        if not is_final:
            self._select_into(record, model, train_result, pool, timings)

        t = time.perf_counter()
        record.display_idx = self.display_idx
        record.display_probs, record.display_a, record.display_h = self._factors(model, self.display_idx)
        timings["display"] = time.perf_counter() - t
        record.timings = timings

        t = time.perf_counter()
        self._commit(record, model)
        record.timings["store"] = time.perf_counter() - t
        return record

    def _stop_diverged(self, train_result: TrainResult, pool: np.ndarray, timings: dict[str, float]) -> CycleRecord:
        """End the run with a final record that says training diverged (no metrics, no map: the weights are NaN)."""
        message = divergence_message(self.cycle, train_result, self.config.lr)
        record = CycleRecord(cycle=self.cycle, n_labeled=len(self.labeled), strategy=self.strategy.name,
                             is_final=True, diverged=True, labeled_idx=self.labeled.copy(),
                             train_loss=train_result.loss_history, pool_idx=pool, timings=timings,
                             diagnostics={"diverged": message, "diverged_epoch": train_result.diverged_epoch})
        if self.store is not None:
            self.store.append(record, error=message)
        self.records.append(record)
        return record

    def _select_into(self, record: CycleRecord, model: ALModel, train_result: TrainResult, pool: np.ndarray,
                     timings: dict[str, float]) -> None:
        cfg = self.config
        t = time.perf_counter()
        state = PoolState(
            X=self.X, pool_idx=pool, labeled_idx=self.labeled, labeled_y=self.task.encode(self.y[self.labeled]),
            target_idx=self.split.target, target_y=self.task.encode(self.target_y[self.split.target]),
            n_classes=self.n_classes, model=model, train_result=train_result, train_settings=self.train_settings,
            sample_shape=tuple(self.dataset.sample_shape), device=self.device, cycle=record.cycle,
            seed=cfg.seed, cold_start_strategy=cfg.cold_start_strategy, _fixed=self._fixed, task=self.task,
        )
        try:
            selection = self.strategy.select(state, cfg.batch_size,
                                             seeding.strategy_rng(cfg.seed, record.cycle, self.strategy.name))
        except ValueError as err:  # an option that this data cannot run with (ProbCover's max_edges): name it
            option_names = [f.name for f in dataclasses.fields(self.strategy.Options)]
            error = strategy_option_error(self.strategy.name, err, option_names)
            if error.field == "strategy_options":
                raise
            raise error from None
        self._fixed = state._fixed
        timings["select"] = time.perf_counter() - t

        t = time.perf_counter()
        chosen = selection.indices
        _, record.selected_a, record.selected_h = self._factors(model, chosen)
        labeled_after = np.concatenate([self.labeled, chosen])
        record.selected, record.selected_labels, record.batch_size = chosen, self.y[chosen], len(chosen)
        record.utilities, record.fallback_reason = selection.utilities, selection.fallback_reason
        record.diagnostics = _plain(selection.diagnostics)
        self._nearest_sq = metrics.nearest_covered_sq(self.fixed_space(), self.split.pool, chosen,
                                                      self._covered_sq())
        record.diversity = metrics.batch_diversity(
            record.selected_a, record.selected_h, fixed=self.fixed_space(),
            reference_idx=self.split.pool, covered_idx=labeled_after,
            batch_labels=record.selected_labels, labeled_labels=self.y[labeled_after], n_classes=self.n_classes,
            nearest_sq=self._nearest_sq)
        timings["diversity"] = time.perf_counter() - t

    def _covered_sq(self) -> np.ndarray | None:
        """The running nearest-labelled distances before this cycle's batch, rebuilt in the order the labels were
        bought (initial labels, then each stored batch), so a resumed run computes exactly what an uninterrupted
        one did."""
        if self._nearest_sq is None:
            batches = [self.initial_labeled] + [r.selected for r in self.records]
            for batch in batches:
                if len(batch):
                    self._nearest_sq = metrics.nearest_covered_sq(self.fixed_space(), self.split.pool, batch,
                                                                  self._nearest_sq)
        return self._nearest_sq

    def train_cycle(self, cycle: int, labeled: np.ndarray | None = None) -> tuple[ALModel, TrainResult]:
        """The model of ``cycle``, trained on ``labeled`` (default: the labels bought so far).

        Retrains from the seeded initialisation (default) or continues from last cycle's weights (warm start),
        with the cycle's own training seed, so replaying a stored cycle gives the run's model back.
        """
        cfg = self.config
        if cfg.warm_start and self._warm_model is not None:
            model = self._warm_model
        else:
            model = self.new_model()
        model.to(self.device)
        idx = self.labeled if labeled is None else np.asarray(labeled, dtype=np.int64)
        result = train_model(model, self.X[idx], self.task.labels(self.task.encode(self.y[idx])),
                             self.train_settings, seed=seeding.training_seed(cfg.seed, cycle), device=self.device,
                             loss=self.task.loss)
        return model, result

    @torch.no_grad()
    def _factors(self, model: ALModel, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(outputs, a, h) of ``rows`` for the records: the task's display outputs (class probabilities, or the
        standardised prediction), the hallucinated factor ``a`` of ``g = a ⊗ h`` and the features ``h``."""
        outputs, h = predict(model, self.X[rows], self.device)
        spread = None
        if self.task.uses_spread:  # σ(x) against the labels bought before this cycle's batch
            h_labeled = predict(model, self.X, self.device, rows=self.labeled)[1]
            spread = last_layer_spread(h.numpy(), h_labeled.numpy())
        a = self.task.hallucinated_factor(outputs, spread)
        return self.task.display_outputs(outputs), a.float().numpy(), h.numpy()

    def _commit(self, record: CycleRecord, model: ALModel) -> None:
        if self.store is not None:
            if self.config.warm_start:
                self.store.write_array(f"{WARM_STATE}_{record.cycle:05d}", state_arrays(model))  # per cycle: see resume
            self.store.append(record)
        self.records.append(record)
        if self.config.warm_start:
            self._warm_model = model
        self.labeled = np.concatenate([self.labeled, record.selected])

    def run(self, n: int | None = None, on_cycle: Callable[[CycleRecord], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> list[CycleRecord]:
        """Run ``n`` more cycles (default: to the end), calling ``on_cycle`` after each is stored."""
        out = []
        for record in self.iter_cycles(n, should_stop):
            out.append(record)
            if on_cycle is not None:
                on_cycle(record)
        return out

    def iter_cycles(self, n: int | None = None, should_stop: Callable[[], bool] | None = None) -> Iterator[CycleRecord]:
        done = 0
        while not self.done and (n is None or done < n):
            if should_stop is not None and should_stop():
                break
            yield self.step()
            done += 1

    # --- resume -----------------------------------------------------------------------------
    @classmethod
    def resume(cls, run_dir: str | Path, dataset: data.Dataset | None = None,
               lock: RunLock | None = None) -> "Experiment":
        """Continue a stored run from its last complete cycle, as its one writer (``RunBusy`` if it has another;
        ``lock``: the run's lock, already held by the caller, who releases it).

        A damaged manifest is rebuilt from the run's ``config.json``; a damaged cycle (and every later one) is
        moved aside and computed again (docs/run-format.md#damaged-files): ``repaired`` says what was found.
        """
        store = RunStore(run_dir)
        if not store.exists():
            raise FileNotFoundError(f"no run at {run_dir} (manifest.json missing)")
        own = lock is None
        lock = RunLock(run_dir).acquire() if own else lock
        try:
            try:
                manifest = store.manifest()
            except ManifestError:
                store.recover_manifest()
                manifest = store.manifest()
            config = ExperimentConfig.from_dict(manifest["config"])
            exp = cls(config, run_dir=run_dir, dataset=dataset, lock=lock, _resume=True)
        except BaseException:
            if own:
                lock.release()
            raise
        exp._lock = lock if own else None
        try:
            exp.records = exp.store.load_records(warm_start=config.warm_start)
            exp.repaired = exp.store.damage
            if exp.repaired is not None:
                exp.store.set_aside(exp.repaired)
        except BaseException:
            exp.close()
            raise
        for record in exp.records:
            exp.labeled = np.concatenate([exp.labeled, record.selected])
        if config.warm_start and exp.records:  # load_records checked these weights
            model = exp.new_model()
            load_state_arrays(model, exp.store.read_array(f"{WARM_STATE}_{len(exp.records) - 1:05d}"))
            exp._warm_model = model.to(exp.device)
        return exp


def _exists_message(run_dir: Path, store: RunStore, config: ExperimentConfig) -> str:
    try:
        stored = store.manifest()["config"]
    except (OSError, ValueError) as err:
        return f"{run_dir} already holds a run, whose manifest cannot be read ({err}); choose another folder"
    differences = config_differences(stored, config.to_dict())
    what = (f"with a different config ({'; '.join(differences)})" if differences else "with this config")
    return (f"{run_dir} already holds a run {what}: continue it with --resume (Experiment.resume), or choose "
            "another folder for a new run")


def _plain(obj):
    """Diagnostics as JSON-safe values (numpy scalars and small arrays to Python)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist() if obj.size <= 10_000 else f"array{obj.shape}"
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, torch.Tensor):
        return _plain(obj.detach().cpu().numpy())
    return obj
