"""Training loop: Adam (default) or SGD, with per-epoch loss, checkpoints and optimizer moments for LESS."""
from __future__ import annotations

import copy
import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from alcore import seeding
from alcore.constants import DIVERGED_LOSS_FACTOR
from alcore.models import ALModel, dropout_generator
from alcore.threads import one_thread


@dataclass
class TrainSettings:
    epochs: int = 100
    lr: float = 1e-3
    optimizer: str = "adam"
    batch_size: int = 64
    weight_decay: float = 0.0
    n_checkpoints: int = 4


@dataclass
class Checkpoint:
    """Parameters and optimizer moments at the end of an epoch (docs/methods.md#less-in-this-engine).

    ``exp_avg``/``exp_avg_sq`` are keyed by parameter name (empty for SGD); ``step`` is Adam's step count;
    ``mean_lr`` the mean learning rate during the epoch that ended here (LESS weights checkpoints by it).
    """

    epoch: int
    params: dict[str, torch.Tensor]
    exp_avg: dict[str, torch.Tensor] = field(default_factory=dict)
    exp_avg_sq: dict[str, torch.Tensor] = field(default_factory=dict)
    step: int = 0
    mean_lr: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8


@dataclass
class TrainResult:
    """Per-epoch mean training loss, the checkpoints LESS reads, and the epoch (1-based) at which training diverged
    (``diverged``), if any: training stops there, and the model's weights are then of no use."""

    loss_history: np.ndarray
    checkpoints: list[Checkpoint]
    optimizer: str
    diverged_epoch: int | None = None

    @property
    def trained(self) -> bool:
        return len(self.loss_history) > 0

    @property
    def diverged(self) -> bool:
        return self.diverged_epoch is not None


def checkpoint_weights(mean_lrs) -> np.ndarray:
    """``w_i = η̄_i / Σ_j η̄_j``: checkpoints weighted by their epochs' mean learning rates (LESS,
    docs/methods.md#less-in-this-engine); uniform when every learning rate is 0."""
    lr = np.asarray(mean_lrs, dtype=np.float64)
    return lr / lr.sum() if lr.sum() > 0 else np.full(len(lr), 1.0 / max(len(lr), 1))


def checkpoint_epochs(epochs: int, n: int) -> list[int]:
    """``min(n, epochs)`` evenly spaced epochs (1-based), always including the last."""
    n = max(1, min(n, epochs))
    return sorted({int(round(e)) for e in np.linspace(epochs, epochs / n, n)})


_OPTIMIZER_LOCK = threading.Lock()
_OPTIMIZER_READY = threading.Event()


def warm_optimizer() -> None:
    """Take one optimizer step on a dummy parameter, once per process and one thread at a time.

    torch's first optimizer step imports ``torch._dynamo`` (about 1.2 s on 2 cores). Every training goes through
    here first, so a server that does it in the background while the user looks at a page (``alcore.jobs``) and
    a worker that trains never import it at the same time, and an untrained cycle (a cold start) never waits
    for it.
    """
    if _OPTIMIZER_READY.is_set():
        return
    with _OPTIMIZER_LOCK:
        if not _OPTIMIZER_READY.is_set():
            param = torch.zeros(1, requires_grad=True)
            torch.optim.Adam([param]).step()
            _OPTIMIZER_READY.set()


def optimizer_warmed() -> bool:
    return _OPTIMIZER_READY.is_set()


def make_optimizer(model: ALModel, settings: TrainSettings) -> torch.optim.Optimizer:
    if settings.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=0.9, weight_decay=settings.weight_decay)


def train_model(model: ALModel, X: torch.Tensor, y: torch.Tensor, settings: TrainSettings, seed: int,
                device: torch.device | str = "cpu",
                loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> TrainResult:
    """Fit ``model`` on (X, y) in place. Zero labels train nothing: the model stays at its initialisation.

    ``loss(outputs, y)``: the task's mean loss (``alcore.task``); default cross-entropy on class codes.

    Shuffling and dropout draw from two generators seeded with ``seed`` (``seeding.training_generators``), never
    from torch's global one, so the same inputs give the same weights on CPU, also while other runs train in other
    threads of the process. An epoch whose mean loss ``diverged`` ends training (``TrainResult.diverged_epoch``):
    every later step would only push the weights further out.
    """
    n = len(y)
    if n == 0:
        return TrainResult(np.zeros(0), [], settings.optimizer)
    model.to(device).train()
    warm_optimizer()
    opt = make_optimizer(model, settings)
    X, y = X.to(device), y.to(device)
    loss_fn = F.cross_entropy if loss is None else loss
    save_at = set(checkpoint_epochs(settings.epochs, settings.n_checkpoints))
    losses, checkpoints, diverged = [], [], None
    gen, masks = seeding.training_generators(seed, device)
    with dropout_generator(model, masks), _small_model_threads(model, device):
        for epoch in range(1, settings.epochs + 1):
            order = torch.randperm(n, generator=gen).to(device)
            total = 0.0
            for start in range(0, n, settings.batch_size):
                idx = order[start:start + settings.batch_size]
                opt.zero_grad(set_to_none=True)
                batch_loss = loss_fn(model(X[idx]), y[idx])
                batch_loss.backward()
                opt.step()
                total += float(batch_loss.detach()) * len(idx)
            losses.append(total / n)
            if diverged_loss(losses):
                diverged = epoch
                break
            if epoch in save_at:
                checkpoints.append(_checkpoint(model, opt, epoch))
    model.eval()
    return TrainResult(np.asarray(losses), checkpoints, settings.optimizer, diverged)


def diverged_loss(losses: list[float]) -> bool:
    """Whether the last epoch's mean loss shows training diverged: NaN or infinite, or more than
    ``DIVERGED_LOSS_FACTOR`` times the first epoch's (or 1, if that is smaller). Cross-entropy starts near
    ``log C``; a loss a hundred times that means logits pushed far the wrong way (a learning rate of 10 takes digits
    from 2.3 to 20,000 in one epoch, with every probability exactly 0 or 1 after it)."""
    last = losses[-1]
    return not np.isfinite(last) or last > DIVERGED_LOSS_FACTOR * max(1.0, losses[0])


def divergence_message(cycle: int, result: TrainResult, lr: float) -> str:
    """What a run whose training diverged says, on its record, in its manifest and in the app."""
    loss = result.loss_history[-1] if len(result.loss_history) else float("nan")
    return (f"training diverged at cycle {cycle}: lower the learning rate (it is {lr:g}) and start a new run "
            f"(the training loss reached {loss:.4g} in epoch {result.diverged_epoch})")


def _small_model_threads(model: ALModel, device: torch.device | str, max_params: int = 1_000_000):
    """Train small models on one CPU thread: tiny matmuls lose to thread hand-offs (about 10x on 2 cores),
    and a fixed thread count keeps the arithmetic, hence the weights, the same on every machine. The count is
    shared by concurrent trainings (``alcore.threads``)."""
    small = str(device).startswith("cpu") and sum(p.numel() for p in model.parameters()) <= max_params
    return one_thread("torch") if small else nullcontext()


def _checkpoint(model: ALModel, opt: torch.optim.Optimizer, epoch: int) -> Checkpoint:
    group = opt.param_groups[0]
    ckpt = Checkpoint(epoch=epoch, params={k: v.detach().clone() for k, v in model.named_parameters()},
                      mean_lr=float(group["lr"]))
    if isinstance(opt, torch.optim.Adam):
        ckpt.betas, ckpt.eps = tuple(group["betas"]), float(group["eps"])
        for name, p in model.named_parameters():
            state = opt.state.get(p, {})
            if state:
                ckpt.exp_avg[name] = state["exp_avg"].detach().clone()
                ckpt.exp_avg_sq[name] = state["exp_avg_sq"].detach().clone()
                ckpt.step = int(state["step"])
    return ckpt


def state_arrays(model: ALModel) -> dict[str, np.ndarray]:
    """Model weights as plain arrays (stored in NPZ; nothing is ever unpickled)."""
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


def load_state_arrays(model: ALModel, arrays: dict[str, np.ndarray]) -> None:
    model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in arrays.items()})


def clone_model(model: ALModel) -> ALModel:
    return copy.deepcopy(model)
