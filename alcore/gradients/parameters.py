"""Which parameters to differentiate, in a fixed order, and a model held in eval mode while it is scored
(docs/methods.md#per-sample-gradients, docs/methods.md#model-state)."""
from __future__ import annotations

import contextlib
import copy
from typing import Mapping, Sequence

import torch
from torch import nn

ParamSpec = str | Sequence[str]


def param_names(model: nn.Module, params: ParamSpec = "all") -> list[str]:
    """Names of the parameters to differentiate, in the module's ``named_parameters()`` order
    (docs/methods.md#per-sample-gradients).

    ``"all"``: every trainable parameter (``requires_grad``); ``"last_layer"`` (alias ``"head"``): the final linear
    layer ``head`` (weight then bias); or an explicit list of names (returned in module order).
    """
    named = [(n, p) for n, p in model.named_parameters()]
    if isinstance(params, str):
        if params == "all":
            return [n for n, p in named if p.requires_grad]
        if params in ("last_layer", "head"):
            if not hasattr(model, "head"):
                raise ValueError("params='last_layer' needs a model with a final linear layer named 'head'")
            return [n for n, _ in named if n.startswith("head.")]
        raise ValueError(f"params={params!r} is not valid; choose 'all', 'last_layer' or a list of parameter names")
    wanted = set(params)
    unknown = wanted - {n for n, _ in named}
    if unknown:
        raise ValueError(f"unknown parameter name(s) {sorted(unknown)}")
    return [n for n, _ in named if n in wanted]


def flatten(tensors: Mapping[str, torch.Tensor], names: Sequence[str]) -> torch.Tensor:
    """Concatenate ``tensors[name]`` over ``names`` into one vector (the fixed order of
    docs/methods.md#per-sample-gradients)."""
    return torch.cat([tensors[n].reshape(-1) for n in names])


def n_params(model: nn.Module, names: Sequence[str]) -> int:
    shapes = dict(model.named_parameters())
    return int(sum(shapes[n].numel() for n in names))


def model_at(model: nn.Module, params: Mapping[str, torch.Tensor]) -> nn.Module:
    """A copy of ``model`` with ``params`` loaded (e.g. a training checkpoint), in eval mode; ``model`` is untouched."""
    clone = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in clone.named_parameters():
            if name in params:
                p.copy_(params[name])
    return clone.eval()


@contextlib.contextmanager
def eval_mode(model: nn.Module):
    """Eval mode for scoring (docs/methods.md#model-state), restoring the previous mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def split_params(model: nn.Module, names: Sequence[str]) -> tuple[dict, dict]:
    """(differentiated params, everything else: frozen params and buffers), all detached."""
    chosen = set(names)
    diff = {n: p.detach() for n, p in model.named_parameters() if n in chosen}
    rest = {n: p.detach() for n, p in model.named_parameters() if n not in chosen}
    rest.update({n: b.detach() for n, b in model.named_buffers()})
    return diff, rest


def is_last_layer(model: nn.Module, names: Sequence[str]) -> bool:
    head = getattr(model, "head", None)
    return (isinstance(head, nn.Linear) and hasattr(model, "features")
            and list(names) == [n for n, _ in model.named_parameters() if n.startswith("head.")])
