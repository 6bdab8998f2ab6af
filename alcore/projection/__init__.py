"""Aligned t-SNE maps of the pool across cycles: the animated map of a run.

Each cycle's map places the same display points (``display``) from that cycle's embedding space (``spaces``): the
last-layer gradient embeddings ``g = a ⊗ h`` (distances from the factors, docs/methods.md#last-layer-embeddings,
never the n × C·d matrix), the penultimate features ``h``, or the raw inputs. A frame is made from exact-kNN
affinities (``affinities``), laid out from scratch or warm-started from the previous frame down a guarded ladder of
tiers (``initialization``), rigidly aligned to the previous frame (``frames``) and measured by its trustworthiness
on a fixed sample (``quality``). ``cycles`` runs that over a sequence of spaces, ``runs`` reads the spaces from a
run's records, ``cache`` keeps the frames on disk by prefix; ``settings`` holds every knob and the result type.

Everything here is a function over numpy arrays; this package re-exports the public names.
"""
from __future__ import annotations

from alcore.constants import SPACES
from alcore.distances import gradient_sq_distances
from alcore.projection.cache import cached_projection
from alcore.projection.cycles import project_cycles
from alcore.projection.display import display_subset
from alcore.projection.frames import mean_displacement, procrustes_align
from alcore.projection.initialization import NEW_SPACE, TIERS
from alcore.projection.quality import quality_sample, retained_trust
from alcore.projection.runs import map_records, project_records
from alcore.projection.settings import (GRADIENT_METHODS, MAX_PCA_DIMS, METRICS, ProjectionResult,
                                        ProjectionSettings)
from alcore.projection.spaces import gradient_pca

__all__ = ["GRADIENT_METHODS", "MAX_PCA_DIMS", "METRICS", "NEW_SPACE", "SPACES", "TIERS", "ProjectionResult",
           "ProjectionSettings", "cached_projection", "display_subset", "gradient_pca", "gradient_sq_distances",
           "map_records", "mean_displacement", "procrustes_align", "project_cycles", "project_records",
           "quality_sample", "retained_trust"]
