"""Runs in threads of one process (the app's workers) compute exactly what they compute alone: every random draw
comes from generators the run owns (alcore.seeding), torch's global generator is never used."""
from __future__ import annotations

import threading

import torch

from alcore.loop import Experiment
from alcore.models import build_model
from alcore.train import TrainSettings, train_model

from conftest import make_fast_config

# dropout in training and BALD's MC passes: the draws that came from torch's global generator; two BALD runs start
# from zero labels with cold_start_strategy="self" (MC passes over the untrained, seeded model at cycle 0)
THREADED = [dict(strategy="bald", seed=s, model_options={"hidden": [16], "dropout": 0.3}, epochs=8,
                 **({"initial_labels": 10} if s < 2 else {"initial_labels": 0, "cold_start_strategy": "self"}))
            for s in range(4)] + \
           [dict(strategy="entropy", seed=s, model_options={"hidden": [16], "dropout": 0.5}, initial_labels=10,
                 epochs=8) for s in range(4)]


def _selections(records) -> list[list[int]]:
    return [r.selected.tolist() for r in records]


def test_eight_runs_in_threads_select_what_they_select_one_after_another(same_records):
    configs = [make_fast_config(**values) for values in THREADED]
    serial = [Experiment(c).run() for c in configs]
    threaded: list = [None] * len(configs)
    errors: list[BaseException] = []
    start = threading.Barrier(len(configs))

    def work(i: int) -> None:
        try:
            exp = Experiment(configs[i])
            start.wait()  # every run's cycles overlap the others'
            threaded[i] = exp.run()
        except BaseException as err:  # noqa: BLE001  reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(configs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert [_selections(r) for r in threaded] == [_selections(r) for r in serial]
    for got, want in zip(threaded, serial):
        same_records(got, want)


def test_a_run_leaves_torchs_global_generator_untouched_and_ignores_it():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    config = make_fast_config(**THREADED[0])
    first = Experiment(config).run()
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(999)  # another global state: the same run
    assert _selections(Experiment(config).run()) == _selections(first)


def test_model_weights_equal_the_ones_drawn_under_torch_manual_seed():
    """Stored runs were made with the global generator seeded with the run seed: the run's own generator draws
    the very same weights."""
    from alcore.models import CNN, MLP, LogReg

    cases = [("logreg", lambda: LogReg(6, 3, dropout=0.1), {"dropout": 0.1}),
             ("mlp", lambda: MLP(6, 3, hidden=(8, 5), dropout=0.2), {"hidden": (8, 5), "dropout": 0.2}),
             ("cnn", lambda: CNN((8, 8), 3, channels=(4, 6), hidden=7), {"channels": (4, 6), "hidden": 7})]
    for name, construct, options in cases:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(17)
            want = construct().state_dict()
        got = build_model(name, 64 if name == "cnn" else 6, 3, (8, 8), seed=17, **options).state_dict()
        assert want.keys() == got.keys()
        for key in want:
            assert torch.equal(want[key], got[key]), (name, key)


def test_dropout_masks_equal_the_ones_of_nn_dropout_under_the_same_seed():
    X, y = torch.randn(40, 6, generator=torch.Generator().manual_seed(0)), torch.arange(40) % 3
    settings = TrainSettings(epochs=4, batch_size=16)
    model = build_model("mlp", 6, 3, seed=5, hidden=[8], dropout=0.4)
    train_model(model, X, y, settings, seed=11)
    reference = build_model("mlp", 6, 3, seed=5, hidden=[8], dropout=0.4)
    reference.body[-1] = torch.nn.Dropout(0.4)  # torch's own module, drawing from the global generator
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        gen = torch.Generator().manual_seed(11)
        reference.train()
        opt = torch.optim.Adam(reference.parameters(), lr=settings.lr)
        for _ in range(settings.epochs):
            order = torch.randperm(40, generator=gen)
            for s in range(0, 40, settings.batch_size):
                idx = order[s:s + settings.batch_size]
                opt.zero_grad(set_to_none=True)
                torch.nn.functional.cross_entropy(reference(X[idx]), y[idx]).backward()
                opt.step()
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
