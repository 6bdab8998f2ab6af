"""Adam-preconditioned gradient features for LESS (docs/methods.md#adam-features)."""
from __future__ import annotations

import torch

ADAM_MODES = ("less_code", "paper", "frozen")


def _bias_correction(beta: float, t: int) -> float:
    """``1 - beta^t``; 1 where that is 0 (``beta = 1`` or ``t = 0``), i.e. no correction rather than a division
    by zero."""
    c = 1.0 - beta ** t
    return c if c > 0 else 1.0


def adam_features(G: torch.Tensor, exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor, mode: str = "less_code",
                  betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, step: int = 0) -> torch.Tensor:
    """Adam-preconditioned per-sample gradient features ``Γ`` (rows of ``G``; ``exp_avg``/``exp_avg_sq`` flattened
    over the same parameters, docs/methods.md#adam-features).

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
