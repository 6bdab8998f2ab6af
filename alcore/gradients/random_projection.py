"""A seeded Rademacher random projection whose matrix does not depend on the device
(docs/methods.md#random-projection)."""
from __future__ import annotations

import math

import torch

from alcore import seeding


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
        gen = seeding.projection_block_generator(self.seed, b)
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


#: Below this many parameters gradients are compared exactly, without a projection (``default_proj_dim``).
EXACT_MAX_PARAMS = 1 << 16


def default_proj_dim(n_params: int, device: torch.device) -> int:
    """No projection for small models: the projection only approximates the cosines in parameter space, and at
    ``P <= EXACT_MAX_PARAMS`` computing them exactly is cheaper than projecting. Above, LESS's 8192 on a GPU and
    1024 on a CPU."""
    if n_params <= EXACT_MAX_PARAMS:
        return n_params
    return 8192 if device.type == "cuda" else 1024
