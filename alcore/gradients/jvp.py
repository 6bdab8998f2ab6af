"""Inner products of every per-sample gradient with one direction through a single JVP (docs/methods.md#jvp)."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from alcore.gradients.parameters import eval_mode, model_device, split_params


def directional_logits(model: nn.Module, X: torch.Tensor, direction: Mapping[str, torch.Tensor],
                       batch_size: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``z(x_i; θ)`` and their directional derivatives ``dz/dε (x_i; θ + ε v)`` at ``ε = 0`` (one
    forward-mode pass, eval mode). ``direction`` maps parameter names to tangents; parameters not in it are held fixed.

    From the logit tangent ``ż`` every label's loss derivative follows: ``<∇θ ℓ(x, y), v> = p^T ż - ż_y``.
    """
    names = [n for n, _ in model.named_parameters() if n in direction]
    device = model_device(model)
    with eval_mode(model):
        diff, rest = split_params(model, names)
        tangent = {n: direction[n].to(device=device, dtype=diff[n].dtype) for n in names}
        logits, dlogits = [], []
        for start in range(0, len(X), batch_size):
            xb = torch.as_tensor(X[start:start + batch_size]).to(device)

            def f(p, xb=xb):
                return torch.func.functional_call(model, (p, rest), (xb,))

            z, dz = torch.func.jvp(f, (diff,), (tangent,))
            logits.append(z.detach())
            dlogits.append(dz.detach())
    if not logits:
        C = model.head.out_features if hasattr(model, "head") else 0
        return torch.zeros(0, C), torch.zeros(0, C)
    return torch.cat(logits), torch.cat(dlogits)


def jvp_scores(model: nn.Module, X: torch.Tensor, direction: Mapping[str, torch.Tensor], labels=None,
               batch_size: int = 4096) -> torch.Tensor:
    """``s_i = <∇θ ℓ(x_i, y_i; θ), v>`` for every row with one JVP (docs/methods.md#jvp); ``labels=None`` uses the
    pseudo-label ``argmax p`` computed at ``θ`` (held fixed, not differentiated)."""
    z, dz = directional_logits(model, X, direction, batch_size)
    p = torch.softmax(z, dim=1)
    y = p.argmax(1) if labels is None else torch.as_tensor(labels, dtype=torch.long, device=z.device)
    return (p * dz).sum(1) - dz.gather(1, y[:, None]).squeeze(1)
