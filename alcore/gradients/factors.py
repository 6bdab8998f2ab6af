"""The last-layer gradient ``g = a ⊗ h`` of the cross-entropy by its factors (docs/methods.md#last-layer-embeddings).

``a = p - onehot(y)`` and ``h`` (optionally with the bias column) are all the engine keeps; norms, distances and
cosines of ``g`` come from them in ``alcore.distances``. These functions accept numpy arrays or torch tensors alike.
"""
from __future__ import annotations

import numpy as np
import torch


def gradient_factors(probs, h, labels=None, bias: bool = False):
    """Factors ``(a, h)`` of the last-layer gradient ``g = a ⊗ h`` of the cross-entropy.

    ``a = p - onehot(y)`` with ``y = labels``, or the pseudo-label ``argmax p`` (lowest index on ties,
    docs/methods.md#notation) when ``labels`` is None. With ``bias=True`` the features become ``h~ = [h; 1]`` so that
    ``a ⊗ h~`` also covers the bias gradient (every factorised formula still holds). Works on numpy arrays and torch
    tensors; returns new arrays.
    """
    is_torch = isinstance(probs, torch.Tensor)
    rows = torch.arange(len(probs), device=probs.device) if is_torch else np.arange(len(probs))
    if labels is None:
        labels = probs.argmax(1)
    elif is_torch:
        labels = torch.as_tensor(labels, dtype=torch.long, device=probs.device)
    a = probs.clone() if is_torch else np.array(probs, copy=True)
    a[rows, labels] -= 1.0
    return a, (with_bias(h) if bias else h)


def with_bias(h):
    """``h~ = [h; 1]``: the input of a linear layer with its bias folded in."""
    if isinstance(h, torch.Tensor):
        return torch.cat([h, torch.ones(len(h), 1, dtype=h.dtype, device=h.device)], dim=1)
    return np.concatenate([h, np.ones((len(h), 1), dtype=h.dtype)], axis=1)


def bilinear_scores(a, h, M):
    """``<g_i, vec M> = a_i^T M h_i`` for a ``C x d`` matrix ``M`` (e.g. a mean target gradient), shape ``(n,)``."""
    return ((a @ M) * h).sum(1)


def outer_embeddings(a, h):
    """The materialised ``n x C·d`` embeddings ``vec(a_i h_i^T)`` (row-major, as ``dL/dW``). For tests and baselines:
    the engine never needs them."""
    return (a[:, :, None] * h[:, None, :]).reshape(len(a), -1)
