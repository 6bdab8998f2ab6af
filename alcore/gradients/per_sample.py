"""Per-sample gradients of any parameter subset with ``torch.func``, chunked, in ``named_parameters()`` order
(docs/methods.md#per-sample-gradients); their norms, every label's gradient, and the mean loss gradient.

Computed with the model in eval mode (docs/methods.md#model-state) and without regularisation terms.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alcore.gradients.factors import gradient_factors
from alcore.gradients.parameters import (ParamSpec, eval_mode, is_last_layer, model_device, n_params, param_names,
                                         split_params)


def auto_chunk_size(n_params: int) -> int:
    """Rows per chunk so that a chunk's gradients take about 16 MB (between 8 and 1024 rows).

    Blocks below glibc's mmap threshold are recycled by the allocator; larger fresh blocks are page-faulted in on
    every chunk, which was measured to double the time of vmap(grad) on an MLP (chunk 2048 vs 512).
    """
    return int(np.clip((1 << 22) // max(int(n_params), 1), 8, 1024))


def iter_per_sample_gradients(model: nn.Module, X: torch.Tensor, y: torch.Tensor, params: ParamSpec = "all",
                              chunk_size: int | None = None, method: str = "auto") -> Iterator[torch.Tensor]:
    """Per-sample gradients of ``cross_entropy(model(x_i), y_i)``, one ``(rows, P)`` block per chunk of rows.

    Columns follow ``param_names(model, params)``. Memory ``O(chunk_size · P)`` (default ``auto_chunk_size(P)``).
    ``method``: ``"vmap"`` (``torch.func.vmap(grad)``), ``"closed_form"`` (last layer only: ``dL/dW = a h^T``,
    ``dL/db = a``), or ``"auto"`` (closed form when exactly the last layer is asked for, else vmap). Rows are
    computed on the model's device and returned there.
    """
    for _, block in _gradient_blocks(model, X, y, params, chunk_size, method, out=None):
        yield block


def per_sample_gradients(model: nn.Module, X: torch.Tensor, y: torch.Tensor, params: ParamSpec = "all",
                         chunk_size: int | None = None, method: str = "auto") -> torch.Tensor:
    """All per-sample gradients as one ``(n, P)`` tensor (see ``iter_per_sample_gradients``); each chunk is written
    straight into the result, without an intermediate copy."""
    names = param_names(model, params)
    out = torch.empty(len(X), n_params(model, names), device=model_device(model),
                      dtype=next(model.parameters()).dtype)
    for _ in _gradient_blocks(model, X, y, names, chunk_size, method, out=out):
        pass
    return out


def _gradient_blocks(model: nn.Module, X, y, params: ParamSpec, chunk_size: int | None, method: str,
                     out: torch.Tensor | None) -> Iterator[tuple[int, torch.Tensor]]:
    """(start row, block) per chunk; with ``out`` the block is a view of ``out`` written in place."""
    names = param_names(model, params)
    chunk_size = int(chunk_size) if chunk_size else auto_chunk_size(n_params(model, names))
    if method not in ("auto", "vmap", "closed_form"):
        raise ValueError(f"method={method!r} is not valid; choose 'auto', 'vmap' or 'closed_form'")
    closed = is_last_layer(model, names)
    if method == "closed_form" and not closed:
        raise ValueError("method='closed_form' needs params='last_layer' on a model with features() and a head")
    use_closed = closed and method != "vmap"
    device = model_device(model)
    y = torch.as_tensor(y, dtype=torch.long)
    with eval_mode(model):
        diff, rest = split_params(model, names)

        def loss_one(p, x, t):
            logits = torch.func.functional_call(model, (p, rest), (x.unsqueeze(0),))
            return F.cross_entropy(logits, t.unsqueeze(0))

        per_sample = torch.func.vmap(torch.func.grad(loss_one), in_dims=(None, 0, 0))
        for start in range(0, len(X), chunk_size):
            xb = torch.as_tensor(X[start:start + chunk_size]).to(device)
            yb = y[start:start + chunk_size].to(device)
            target = None if out is None else out[start:start + len(xb)]
            if use_closed:
                block = _last_layer_block(model, xb, yb, "head.bias" in names, target)
            else:
                g = per_sample(diff, xb, yb)
                block = torch.cat([g[n].reshape(len(xb), -1) for n in names], dim=1, out=target)
            yield start, block


def iter_label_gradients(model: nn.Module, X: torch.Tensor, params: ParamSpec = "all",
                         chunk_size: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(probs, G)`` per chunk of rows, ``G[i, y]`` the gradient of ``cross_entropy(model(x_i), y)`` for every
    label ``y`` (``(rows, C, P)``), for strategies that score each candidate label.

    One forward pass and one per-sample Jacobian of the logits (``vmap(jacrev)``) per chunk instead of C gradient
    passes: ``∇ℓ(x, y) = J^T (p - e_y) = J^T p - J_y``. Memory ``O(chunk_size · C · P)``.
    """
    for logits, J in iter_output_jacobians(model, X, params, chunk_size):
        probs = torch.softmax(logits, dim=1)
        J_p = torch.einsum("rc,rcp->rp", probs.to(J.dtype), J)
        yield probs, J.neg_().add_(J_p[:, None, :])


def iter_output_jacobians(model: nn.Module, X: torch.Tensor, params: ParamSpec = "all",
                          chunk_size: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(outputs, J)`` per chunk of rows: the model's outputs (rows, C) and their per-sample Jacobian
    ``J[i, c] = ∇θ z_c(x_i)`` (``(rows, C, P)``, ``vmap(jacrev)``, eval mode). A regression model's ``J[:, 0]`` is
    ``∇θ f(x)``, from which every label's gradient ``(f - y) ∇θ f`` follows."""
    names = param_names(model, params)
    P = n_params(model, names)
    device = model_device(model)
    with eval_mode(model):
        diff, rest = split_params(model, names)
        C = int(torch.func.functional_call(model, (diff, rest), (torch.as_tensor(X[:1]).to(device),)).shape[1])
        chunk_size = int(chunk_size) if chunk_size else auto_chunk_size(P * C)

        def outputs_one(p, x):
            return torch.func.functional_call(model, (p, rest), (x.unsqueeze(0),)).squeeze(0)

        jacobian = torch.func.vmap(torch.func.jacrev(outputs_one), in_dims=(None, 0))
        for start in range(0, len(X), chunk_size):
            xb = torch.as_tensor(X[start:start + chunk_size]).to(device)
            with torch.no_grad():
                outputs = torch.func.functional_call(model, (diff, rest), (xb,))
            jac = jacobian(diff, xb)
            yield outputs, torch.cat([jac[n].reshape(len(xb), C, -1) for n in names], dim=2)  # (rows, C, P)


@torch.no_grad()
def _last_layer_block(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, bias: bool,
                      out: torch.Tensor | None = None) -> torch.Tensor:
    h = model.features(xb)
    p = torch.softmax(model.head(h), dim=1)
    a, _ = gradient_factors(p, h, yb)
    n, C, d = len(h), a.shape[1], h.shape[1]
    if out is None:
        out = torch.empty(n, C * d + (C if bias else 0), dtype=h.dtype, device=h.device)
    torch.mul(a[:, :, None], h[:, None, :], out=out[:, :C * d].view(n, C, d))  # no temporary n x C·d
    if bias:
        out[:, C * d:] = a
    return out


def per_sample_gradient_norms(model: nn.Module, X: torch.Tensor, y: torch.Tensor, params: ParamSpec = "all",
                              chunk_size: int | None = None) -> torch.Tensor:
    """``||∇θ ℓ(x_i, y_i)||`` per row without keeping the ``n x P`` matrix."""
    names = param_names(model, params)
    norms = [torch.linalg.vector_norm(b, dim=1) for b in iter_per_sample_gradients(model, X, y, names, chunk_size)]
    return torch.cat(norms) if norms else torch.zeros(0, device=model_device(model))


def mean_loss_gradient(model: nn.Module, X: torch.Tensor, y: torch.Tensor, params: ParamSpec = "all",
                       batch_size: int = 4096,
                       loss: Callable[..., torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """``∇θ (1/n) Σ_i ℓ(x_i, y_i)`` (e.g. the target-set gradient ``G_T`` of docs/methods.md#alignment), by name,
    eval mode, exact over batches. ``loss(outputs, y, reduction=)``: the task's (``alcore.task``); default
    cross-entropy on class codes ``y``."""
    names = param_names(model, params)
    device = model_device(model)
    y = torch.as_tensor(y, dtype=torch.long) if loss is None else torch.as_tensor(y)
    loss = F.cross_entropy if loss is None else loss
    with eval_mode(model):
        diff, rest = split_params(model, names)

        def loss_sum(p, xb, yb):
            out = torch.func.functional_call(model, (p, rest), (xb,))
            return loss(out, yb, reduction="sum")

        total = {n: torch.zeros_like(v) for n, v in diff.items()}
        for start in range(0, len(X), batch_size):
            g = torch.func.grad(loss_sum)(diff, torch.as_tensor(X[start:start + batch_size]).to(device),
                                         y[start:start + batch_size].to(device))
            for n in names:
                total[n] += g[n]
    return {n: total[n] / max(len(X), 1) for n in names}
