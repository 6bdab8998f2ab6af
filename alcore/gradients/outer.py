"""Per-sample gradients of linear layers as outer products, and their cosines with fixed directions without the
``n x C x P`` gradient tensor (docs/methods.md#per-sample-gradients, docs/methods.md#adam-features).

A linear layer ``o = W x + b`` has the per-sample gradient ``dℓ/dW = δ x^T``, ``dℓ/db = δ`` with ``δ = dℓ/do``. For
the cross-entropy at label ``y``, ``δ(y) = J^T (p - e_y)`` with ``J = dz/do`` the Jacobian of the logits: ``C``
backward passes of a chunk give every sample's ``J`` for every layer at once (samples do not interact in eval
mode), where ``vmap(jacrev)`` over the parameters builds ``C x P`` numbers per sample. The features LESS compares
(docs/methods.md#adam-features) are then formed block by block, one layer at a time in cache-sized pieces:

- ``sgd``, ``sign`` and Adam's ``frozen`` mode scale ``δ x^T`` elementwise by a fixed matrix (or take signs, and
  ``sign(δ_r x_c) = sign(δ_r) sign(x_c)``), so norms and inner products are bilinear forms in ``δ`` and ``x``;
- ``less_code`` and ``paper`` are nonlinear in each entry: the entries are formed, transformed and reduced in
  blocks that stay in cache, never the whole tensor.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from alcore.gradients.adam import _bias_correction
from alcore.gradients.parameters import eval_mode

#: Entries of one block of the nonlinear transforms (float32: 4 MB, a core's share of the cache).
BLOCK_ENTRIES = 1 << 20


@dataclass
class LinearGrads:
    """One layer's per-sample factors over a chunk: inputs ``x`` (rows, in) and output gradients ``delta`` (rows,
    L, out) for ``L`` labels each; ``bias``: whether the layer's bias is among the differentiated parameters."""

    x: torch.Tensor
    delta: torch.Tensor
    bias: bool


def linear_layers(model: nn.Module, names: Sequence[str]) -> list[tuple[nn.Linear, bool]] | None:
    """The ``nn.Linear`` modules whose parameters are exactly ``names`` (each weight, optionally followed by its
    bias, in ``named_parameters()`` order), with whether the bias is included; None for any other set."""
    modules = dict(model.named_modules())
    layers, i = [], 0
    names = list(names)
    while i < len(names):
        prefix, _, leaf = names[i].rpartition(".")
        module = modules.get(prefix)
        if leaf != "weight" or not isinstance(module, nn.Linear):
            return None
        has_bias = i + 1 < len(names) and names[i + 1] == f"{prefix}.bias"
        layers.append((module, has_bias))
        i += 2 if has_bias else 1
    return layers or None


def label_factors(model: nn.Module, layers: list[tuple[nn.Linear, bool]], X: torch.Tensor,
                  labels: torch.Tensor | None = None) -> tuple[torch.Tensor, list[LinearGrads]]:
    """``(probs, factors)`` of a chunk: per layer the inputs and ``δ(y)`` for every label (``labels=None``, (rows, C,
    out)) or for the given label of each row ((rows, 1, out)). Eval mode; the model is not changed."""
    inputs: list[torch.Tensor] = []
    taps: list[torch.Tensor] = []

    def hook(module, args, output):
        inputs.append(args[0].detach())
        tap = torch.zeros_like(output, requires_grad=True)
        taps.append(tap)
        return output + tap

    handles = [layer.register_forward_hook(hook) for layer, _ in layers]
    try:
        with eval_mode(model), torch.enable_grad():
            logits = model(X)
            C = logits.shape[1]
            J = [torch.empty(len(X), C, t.shape[1], dtype=t.dtype, device=t.device) for t in taps]
            for c in range(C):
                grads = torch.autograd.grad(logits[:, c].sum(), taps, retain_graph=c < C - 1)
                for Jl, g in zip(J, grads):
                    Jl[:, c] = g
    finally:
        for handle in handles:
            handle.remove()
    probs = torch.softmax(logits.detach(), dim=1)
    factors = []
    for (layer, bias), x, Jl in zip(layers, inputs, J):
        J_p = torch.einsum("rc,rco->ro", probs.to(Jl.dtype), Jl)
        if labels is None:
            delta = Jl.neg_().add_(J_p[:, None, :])  # δ(y) = J^T p - J_y for every y
        else:
            delta = (J_p - Jl[torch.arange(len(X)), labels])[:, None, :]
        factors.append(LinearGrads(x=x.reshape(len(X), -1), delta=delta, bias=bias))
    return probs, factors


def split_columns(v: torch.Tensor, layers: list[tuple[nn.Linear, bool]]
                  ) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """The columns of ``v`` (..., P) laid out as the layers' parameters: per layer ``(weight (..., out, in), bias
    (..., out) or None)``."""
    out, start = [], 0
    for layer, bias in layers:
        o, i = layer.weight.shape
        w = v[..., start:start + o * i].reshape(*v.shape[:-1], o, i)
        start += o * i
        b = None
        if bias:
            b = v[..., start:start + o]
            start += o
        out.append((w, b))
    return out


def feature_cosines(factors: list[LinearGrads], psi: torch.Tensor, gtype: str, adam_mode: str = "less_code",
                    moments: tuple[torch.Tensor, torch.Tensor] | None = None, layers=None,
                    betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, step: int = 0) -> torch.Tensor:
    """``<φ/||φ||, ψ_g>`` for every row and label of the chunk and every row ``ψ_g`` of ``psi`` (groups, P), with
    ``φ = Γ(δ x^T)`` the LESS feature of the gradient (``gtype`` "sgd", "sign" or "adam" with ``adam_mode`` and the
    flattened ``moments`` (m, v)); a zero feature has cosine 0. Returns (rows, L, groups), float64."""
    psis = split_columns(psi, layers)
    rows, L = factors[0].delta.shape[:2]
    dot = torch.zeros(rows, L, psi.shape[0], dtype=torch.float64)
    norm2 = torch.zeros(rows, L, dtype=torch.float64)
    scales = None
    if gtype == "adam":
        m, v = moments
        scales = list(zip(split_columns(m.to(psi), layers), split_columns(v.to(psi), layers)))
    for i, (f, (pw, pb)) in enumerate(zip(factors, psis)):
        parts = [(f.delta[..., :, None], f.x[:, None, None, :], pw, None if scales is None else (scales[i][0][0],
                                                                                              scales[i][1][0]))]
        if f.bias:
            parts.append((f.delta, None, pb, None if scales is None else (scales[i][0][1], scales[i][1][1])))
        for delta, x, p, mv in parts:
            if gtype == "adam" and adam_mode != "frozen":
                d, n = _nonlinear_block(delta, x, p, mv, adam_mode, betas, eps, step)
            else:
                d, n = _bilinear_block(delta, x, p, gtype, mv, betas, eps, step)
            dot += d
            norm2 += n
    norm = torch.sqrt(norm2)
    return torch.where(norm[..., None] > 0, dot / torch.where(norm > 0, norm, 1.0)[..., None], 0.0)


def _bilinear_block(delta, x, psi, gtype, mv, betas, eps, step):
    """Norms² and inner products of ``D ⊙ (δ x^T)`` (or of its signs) in closed form (``D`` fixed per entry)."""
    if gtype == "sign":
        delta, x = torch.sign(delta), None if x is None else torch.sign(x)
    D = None
    if gtype == "adam":  # frozen: g / (sqrt(v / (1 - β2^step)) + eps)
        D = 1.0 / (torch.sqrt(mv[1] / _bias_correction(float(betas[1]), int(step))) + eps)
    if x is None:  # a bias: the entries are δ itself
        g = delta if D is None else delta * D
        return ((g @ psi.T).double(), (g * g).sum(-1).double())
    delta, x = delta[..., 0], x[:, 0, 0, :]  # (rows, L, out), (rows, in)
    Pw = psi if D is None else psi * D  # (groups, out, in)
    D2 = None if D is None else D * D
    dot = torch.einsum("rlo,goi,ri->rlg", delta, Pw, x)
    if D2 is None:
        norm2 = (delta * delta).sum(-1) * (x * x).sum(-1)[:, None]
    else:
        norm2 = torch.einsum("rlo,oi,ri->rl", delta * delta, D2, x * x)
    return dot.double(), norm2.double()


def _nonlinear_block(delta, x, psi, mv, mode, betas, eps, step):
    """Norms² and inner products of Adam features of ``δ x^T`` (or of ``δ`` for a bias), in cache-sized blocks."""
    b1, b2 = float(betas[0]), float(betas[1])
    m, v = mv
    if mode == "less_code":  # Γ = (b1 m + (1-b1) g) / sqrt(b2 v + (1-b2) g² + eps)
        m_scaled, v_shift, inv_m = m * b1, v * b2 + eps, 1.0
    else:  # paper: m̂ / (sqrt(v̂) + eps), bias-corrected at t = step + 1
        t = int(step) + 1
        bc1, bc2 = _bias_correction(b1, t), _bias_correction(b2, t)
        m_scaled, v_shift, inv_m = m * b1, v * b2, 1.0 / bc1
    rows, L = delta.shape[:2]
    width = delta.shape[2] * (1 if x is None else x.shape[-1])
    step_rows = max(1, BLOCK_ENTRIES // max(L * width, 1))
    dots, norms = [], []
    psi_flat = psi.reshape(psi.shape[0], -1)
    # g = δ x^T is never formed: (1-b2) g² = ((1-b2) δ²) (x²) and (1-b1) g = ((1-b1) δ) x, broadcast
    d1, d2 = delta * (1 - b1), delta * delta * (1 - b2)
    x1, x2 = (None, None) if x is None else (x, x * x)
    for s in range(0, rows, step_rows):
        block = slice(s, s + step_rows)
        if x is None:
            q = torch.add(v_shift, d2[block])
            g = torch.add(m_scaled, d1[block])
        else:
            q = torch.addcmul(v_shift, d2[block], x2[block])
            g = torch.addcmul(m_scaled, d1[block], x1[block])
        if mode == "less_code":
            q.rsqrt_()
        else:
            q.div_(bc2).sqrt_().add_(eps).reciprocal_()
        if inv_m != 1.0:
            g.mul_(inv_m)
        g.mul_(q)
        flat = g.reshape(g.shape[0] * L, -1)
        dots.append((flat @ psi_flat.T).reshape(g.shape[0], L, -1).double())
        norms.append(torch.linalg.vector_norm(flat, dim=1).double().square().reshape(g.shape[0], L))
    return torch.cat(dots), torch.cat(norms)
