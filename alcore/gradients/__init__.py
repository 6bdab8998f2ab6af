"""Gradient embeddings (docs/methods.md#gradient-kernels): small pure functions over arrays and models.

- ``factors``: the last-layer factors ``a = p - onehot(y)`` and ``h`` of ``g = a ⊗ h``; their norms, distances and
  cosines are ``alcore.distances``', computed from the factors, never from the ``n x C·d`` matrix.
- ``parameters``: which parameters to differentiate, in ``named_parameters()`` order, and eval mode while scoring.
- ``per_sample``: per-sample gradients of any parameter subset with ``torch.func``, chunked; every label's gradient;
  the outputs' per-sample Jacobian; the mean loss gradient of any task's loss.
- ``jvp``: inner products of every per-sample gradient with one direction through a single JVP.
- ``random_projection``: a seeded Rademacher projection whose matrix does not depend on the device.
- ``adam``: Adam-preconditioned gradient features for LESS.

This package re-exports their public names: ``from alcore.gradients import per_sample_gradients``.
"""
from __future__ import annotations

from alcore.distances import normalize_rows
from alcore.gradients.adam import ADAM_MODES, adam_features
from alcore.gradients.factors import bilinear_scores, gradient_factors, outer_embeddings, with_bias
from alcore.gradients.jvp import directional_logits, jvp_scores
from alcore.gradients.parameters import ParamSpec, eval_mode, flatten, model_at, n_params, param_names
from alcore.gradients.per_sample import (auto_chunk_size, iter_label_gradients, iter_output_jacobians,
                                         iter_per_sample_gradients, mean_loss_gradient, per_sample_gradient_norms,
                                         per_sample_gradients)
from alcore.gradients.random_projection import RademacherProjection

__all__ = ["ADAM_MODES", "ParamSpec", "RademacherProjection", "adam_features", "auto_chunk_size", "bilinear_scores",
           "directional_logits", "eval_mode", "flatten", "gradient_factors", "iter_label_gradients",
           "iter_output_jacobians", "iter_per_sample_gradients", "jvp_scores", "mean_loss_gradient", "model_at",
           "n_params", "normalize_rows", "outer_embeddings", "param_names", "per_sample_gradient_norms",
           "per_sample_gradients", "with_bias"]
