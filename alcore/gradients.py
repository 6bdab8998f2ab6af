"""Gradient embeddings (STRATEGIES.md §1): small pure functions over arrays and models.

- Last-layer factors ``a = p - onehot(y)`` and ``h`` (§1.1): norms, inner products, distances, cosines and bilinear
  forms of ``g = a ⊗ h`` computed from the factors, never from the ``n x C·d`` matrix. These accept numpy arrays or
  torch tensors alike.
- Per-sample gradients of any parameter subset with ``torch.func`` (§1.2), chunked, in ``named_parameters()`` order.
- Inner products of every per-sample gradient with one direction through a single JVP (§1.3).
- A seeded Rademacher random projection whose matrix does not depend on the device (§1.4).
- Adam-preconditioned gradient features for LESS (§1.5).

Per-sample quantities are always computed with the model in eval mode (§0.7) and without regularisation terms.
"""
from __future__ import annotations

import contextlib
import copy
import math
from typing import Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ParamSpec = str | Sequence[str]

# ---------------------------------------------------------------------------------------------------------------
# §1.1 last-layer factors


def gradient_factors(probs, h, labels=None, bias: bool = False):
    """Factors ``(a, h)`` of the last-layer gradient ``g = a ⊗ h`` of the cross-entropy.

    ``a = p - onehot(y)`` with ``y = labels``, or the pseudo-label ``argmax p`` (lowest index on ties, §0.1) when
    ``labels`` is None. With ``bias=True`` the features become ``h~ = [h; 1]`` so that ``a ⊗ h~`` also covers the
    bias gradient (every formula below still holds). Works on numpy arrays and torch tensors; returns new arrays.
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


def sq_norms(a, h):
    """``||g_i||^2 = ||a_i||^2 ||h_i||^2``."""
    return (a * a).sum(1) * (h * h).sum(1)


def inner_products(a1, h1, a2=None, h2=None):
    """Gram matrix ``<g_i, g_j> = <a_i, a_j><h_i, h_j>`` between two sets of rows (the first set with itself
    when the second is omitted), shape ``(n1, n2)``."""
    if a2 is None:
        a2, h2 = a1, h1
    return (a1 @ a2.T) * (h1 @ h2.T)


def sq_distances(a1, h1, a2=None, h2=None):
    """``||g_i - g_j||^2 = ||g_i||^2 + ||g_j||^2 - 2<a_i,a_j><h_i,h_j>``, clipped at 0, shape ``(n1, n2)``."""
    if a2 is None:
        a2, h2 = a1, h1
    d = sq_norms(a1, h1)[:, None] + sq_norms(a2, h2)[None, :] - 2 * inner_products(a1, h1, a2, h2)
    return d.clip(min=0)


def cosine_similarities(a1, h1, a2=None, h2=None):
    """``cos(g_i, g_j) = cos(a_i, a_j) cos(h_i, h_j)``; a zero gradient has cosine 0 with everything."""
    if a2 is None:
        a2, h2 = a1, h1
    return inner_products(normalize_rows(a1), normalize_rows(h1), normalize_rows(a2), normalize_rows(h2))


def bilinear_scores(a, h, M):
    """``<g_i, vec M> = a_i^T M h_i`` for a ``C x d`` matrix ``M`` (e.g. a mean target gradient), shape ``(n,)``."""
    return ((a @ M) * h).sum(1)


def outer_embeddings(a, h):
    """The materialised ``n x C·d`` embeddings ``vec(a_i h_i^T)`` (row-major, as ``dL/dW``). For tests and baselines:
    the engine never needs them."""
    return (a[:, :, None] * h[:, None, :]).reshape(len(a), -1)


def normalize_rows(x, eps: float = 0.0):
    """Rows scaled to unit L2 norm; a zero row stays zero (``normalize(0) = 0``, §6.2)."""
    if isinstance(x, torch.Tensor):
        n = torch.linalg.vector_norm(x, dim=1, keepdim=True)
        return x / torch.where(n > eps, n, torch.ones_like(n))
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n > eps, n, 1.0)


# ---------------------------------------------------------------------------------------------------------------
# parameters


def param_names(model: nn.Module, params: ParamSpec = "all") -> list[str]:
    """Names of the parameters to differentiate, in the module's ``named_parameters()`` order (§1.2).

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
    """Concatenate ``tensors[name]`` over ``names`` into one vector (the fixed order of §1.2)."""
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
    """Eval mode for scoring (§0.7), restoring the previous mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def _model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _split_params(model: nn.Module, names: Sequence[str]) -> tuple[dict, dict]:
    """(differentiated params, everything else: frozen params and buffers), all detached."""
    chosen = set(names)
    diff = {n: p.detach() for n, p in model.named_parameters() if n in chosen}
    rest = {n: p.detach() for n, p in model.named_parameters() if n not in chosen}
    rest.update({n: b.detach() for n, b in model.named_buffers()})
    return diff, rest


def _is_last_layer(model: nn.Module, names: Sequence[str]) -> bool:
    head = getattr(model, "head", None)
    return (isinstance(head, nn.Linear) and hasattr(model, "features")
            and list(names) == [n for n, _ in model.named_parameters() if n.startswith("head.")])


# ---------------------------------------------------------------------------------------------------------------
# §1.2 per-sample gradients


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
    out = torch.empty(len(X), n_params(model, names), device=_model_device(model),
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
    closed = _is_last_layer(model, names)
    if method == "closed_form" and not closed:
        raise ValueError("method='closed_form' needs params='last_layer' on a model with features() and a head")
    use_closed = closed and method != "vmap"
    device = _model_device(model)
    y = torch.as_tensor(y, dtype=torch.long)
    with eval_mode(model):
        diff, rest = _split_params(model, names)

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
    names = param_names(model, params)
    P = n_params(model, names)
    device = _model_device(model)
    with eval_mode(model):
        diff, rest = _split_params(model, names)
        C = int(torch.func.functional_call(model, (diff, rest), (torch.as_tensor(X[:1]).to(device),)).shape[1])
        chunk_size = int(chunk_size) if chunk_size else auto_chunk_size(P * C)

        def logits_one(p, x):
            return torch.func.functional_call(model, (p, rest), (x.unsqueeze(0),)).squeeze(0)

        jacobian = torch.func.vmap(torch.func.jacrev(logits_one), in_dims=(None, 0))
        for start in range(0, len(X), chunk_size):
            xb = torch.as_tensor(X[start:start + chunk_size]).to(device)
            with torch.no_grad():
                probs = torch.softmax(torch.func.functional_call(model, (diff, rest), (xb,)), dim=1)
            jac = jacobian(diff, xb)
            J = torch.cat([jac[n].reshape(len(xb), C, -1) for n in names], dim=2)  # (rows, C, P)
            J_p = torch.einsum("rc,rcp->rp", probs.to(J.dtype), J)
            yield probs, J.neg_().add_(J_p[:, None, :])


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
    return torch.cat(norms) if norms else torch.zeros(0, device=_model_device(model))


def mean_loss_gradient(model: nn.Module, X: torch.Tensor, y: torch.Tensor, params: ParamSpec = "all",
                       batch_size: int = 4096) -> dict[str, torch.Tensor]:
    """``∇θ (1/n) Σ_i ℓ(x_i, y_i)`` (e.g. the target-set gradient ``G_T`` of §7), by name, eval mode, exact over
    batches."""
    names = param_names(model, params)
    device = _model_device(model)
    y = torch.as_tensor(y, dtype=torch.long)
    with eval_mode(model):
        diff, rest = _split_params(model, names)

        def loss_sum(p, xb, yb):
            out = torch.func.functional_call(model, (p, rest), (xb,))
            return F.cross_entropy(out, yb, reduction="sum")

        total = {n: torch.zeros_like(v) for n, v in diff.items()}
        for start in range(0, len(X), batch_size):
            g = torch.func.grad(loss_sum)(diff, torch.as_tensor(X[start:start + batch_size]).to(device),
                                         y[start:start + batch_size].to(device))
            for n in names:
                total[n] += g[n]
    return {n: total[n] / max(len(X), 1) for n in names}


# ---------------------------------------------------------------------------------------------------------------
# §1.3 one JVP instead of n gradients


def directional_logits(model: nn.Module, X: torch.Tensor, direction: Mapping[str, torch.Tensor],
                       batch_size: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``z(x_i; θ)`` and their directional derivatives ``dz/dε (x_i; θ + ε v)`` at ``ε = 0`` (one
    forward-mode pass, eval mode). ``direction`` maps parameter names to tangents; parameters not in it are held fixed.

    From the logit tangent ``ż`` every label's loss derivative follows: ``<∇θ ℓ(x, y), v> = p^T ż - ż_y``.
    """
    names = [n for n, _ in model.named_parameters() if n in direction]
    device = _model_device(model)
    with eval_mode(model):
        diff, rest = _split_params(model, names)
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
    """``s_i = <∇θ ℓ(x_i, y_i; θ), v>`` for every row with one JVP (§1.3); ``labels=None`` uses the pseudo-label
    ``argmax p`` computed at ``θ`` (held fixed, not differentiated)."""
    z, dz = directional_logits(model, X, direction, batch_size)
    p = torch.softmax(z, dim=1)
    y = p.argmax(1) if labels is None else torch.as_tensor(labels, dtype=torch.long, device=z.device)
    return (p * dz).sum(1) - dz.gather(1, y[:, None]).squeeze(1)


# ---------------------------------------------------------------------------------------------------------------
# §1.4 random projection


class RademacherProjection:
    """``G -> G R / sqrt(k)`` with ``R in {±1}^{P x k}`` (TRAK's BasicProjector layout, scaled so that
    ``E<Rg, Rg'> = <g, g'>``).

    Column block ``b`` (``block_size`` columns) is drawn from a CPU ``torch.Generator`` seeded with
    ``seed + 1000·b``, then moved to ``device``: the same seed gives the same matrix on every device. When
    ``P <= k`` the projection is the identity (``dim`` becomes ``P``). The matrix is kept once built if it fits in
    ``cache_bytes``; otherwise blocks are regenerated per call (flat memory, more time).
    """

    def __init__(self, n_params: int, dim: int, seed: int = 0, block_size: int = 128,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                 cache_bytes: int = 1 << 30) -> None:
        if dim < 1:
            raise ValueError(f"projection dim must be >= 1, got {dim}")
        self.n_params, self.seed, self.block_size = int(n_params), int(seed), int(block_size)
        self.identity = self.n_params <= dim
        self.dim = self.n_params if self.identity else int(dim)
        self.device, self.dtype = torch.device(device), dtype
        self._cache = cache_bytes
        self._matrix: torch.Tensor | None = None

    def block(self, b: int) -> torch.Tensor:
        """Columns ``[b·block_size, (b+1)·block_size)`` of the scaled matrix, on the projection's device."""
        width = min(self.block_size, self.dim - b * self.block_size)
        gen = torch.Generator(device="cpu").manual_seed(self.seed + 1000 * b)
        bits = torch.randint(0, 2, (self.n_params, width), generator=gen, dtype=torch.int8)
        signs = bits.to(self.dtype).mul_(2).sub_(1).mul_(1.0 / math.sqrt(self.dim))
        return signs.to(self.device)

    @property
    def n_blocks(self) -> int:
        return -(-self.dim // self.block_size)

    def matrix(self) -> torch.Tensor:
        """The full ``P x k`` scaled matrix (the identity when ``P <= k``)."""
        if self.identity:
            return torch.eye(self.n_params, dtype=self.dtype, device=self.device)
        if self._matrix is not None:
            return self._matrix
        R = torch.cat([self.block(b) for b in range(self.n_blocks)], dim=1)
        if R.numel() * R.element_size() <= self._cache:
            self._matrix = R
        return R

    def __call__(self, G: torch.Tensor) -> torch.Tensor:
        G = G.to(device=self.device, dtype=self.dtype)
        if self.identity:
            return G
        itemsize = torch.empty(0, dtype=self.dtype).element_size()
        if self._matrix is not None or self.n_params * self.dim * itemsize <= self._cache:
            return G @ self.matrix()
        return torch.cat([G @ self.block(b) for b in range(self.n_blocks)], dim=1)


# ---------------------------------------------------------------------------------------------------------------
# §1.5 Adam preconditioning

ADAM_MODES = ("less_code", "paper", "frozen")


def _bias_correction(beta: float, t: int) -> float:
    """``1 - beta^t``; 1 where that is 0 (``beta = 1`` or ``t = 0``), i.e. no correction rather than a division
    by zero."""
    c = 1.0 - beta ** t
    return c if c > 0 else 1.0


def adam_features(G: torch.Tensor, exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor, mode: str = "less_code",
                  betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, step: int = 0) -> torch.Tensor:
    """Adam-preconditioned per-sample gradient features ``Γ`` (rows of ``G``; ``exp_avg``/``exp_avg_sq`` flattened
    over the same parameters, §1.5).

    - ``less_code`` (LESS's released code): ``m' = β1 m + (1-β1) g``, ``v' = β2 v + (1-β2) g²``,
      ``Γ = m' / sqrt(v' + eps)`` (eps inside the root, no bias correction).
    - ``paper``: bias-corrected ``m'/(1-β1^t)`` and ``v'/(1-β2^t)`` with ``t = step + 1``,
      ``Γ = m̂ / (sqrt(v̂) + eps)``.
    - ``frozen``: ``Γ = g / (sqrt(v / (1-β2^step)) + eps)``, no momentum, no self-update of ``v``.
    A correction factor ``1 - β^t`` that is 0 is taken as 1.
    """
    b1, b2 = float(betas[0]), float(betas[1])
    m = exp_avg.to(G)
    v = exp_avg_sq.to(G)
    if mode == "less_code":
        m_new = torch.add(G * (1 - b1), m, alpha=b1)
        v_new = torch.add(G * G * (1 - b2), v, alpha=b2)
        return m_new / torch.sqrt(v_new + eps)
    if mode == "paper":
        t = int(step) + 1
        m_hat = torch.add(G * (1 - b1), m, alpha=b1) / _bias_correction(b1, t)
        v_hat = torch.add(G * G * (1 - b2), v, alpha=b2) / _bias_correction(b2, t)
        return m_hat / (torch.sqrt(v_hat) + eps)
    if mode == "frozen":
        return G / (torch.sqrt(v / _bias_correction(b2, int(step))) + eps)
    raise ValueError(f"adam_mode={mode!r} is not valid; choose one of {list(ADAM_MODES)}")
