"""alcore.seeding: every stream is the documented SeedSequence of its purpose (stored runs replay it), and purposes,
cycles and strategies never share a stream."""
from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

from alcore import seeding


def _draws(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 2**62, size=8)


def test_streams_are_the_documented_seed_sequences():
    # The entropy words are part of every stored run: a change here is a change of what old configs reproduce.
    seed, cycle = 12, 3
    expect = {
        "initial labels": np.random.default_rng(np.random.SeedSequence([seed, 1])),
        "strategy": np.random.default_rng(np.random.SeedSequence([seed, cycle, zlib.crc32(b"badge")])),
        "tour trace": np.random.default_rng(np.random.SeedSequence([seed, cycle, 11])),
        "tour scores": np.random.default_rng(np.random.SeedSequence([seed, cycle, 13])),
    }
    got = {
        "initial labels": seeding.initial_labels_rng(seed),
        "strategy": seeding.strategy_rng(seed, cycle, "badge"),
        "tour trace": seeding.tour_rng(seed, cycle, seeding.TOUR_TRACE),
        "tour scores": seeding.tour_rng(seed, cycle, seeding.TOUR_SCORES),
    }
    for name in expect:
        np.testing.assert_array_equal(_draws(got[name]), _draws(expect[name]), err_msg=name)
    assert seeding.training_seed(seed, cycle) == int(np.random.SeedSequence([seed, cycle, 7]).generate_state(1)[0])
    assert seeding.strategy_run_seed(seed, "probcover") == int(
        np.random.SeedSequence([seed, zlib.crc32(b"probcover")]).generate_state(1)[0])
    for purpose in (seeding.SPLIT, seeding.MODEL, seeding.DISPLAY, seeding.FIXED_EMBEDDING):
        assert seeding.run_seed(seed, purpose) == seed


def test_purposes_cycles_and_strategies_get_distinct_streams():
    streams = [seeding.strategy_rng(0, 1, "badge"), seeding.strategy_rng(0, 2, "badge"),
               seeding.strategy_rng(0, 1, "coreset"), seeding.strategy_rng(1, 1, "badge"),
               seeding.tour_rng(0, 1, seeding.TOUR_TRACE), seeding.tour_rng(0, 1, seeding.TOUR_SCORES),
               seeding.initial_labels_rng(0)]
    draws = [tuple(_draws(s)) for s in streams]
    assert len(set(draws)) == len(draws)


def test_a_stream_does_not_depend_on_what_was_drawn_before():
    first = _draws(seeding.strategy_rng(4, 2, "margin"))
    _draws(seeding.strategy_rng(4, 2, "entropy"))
    seeding.training_seed(4, 2)
    np.testing.assert_array_equal(_draws(seeding.strategy_rng(4, 2, "margin")), first)


def test_torch_generators_and_child_seeds_are_reproducible():
    a = torch.randint(0, 1000, (5,), generator=seeding.torch_generator(3, seeding.TRAINING, 1))
    b = torch.randint(0, 1000, (5,), generator=seeding.torch_generator(3, seeding.TRAINING, 1))
    assert torch.equal(a, b)
    assert seeding.child_seed(np.random.default_rng(0), bits=31) < 2**31 - 1
    assert seeding.child_seed(np.random.default_rng(0)) == int(np.random.default_rng(0).integers(2**63 - 1))
    block = torch.randint(0, 2, (4, 3), generator=seeding.projection_block_generator(5, 2))
    assert torch.equal(block, torch.randint(0, 2, (4, 3), generator=torch.Generator().manual_seed(2005)))


def test_a_purpose_without_its_own_stream_is_refused():
    with pytest.raises(ValueError, match="purpose='training'"):
        seeding.run_seed(0, "training")
