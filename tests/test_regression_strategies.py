"""Every strategy's regression path (docs/tasks.md#regression): the predictive spread σ, BADGE's embedding g = σ h,
predictive variance, alignment with the exact MSE gradient of the target set, LESS, and the cold-start strategies on
a regression run, each checked by a property."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from alcore import strategies
from alcore.config import ConfigError, ExperimentConfig
from alcore.loop import Experiment
from alcore.models import build_model
from alcore.strategies.badge import kmeanspp
from alcore.strategies.base import PoolState
from alcore.strategies.less import Less
from alcore.strategies.targeted_regression import alignment_scores
from alcore.task import Regression
from alcore.train import TrainSettings, train_model
from alcore.uncertainty import last_layer_spread

TASK = Regression(0.0, 1.0)


def regression_state(n: int = 80, d: int = 5, labeled: int = 20, target: int = 15, seed: int = 0, epochs: int = 30,
                     dropout: float = 0.0, optimizer: str = "adam") -> PoolState:
    """A small MLP trained on the first ``labeled`` rows of a noisy linear target."""
    rng = np.random.default_rng(seed)
    X = torch.as_tensor(rng.normal(size=(n, d)), dtype=torch.float32)
    y = (X.numpy() @ rng.normal(size=d) + 0.1 * rng.normal(size=n)).astype(np.float64)
    lab, tgt = np.arange(labeled), np.arange(labeled, labeled + target)
    model = build_model("mlp", d, 1, seed=seed, hidden=[16], dropout=dropout)
    settings_ = TrainSettings(epochs=epochs, lr=1e-2, optimizer=optimizer, batch_size=16)
    result = train_model(model, X[lab], TASK.labels(y[lab]), settings_, seed=seed, loss=TASK.loss)
    return PoolState(X=X, pool_idx=np.arange(labeled + target, n), labeled_idx=lab, labeled_y=y[lab],
                     target_idx=tgt, target_y=y[tgt], n_classes=0, model=model, train_result=result,
                     train_settings=settings_, seed=seed, task=TASK)


# --- σ ------------------------------------------------------------------------------------------------------------

def test_the_spread_is_the_posterior_standard_deviation_of_the_last_layer() -> None:
    rng = np.random.default_rng(1)
    h, h_lab = rng.normal(size=(7, 4)), rng.normal(size=(12, 4))
    Ht, Lt = np.c_[h, np.ones(7)], np.c_[h_lab, np.ones(12)]
    cov = np.linalg.inv(np.eye(5) + Lt.T @ Lt)
    assert np.allclose(last_layer_spread(h, h_lab), np.sqrt(np.einsum("ij,jk,ik->i", Ht, cov, Ht)))
    assert np.allclose(last_layer_spread(h, np.zeros((0, 4))), np.linalg.norm(Ht, axis=1))  # no labels: ||h~||


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_labelling_a_point_never_raises_any_spread_and_lowers_its_own(seed) -> None:
    rng = np.random.default_rng(seed)
    h, h_lab = rng.normal(size=(10, 3)), rng.normal(size=(4, 3))
    before = last_layer_spread(h, h_lab)
    after = last_layer_spread(h, np.r_[h_lab, h[:1]])
    assert np.all(after <= before + 1e-12) and after[0] < before[0]


# --- BADGE ----------------------------------------------------------------------------------------------------------

def test_the_regression_embedding_norm_grows_with_the_spread() -> None:
    """g = σ h: the embedding's norm is σ·||h||, and labelling points (less uncertainty) shrinks σ and with it the
    norms BADGE samples by, most for the points labelled."""
    import dataclasses

    state = regression_state()
    a, h = state.pool_a.numpy(), state.pool_h.double().numpy()
    assert np.allclose(a[:, 0], state.pool_spread) and (a > 0).all()
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(h, axis=1)
    more = dataclasses.replace(state, labeled_idx=np.r_[state.labeled_idx, state.pool_idx[:10]])
    fewer_unknowns = np.linalg.norm(more.pool_a.numpy(), axis=1) * np.linalg.norm(h, axis=1)
    assert np.all(fewer_unknowns <= norms + 1e-9) and np.all(fewer_unknowns[:10] < norms[:10])
    order = np.argsort(state.pool_spread)
    same_features = np.linalg.norm(h, axis=1).mean() * state.pool_spread[order]
    assert np.all(np.diff(same_features) >= 0)  # at equal ||h||, the norm's order is σ's


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 12))
def test_kmeanspp_on_regression_embeddings_never_picks_a_point_twice(seed, k) -> None:
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(8, 3))
    h = np.r_[h, h[:4]]  # duplicates of other points
    sigma = np.abs(rng.normal(size=(12, 1)))
    sigma[:2] = 0.0  # zero embeddings too
    picks = kmeanspp(sigma, h, k, np.random.default_rng(seed))
    assert len(picks) == min(k, 12) and len(set(picks.tolist())) == len(picks)


def test_badge_selects_distinct_pool_points_of_a_regression_model_with_its_spread() -> None:
    state = regression_state()
    sel = strategies.get("badge").select(state, 10, np.random.default_rng(0))
    assert len(set(sel.indices)) == 10 and np.isin(sel.indices, state.pool_idx).all()
    first = state.pool_idx[np.argmax(state.pool_spread * np.linalg.norm(state.pool_h.double().numpy(), axis=1))]
    assert first in sel.indices  # the largest embedding is BADGE's first pick


# --- predictive variance --------------------------------------------------------------------------------------------

def test_variance_takes_the_largest_last_layer_variances() -> None:
    state = regression_state()
    sel = strategies.get("variance", method="last_layer").select(state, 5, np.random.default_rng(0))
    top = state.pool_idx[np.argsort(-state.pool_spread)[:5]]
    assert set(sel.indices) == set(top) and np.allclose(sel.utilities, state.pool_spread ** 2)


def test_mc_dropout_variance_is_seeded_and_zero_without_dropout() -> None:
    state = regression_state(dropout=0.3)
    variance = strategies.get("variance")
    a = variance.select(state, 5, np.random.default_rng(3))
    b = variance.select(state, 5, np.random.default_rng(3))
    assert a.diagnostics["method"] == "mc_dropout" and np.array_equal(a.utilities, b.utilities)
    assert (a.utilities > 0).all()
    plain = regression_state(dropout=0.0)
    c = strategies.get("variance", method="mc_dropout").select(plain, 5, np.random.default_rng(3))
    assert c.fallback_reason == "degenerate_scores" and (c.utilities == 0).all()
    assert strategies.get("variance").select(plain, 5, np.random.default_rng(3)).diagnostics["method"] == "last_layer"


# --- alignment ------------------------------------------------------------------------------------------------------

def _target_loss(model, X_T, y_T) -> float:
    with torch.no_grad():
        return float(TASK.loss(model(X_T).double(), torch.as_tensor(y_T)))


@pytest.mark.parametrize("params", ["all", "last_layer"])
def test_the_sign_of_the_alignment_score_is_the_sign_of_the_target_loss_drop_after_one_sgd_step(params) -> None:
    """With the point's true label, s(x, y) = <∇l(x, y), G_T>; one small SGD step on (x, y) lowers the target MSE
    exactly when s > 0, by about η s (float64, so the drop is far above rounding)."""
    import copy

    state = regression_state(epochs=10)
    model = copy.deepcopy(state.model).double()
    X_pool = state.X[torch.as_tensor(state.pool_idx)].double()
    X_T = state.X[torch.as_tensor(state.target_idx)].double()
    y_pool = np.random.default_rng(0).normal(size=len(X_pool))  # residuals of both signs and many sizes
    s, _ = alignment_scores(model, X_pool, X_T, state.target_y, TASK, params=params, y_pool=y_pool)
    base, eta = _target_loss(model, X_T, state.target_y), 1e-5
    for i in range(len(X_pool)):
        stepped = copy.deepcopy(model)
        chosen = [p for n, p in stepped.named_parameters() if params == "all" or n.startswith("head.")]
        loss = TASK.loss(stepped(X_pool[i:i + 1]), torch.tensor([y_pool[i]], dtype=torch.float64))
        with torch.no_grad():
            for p, g in zip(chosen, torch.autograd.grad(loss, chosen)):
                p -= eta * g
        drop = base - _target_loss(stepped, X_T, state.target_y)
        assert np.sign(s[i]) == np.sign(drop), (i, s[i], drop)
        assert drop == pytest.approx(eta * s[i], rel=1e-3, abs=1e-12)


def test_the_hallucinated_alignment_is_the_better_of_the_residuals_plus_and_minus_sigma() -> None:
    state = regression_state()
    X_pool, X_T = state.X[torch.as_tensor(state.pool_idx)], state.X[torch.as_tensor(state.target_idx)]
    sigma = state.pool_spread
    s, _ = alignment_scores(state.model, X_pool, X_T, state.target_y, TASK, sigma)
    f = state.pool_logits[:, 0].double().numpy()
    up, _ = alignment_scores(state.model, X_pool, X_T, state.target_y, TASK, y_pool=f - sigma)
    down, _ = alignment_scores(state.model, X_pool, X_T, state.target_y, TASK, y_pool=f + sigma)
    assert np.allclose(s, np.maximum(up, down), atol=1e-6) and (s >= 0).all()
    norm, g = alignment_scores(state.model, X_pool, X_T, state.target_y, TASK, sigma, params="last_layer",
                               normalize_candidates=True)
    assert np.all(norm <= g + 1e-9)  # |<∇f, G_T>| / ||∇f|| is at most ||G_T|| (Cauchy-Schwarz)


def test_alignment_without_the_diverse_draw_takes_the_top_k_of_the_hallucinated_residual_scores() -> None:
    state = regression_state()
    sel = strategies.get("alignment", diverse=False).select(state, 8, np.random.default_rng(0))
    assert sel.diagnostics["hallucinated_residual"] == "spread" and sel.fallback_reason is None
    assert set(sel.indices) == set(state.pool_idx[np.argsort(-sel.utilities)[:8]])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_diverse_regression_draw_starts_at_the_best_score_and_never_repeats_a_point(seed) -> None:
    state = regression_state()
    sel = strategies.get("alignment", diverse=True).select(state, 30, np.random.default_rng(seed))
    assert len(np.unique(sel.indices)) == 30 and np.isin(sel.indices, state.pool_idx).all()
    assert sel.indices[0] == state.pool_idx[np.argmax(sel.utilities)]  # the heaviest point comes first
    top = set(state.pool_idx[np.argsort(-sel.utilities)[:30]])
    assert set(sel.indices) != top  # the D² draw, not the top k
    assert len(sel.diagnostics["diverse_gains"]) == 30


@pytest.mark.parametrize("params", ["all", "last_layer"])
def test_the_seeds_rule_on_regression_takes_the_largest_gradients_among_the_positive_scores(params) -> None:
    """mode='norm': every hallucinated score is >= 0 (the better sign), so the rule orders the positive ones by
    ||∇l|| = σ ||∇f||, the size of the point's own gradient, largest first."""
    from alcore.strategies.targeted_regression import output_gradient_norms

    state = regression_state()
    sel = strategies.get("alignment", mode="norm", params=params, normalize_candidates=False,
                         diverse=False).select(state, 10, np.random.default_rng(0))
    X_pool = state.X[torch.as_tensor(state.pool_idx)]
    norms = state.pool_spread * output_gradient_norms(state.model, X_pool, params).numpy()
    s, _ = alignment_scores(state.model, X_pool, state.X[torch.as_tensor(state.target_idx)], state.target_y, TASK,
                            state.pool_spread, params=params)
    expected = np.where(s > 0, norms, s)
    assert np.allclose(sel.utilities, expected)
    assert set(sel.indices) == set(state.pool_idx[np.argsort(-expected)[:10]])
    assert sel.utilities[np.isin(state.pool_idx, sel.indices)].min() >= np.sort(expected)[-10]


@pytest.mark.parametrize("strategy, options, option", [
    ("alignment", {"label_mode": "argmax"}, "label_mode='argmax'"),
    ("alignment", {"greedy": True, "label_mode": "argmax", "diverse": False}, "greedy=True"),
    ("less", {"label_mode": "expected_cosine"}, "label_mode='expected_cosine'"),
    ("less", {"groups": "class"}, "groups='class'"),
])
def test_an_option_without_a_regression_form_is_refused_naming_strategy_option_and_task(strategy, options,
                                                                                        option) -> None:
    with pytest.raises(ConfigError) as err:
        ExperimentConfig(dataset="diabetes", strategy=strategy, target_size=20, strategy_options=options)
    message = str(err.value)
    assert repr(strategy) in message and option in message and "regression" in message


def test_the_diverse_draw_on_regression_uses_the_scored_residuals_sign_and_the_features() -> None:
    """D² between two picks is 2 - 2 sign(r_i r_c) cos(h~_i, h~_c): the factors are the residual each point was scored
    with (the better of ±σ) and the features with their bias column."""
    from alcore.strategies.targeted_regression import score_pool

    state = regression_state()
    res = score_pool(state.model, state.X[torch.as_tensor(state.pool_idx)],
                     state.X[torch.as_tensor(state.target_idx)], state.target_y, TASK, state.pool_spread)
    a, h = res.factors(state.pool_h)
    assert np.allclose(np.abs(a[:, 0]), state.pool_spread) and np.allclose(h[:, -1], 1.0)
    f = state.pool_logits[:, 0].double().numpy()
    df, _ = alignment_scores(state.model, state.X[torch.as_tensor(state.pool_idx)],
                             state.X[torch.as_tensor(state.target_idx)], state.target_y, TASK, y_pool=f - 1.0)
    assert np.allclose(res.scores, a[:, 0] * df)  # s = r <∇f, G_T>, r = ±σ of the same sign as <∇f, G_T>
    assert (np.sign(a[:, 0]) == np.sign(df))[df != 0].all()


# --- LESS -----------------------------------------------------------------------------------------------------------

def test_less_with_plain_gradients_scores_the_absolute_cosine_with_the_target_gradient() -> None:
    from alcore.gradients import flatten, iter_output_jacobians, mean_loss_gradient, param_names
    from alcore.strategies.targeted_regression import less_scores

    state = regression_state(optimizer="sgd")
    s, diagnostics = less_scores(Less(), state)
    names = param_names(state.model, "all")
    G_T = flatten(mean_loss_gradient(state.model, state.X[torch.as_tensor(state.target_idx)],
                                     torch.as_tensor(state.target_y, dtype=torch.float32), names, loss=TASK.loss),
                  names).double()
    J = torch.cat([J[:, 0] for _, J in iter_output_jacobians(state.model, state.X[torch.as_tensor(state.pool_idx)],
                                                                names)]).double()
    cos = (J @ G_T) / (torch.linalg.vector_norm(J, dim=1) * torch.linalg.vector_norm(G_T))
    assert diagnostics["gradient_type"] == "sgd"
    assert np.allclose(s, cos.abs().numpy(), atol=1e-5)


def test_less_mean_cosine_on_regression_is_the_mean_cosine_with_each_target_points_gradient() -> None:
    from alcore.gradients import iter_output_jacobians, param_names
    from alcore.strategies.targeted_regression import less_scores

    state = regression_state(optimizer="sgd")
    s, _ = less_scores(Less(target_agg="mean_cosine"), state)
    names = param_names(state.model, "all")

    def gradients(rows, y=None):
        f, J = zip(*iter_output_jacobians(state.model, state.X[torch.as_tensor(rows)], names))
        f, J = torch.cat(f)[:, 0].double(), torch.cat(J)[:, 0].double()
        g = J if y is None else (f - torch.as_tensor(y))[:, None] * J
        return g / torch.linalg.vector_norm(g, dim=1, keepdim=True)

    expected = (gradients(state.pool_idx) @ gradients(state.target_idx, state.target_y).T).mean(1).abs()
    assert np.allclose(s, expected.numpy(), atol=1e-5)
    plain, _ = less_scores(Less(), state)
    assert not np.allclose(s, plain)  # the option is honoured, not ignored


def test_less_with_adam_scores_lie_between_minus_one_and_one_and_rank_the_pool() -> None:
    state = regression_state(epochs=20)
    sel = strategies.get("less", warmup_min=5).select(state, 6, np.random.default_rng(0))
    assert sel.diagnostics["gradient_type"] == "adam" and sel.fallback_reason is None
    assert np.all(np.abs(sel.utilities) <= 1 + 1e-6)
    assert set(sel.indices) == set(state.pool_idx[np.argsort(-sel.utilities)[:6]])


# --- whole runs -----------------------------------------------------------------------------------------------------

REGRESSION_STRATEGIES = [s for s, spec in strategies.specs().items() if "regression" in spec.tasks]


@pytest.mark.parametrize("strategy", REGRESSION_STRATEGIES)
def test_every_regression_strategy_runs_from_zero_labels(strategy) -> None:
    needs_target = strategies.spec(strategy).needs_target
    config = ExperimentConfig(dataset="friedman1", dataset_options={"n_samples": 200}, strategy=strategy,
                              model_options={"hidden": [16]}, batch_size=10, cycles=3, epochs=5,
                              target_size=20 if needs_target else 0, display_size=80, device="cpu")
    exp = Experiment(config)
    records = exp.run()
    assert [len(r.selected) for r in records] == [10, 10, 10, 0]
    assert records[0].n_labeled == 0
    labelled = np.concatenate([r.selected for r in records])
    assert len(set(labelled.tolist())) == len(labelled) and np.isin(labelled, exp.split.pool).all()
    for r in records:
        assert np.isfinite(r.test_r2) and np.isfinite(r.test_mse) and np.isnan(r.test_accuracy)
        assert r.display_probs.shape == (len(exp.display_idx), 1) and r.display_a.shape[1] == 1
        assert np.isfinite(r.target_loss) == needs_target
    assert records[2].fallback_reason is None and records[2].selected_labels.dtype == np.float64  # LESS waits for 20


def test_a_resumed_regression_run_repeats_the_uninterrupted_one(tmp_path, same_records) -> None:
    config = ExperimentConfig(dataset="diabetes", strategy="badge", model_options={"hidden": [16]}, batch_size=10,
                              cycles=3, epochs=5, target_size=20, display_size=80, device="cpu")
    whole = Experiment(config).run()
    with Experiment(config, run_dir=tmp_path / "run") as part:  # the run's one writer, until it lets go
        part.run(2)
    rest = Experiment.resume(tmp_path / "run").run()
    same_records(part.records + rest, whole)


def test_a_text_regression_run_fits_its_features_on_the_pool_after_the_split() -> None:
    config = ExperimentConfig(dataset="rated_stories", dataset_options={"n_samples": 200}, strategy="random",
                              cycles=1, epochs=3, target_size=20, display_size=50, device="cpu")
    exp = Experiment(config)
    assert exp.dataset.X.shape[1] > 0 and exp.dataset.texts is not None
    assert exp.dataset_info()["task"]["name"] == "regression"
    pool_rating = exp.dataset.y[exp.split.target]
    assert not np.allclose(exp.target_y[exp.split.target], pool_rating)  # the target set is scored by its own rater
