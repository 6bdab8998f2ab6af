"""Torch models that expose features h(x) and a final linear head, so strategies can form gradient embeddings."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn


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
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
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
            layers.append(nn.Dropout(dropout))
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
                                *( [nn.Dropout(dropout)] if dropout > 0 else [] ))
        self.head = nn.Linear(hidden, n_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x.reshape(-1, 1, *self.sample_shape)))


def build_model(name: str, n_features: int, n_outputs: int, sample_shape: Sequence[int] = (),
                seed: int = 0, **options: Any) -> ALModel:
    """The seeded initialisation of model ``name`` with ``n_outputs`` outputs (the task's: one per class, or one for
    regression); the same seed gives the same weights, without touching global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            if name == "logreg":
                return LogReg(n_features, n_outputs, **options)
            if name == "mlp":
                return MLP(n_features, n_outputs, **options)
            if name == "cnn":
                return CNN(sample_shape, n_outputs, **options)
        except TypeError as err:
            raise ValueError(f"model_options for {name!r}: {err}") from None
    raise ValueError(f"model={name!r} is not valid; choose one of ['logreg', 'mlp', 'cnn']")


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
