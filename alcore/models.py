"""Torch models that expose features h(x) and a final linear head, so strategies can form gradient embeddings.

Every random draw of a model comes from a generator its run owns (``alcore.seeding``), never from torch's global
generator: the initial weights from ``model_init_generator`` (``build_model``), the dropout masks from the generator
the caller hands to ``dropout_generator`` (training, BALD's MC passes). Runs in threads of one process therefore
compute what they compute alone.
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from alcore import seeding


class Dropout(nn.Dropout):
    """``nn.Dropout`` whose masks come from ``generator`` (set by ``dropout_generator``), not torch's global one.

    The arithmetic is torch's own CPU dropout (a Bernoulli(1 - p) mask divided by 1 - p, times the input), so the
    same seed gives the same masks, hence the same weights, as ``nn.Dropout`` under ``torch.manual_seed``. Outside
    ``dropout_generator`` (a user's own forward pass in training mode) it is plain ``nn.Dropout``.
    """

    generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or self.generator is None:
            return super().forward(x)
        if self.p == 1:
            return x * 0
        noise = torch.empty_like(x).bernoulli_(1 - self.p, generator=self.generator)
        return x * noise.div_(1 - self.p)


@contextlib.contextmanager
def dropout_generator(model: nn.Module, generator: torch.Generator) -> Iterator[nn.Module]:
    """Draw every ``Dropout`` mask of ``model`` from ``generator`` inside the block (one stream for the whole net,
    in forward order)."""
    modules = [m for m in model.modules() if isinstance(m, Dropout)]
    before = [m.generator for m in modules]
    for m in modules:
        m.generator = generator
    try:
        yield model
    finally:
        for m, gen in zip(modules, before):
            m.generator = gen


class ALModel(nn.Module):
    """Base: ``forward(x) = head(features(x))``; ``features`` is the penultimate representation h."""

    head: nn.Linear

    def features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @property
    def has_dropout(self) -> bool:
        return any(isinstance(m, nn.modules.dropout._DropoutNd) for m in self.modules())


class LogReg(ALModel):
    """A linear model, h(x) = x (docs/methods.md#notation): softmax regression for classes, linear regression for a
    real-valued target (one output, docs/tasks.md#regression)."""

    def __init__(self, n_features: int, n_outputs: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.drop = Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(n_features, n_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(x)


class MLP(ALModel):
    """Fully connected ReLU network; dropout before the head makes MC-dropout BALD possible."""

    def __init__(self, n_features: int, n_outputs: int, hidden: Sequence[int] = (128,), dropout: float = 0.1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden:
            layers += [nn.Linear(width, int(size)), nn.ReLU()]
            width = int(size)
        if dropout > 0:
            layers.append(Dropout(dropout))
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class CNN(ALModel):
    """Small convnet for single-channel images (digits 8x8, MNIST 28x28); input arrives flattened."""

    def __init__(self, sample_shape: Sequence[int], n_outputs: int, channels: Sequence[int] = (16, 32),
                 hidden: int = 128, dropout: float = 0.1) -> None:
        super().__init__()
        if len(sample_shape) != 2:
            raise ValueError(f"model 'cnn' needs image-shaped data (height, width); got sample_shape {tuple(sample_shape)}")
        self.sample_shape = tuple(int(s) for s in sample_shape)
        c1, c2 = (int(c) for c in channels)
        self.conv = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(c2 * 16, hidden), nn.ReLU(),
                                *( [Dropout(dropout)] if dropout > 0 else [] ))
        self.head = nn.Linear(hidden, n_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x.reshape(-1, 1, *self.sample_shape)))


def build_model(name: str, n_features: int, n_outputs: int, sample_shape: Sequence[int] = (),
                seed: int = 0, **options: Any) -> ALModel:
    """The seeded initialisation of model ``name`` with ``n_outputs`` outputs (the task's: one per class, or one for
    regression): the same seed gives the same weights, drawn from the run's own generator
    (``seeding.model_init_generator``), never from torch's global one."""
    classes = {"logreg": lambda: LogReg(n_features, n_outputs, **options),
               "mlp": lambda: MLP(n_features, n_outputs, **options),
               "cnn": lambda: CNN(sample_shape, n_outputs, **options)}
    if name not in classes:
        raise ValueError(f"model={name!r} is not valid; choose one of {list(classes)}")
    try:
        with torch.device("meta"):  # shapes only: no weights drawn, nothing allocated yet
            model = classes[name]()
    except TypeError as err:
        raise ValueError(f"model_options for {name!r}: {err}") from None
    model = model.to_empty(device="cpu")
    initialise(model, seeding.model_init_generator(seed))
    return model


@torch.no_grad()
def initialise(model: nn.Module, generator: torch.Generator) -> None:
    """torch's default initialisation of every ``Linear`` and ``Conv2d`` (``reset_parameters``: Kaiming-uniform
    weights with a = sqrt(5), uniform biases of bound 1/sqrt(fan_in)), drawn from ``generator`` in the order the
    layers were built, so the weights equal those of the same model built under ``torch.manual_seed``."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
            if m.bias is not None:
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(m.weight)
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)
        elif any(True for _ in m.parameters(recurse=False)):
            raise TypeError(f"{type(m).__name__} has parameters that initialise() does not know how to draw")


def resolve_device(device: str = "auto") -> torch.device:
    """CUDA when there is one (for 'auto'), else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but no CUDA GPU is available; use 'auto' or 'cpu'")
    return torch.device(device)


@torch.no_grad()
def predict(model: ALModel, X: np.ndarray | torch.Tensor, device: torch.device | str = "cpu",
            batch_size: int = 8192, rows: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs (n, C) (logits, or the prediction of a regression model) and features h (n, d) in eval mode, batched so memory stays flat on large pools.

    ``rows`` selects rows of X batch by batch, so a large pool is never copied whole before the forward pass.
    Outputs are preallocated on the CPU and filled in place.
    """
    was_training = model.training
    model.eval()
    Xt = torch.as_tensor(X)
    idx = None if rows is None else torch.as_tensor(np.asarray(rows, dtype=np.int64))
    n = len(Xt) if idx is None else len(idx)
    logits = torch.empty(n, model.head.out_features)
    feats = torch.empty(n, model.head.in_features)
    for start in range(0, n, batch_size):
        part = slice(start, start + batch_size)
        xb = (Xt[part] if idx is None else Xt[idx[part]]).to(device, non_blocking=True)
        h = model.features(xb)
        logits[part] = model.head(h).float().cpu()
        feats[part] = h.float().cpu()
    model.train(was_training)
    return logits, feats
