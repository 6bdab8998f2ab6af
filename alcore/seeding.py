"""Every random stream of a run, derived from its seed for one named purpose (docs/methods.md#randomness).

A stream is numpy's ``SeedSequence`` over ``[seed, cycle, tag]`` (or ``[seed, tag]`` for a purpose that is the same
every cycle), so streams are independent of each other and of the order in which they are asked for: two
strategies, or a replayed cycle, draw exactly what the run drew. The tags below are part of every stored run:
changing one changes what an old config reproduces. A new purpose is one more tag here and a call to ``generator``,
``integer`` or ``torch_generator``.

Four purposes take the run seed itself (``run_seed``), as they always have: the split, the model's
initialisation, the display subset and the fixed embedding. A library that needs an integer seed gets one drawn
from a purpose's stream (``child_seed``).

torch draws come from ``torch.Generator`` objects a run owns (``model_init_generator``, ``training_generators``,
``dropout_generator``), never from torch's global generator: runs in threads of one process (the app's workers)
then draw exactly what they draw alone.
"""
from __future__ import annotations

import zlib

import numpy as np

#: The initial labelled set: ``[seed, 1]``.
INITIAL_LABELS = 1
#: The integer seed of a cycle's training (its batches and, in ``alcore.train``, torch's generator):
#: ``[seed, cycle, 7]``.
TRAINING = 7
#: The Learn page's subsample of the pool for BADGE's trace: ``[seed, cycle, 11]``.
TOUR_TRACE = 11
#: The Learn page's subsample of the pool for the replayed scores: ``[seed, cycle, 13]``.
TOUR_SCORES = 13
#: The integer seed of a text dataset's features (the SVD of ``alcore.data.featurize``): ``[seed, 17]``.
TEXT_FEATURES = 17

#: Purposes seeded with the run seed itself: the pool / target / test split (``alcore.data.make_splits``), the
#: model's initialisation (``alcore.models.build_model``), the display subset and the fixed embedding's PCA.
SPLIT, MODEL, DISPLAY, FIXED_EMBEDDING = "split", "model", "display", "fixed_embedding"
_SEED_ITSELF = (SPLIT, MODEL, DISPLAY, FIXED_EMBEDDING)


def strategy_tag(name: str) -> int:
    """A strategy's tag: the CRC-32 of its name, so a strategy's stream does not depend on which others exist."""
    return zlib.crc32(name.encode())


def entropy(seed: int, tag: int, cycle: int | None = None) -> list[int]:
    """``[seed, cycle, tag]``, or ``[seed, tag]`` without a cycle."""
    return [int(seed), int(tag)] if cycle is None else [int(seed), int(cycle), int(tag)]


def generator(seed: int, tag: int, cycle: int | None = None) -> np.random.Generator:
    """The numpy generator of one purpose (one cycle)."""
    return np.random.default_rng(np.random.SeedSequence(entropy(seed, tag, cycle)))


def integer(seed: int, tag: int, cycle: int | None = None) -> int:
    """An integer seed in ``[0, 2**32)`` for one purpose (one cycle), for code that seeds itself from an int."""
    return int(np.random.SeedSequence(entropy(seed, tag, cycle)).generate_state(1)[0])


def torch_generator(seed: int, tag: int, cycle: int | None = None):
    """A CPU ``torch.Generator`` for one purpose (one cycle), seeded with ``integer``."""
    import torch

    return torch.Generator(device="cpu").manual_seed(integer(seed, tag, cycle))


# --- the purposes ------------------------------------------------------------------------------------------------

def initial_labels_rng(seed: int) -> np.random.Generator:
    return generator(seed, INITIAL_LABELS)


def training_seed(seed: int, cycle: int) -> int:
    return integer(seed, TRAINING, cycle)


def strategy_rng(seed: int, cycle: int, name: str) -> np.random.Generator:
    """One generator per (run seed, cycle, strategy): the order of strategies never matters."""
    return generator(seed, strategy_tag(name), cycle)


def strategy_run_seed(seed: int, name: str) -> int:
    """An integer seed a strategy keeps for the whole run (ProbCover's pseudo-labels, so its δ is the same every
    cycle)."""
    return integer(seed, strategy_tag(name))


def tour_rng(seed: int, cycle: int, tag: int) -> np.random.Generator:
    """The Learn page's subsampling at one cycle: ``tag`` is ``TOUR_TRACE`` or ``TOUR_SCORES``."""
    return generator(seed, tag, cycle)


def run_seed(seed: int, purpose: str) -> int:
    """The seed of a purpose that takes the run seed itself (``SPLIT``, ``MODEL``, ``DISPLAY``, ``FIXED_EMBEDDING``)."""
    if purpose not in _SEED_ITSELF:
        raise ValueError(f"purpose={purpose!r} is not seeded with the run seed; choose one of {list(_SEED_ITSELF)}")
    return int(seed)


def model_init_generator(seed: int):
    """The CPU generator of the model's initial weights: the run seed itself (``MODEL``), the seed torch's global
    generator was given for this before runs owned their generators, so stored runs keep their weights."""
    import torch

    return torch.Generator(device="cpu").manual_seed(run_seed(seed, MODEL))


def training_generators(value: int, device="cpu"):
    """``(shuffle, dropout)`` generators of a cycle's training, both seeded with its ``training_seed`` (``value``):
    the batch order (CPU) and the dropout masks (on ``device``, where the masks are drawn)."""
    import torch

    return torch.Generator(device="cpu").manual_seed(int(value)), dropout_generator(value, device)


def dropout_generator(value: int, device="cpu"):
    """A generator of dropout masks seeded with ``value`` on ``device`` (BALD's MC passes take ``child_seed`` of
    the strategy's stream; training takes ``training_seed``)."""
    import torch

    return torch.Generator(device=torch.device(device)).manual_seed(int(value))


def child_seed(rng: np.random.Generator, bits: int = 63) -> int:
    """An integer seed below ``2**bits - 1`` drawn from a stream, for a library that seeds itself (torch: 63 bits,
    scikit-learn: 31)."""
    return int(rng.integers(2**bits - 1))


def projection_block_generator(seed: int, block: int):
    """The CPU generator of column block ``block`` of a Rademacher projection: ``seed + 1000·block`` (the same
    matrix on every device, docs/methods.md#random-projection)."""
    import torch

    return torch.Generator(device="cpu").manual_seed(int(seed) + 1000 * int(block))
