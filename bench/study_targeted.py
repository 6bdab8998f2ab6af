"""Study: does target-aware selection lower the target loss faster than random sampling? Two targeted tasks.

    python bench/study_targeted.py                      # both tasks, seeds 0-4: the tables of docs/study.md
    python bench/study_targeted.py --task stories       # one task (digits or stories)
    python bench/study_targeted.py --seeds 5-9          # the same on seeds the defaults were not chosen on
    python bench/study_targeted.py --smoke              # 1 seed, 2 cycles, a few rows: what the tests run

Task (a), ``digits``: 10 classes, an MLP (the engine's defaults: 128 hidden units, Adam, 100 epochs), the target set
50 labelled points of classes 0-4 only, the test set all ten classes.

Task (b), ``stories``: the generated rated stories (docs/datasets.md#rated-stories), text features, an MLP with 64
hidden units and dropout 0.1 trained 50 epochs (the seed's-experiment preset's model); the pool is rated by the
``llm`` rater, the target set (50 stories) by the ``human`` rater. A reference block, computed first, says what
selection can win there: the target loss of predicting the mean, of a model of every pool rating, of one trained on
the target rater's ratings of every pool story (out of reach), of 20 + 100 random labels, and of 20 + 100 labels an
oracle chooses among the stories on which the two raters agree most (it sees both ratings; no strategy can).

Each run starts from 20 random labels (the same for every strategy of a seed) and buys 5 batches of 20 through
``alcore.loop.Experiment``, so these are the engine's own runs. A second block starts from zero labels (6 batches of
20) and compares the two cold starts, ``cold_start_strategy="self"`` (the strategy on the untrained network) and
``"auto"`` (the cold-start fallback: random on images, typiclust on features).

Columns, each the mean over seeds: ``share`` (digits) of picks from the target classes, or ``gap`` (stories) the
raters' mean disagreement ``|z_llm - z_human|`` on the stories bought, over its mean on the pool (1 = a typical story);
``final`` target loss (the target set's cross-entropy, or squared error of the standardised human ratings) after the
last batch; ``area``, the mean target loss after each batch (the area under the target-loss curve per cycle);
``below`` on how many seeds ``final`` / ``area`` is lower than random's in the same block and seed; ``acc`` the final
test accuracy (all ten classes), or ``r2`` the test R² on the pool rater's ratings; ``s/cycle`` the mean selection
time; ``cls0`` (digits) how many classes the first batch's true labels hold (a top-k rule on an untrained network
can pile into one); ``loss1`` the target loss after the first batch.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alcore import strategies  # noqa: E402
from alcore.config import ExperimentConfig  # noqa: E402
from alcore.loop import Experiment  # noqa: E402

TARGET_CLASSES = [0, 1, 2, 3, 4]
DIGITS = dict(dataset="digits", model="mlp", batch_size=20, target_size=50, target_classes=TARGET_CLASSES,
              display_size=200, device="cpu")
STORIES = dict(dataset="rated_stories", dataset_options={"pool_rater": "llm", "target_rater": "human"},
               model="mlp", model_options={"hidden": [64], "dropout": 0.1}, epochs=50, batch_size=20, target_size=50,
               display_size=200, device="cpu")
BLOCKS = {"warm": dict(initial_labels=20, cycles=5), "cold": dict(initial_labels=0, cycles=6)}
SMOKE_BLOCKS = {"warm": dict(initial_labels=20, cycles=2, epochs=10),
                "cold": dict(initial_labels=0, cycles=2, epochs=10)}
# The old default, spelled out: the hallucinated (argmax) label's inner product on all parameters, top k.
OLD_DEFAULT = {"params": "all", "label_mode": "argmax", "normalize_candidates": False, "diverse": False,
               "mode": "signed"}
LAST_LAYER = {**OLD_DEFAULT, "params": "last_layer"}
BEST_LABEL_COSINE = {**LAST_LAYER, "label_mode": "max", "normalize_candidates": True}
# A regression model has no argmax label: the better residual ±σ (docs/tasks.md#hallucinated-labels-in-regression).
SIGMA_ALL = {**OLD_DEFAULT, "label_mode": "max"}  # σ(x) |<∇f(x), G_T>| on all parameters, top k (part 1's rule)

# (row label, strategy, options, cold start, block); "alignment default" is whatever the engine's default is
DIGITS_ROWS = [
    ("random", "random", {}, "auto", "warm"),
    ("badge", "badge", {}, "auto", "warm"),
    ("alignment default", "alignment", {}, "auto", "warm"),
    ("alignment old default (all, argmax, top k)", "alignment", OLD_DEFAULT, "auto", "warm"),
    ("alignment seed's rule: mode=norm", "alignment", {**OLD_DEFAULT, "mode": "norm"}, "auto", "warm"),
    ("alignment seed's rule read as mode=magnitude", "alignment", {**OLD_DEFAULT, "mode": "magnitude"}, "auto",
     "warm"),
    ("alignment label_mode=max", "alignment", {**OLD_DEFAULT, "label_mode": "max"}, "auto", "warm"),
    ("alignment old default, diverse", "alignment", {**OLD_DEFAULT, "diverse": True}, "auto", "warm"),
    ("alignment last_layer", "alignment", LAST_LAYER, "auto", "warm"),
    ("alignment last_layer, normalize", "alignment", {**LAST_LAYER, "normalize_candidates": True}, "auto", "warm"),
    ("alignment last_layer, greedy", "alignment", {**LAST_LAYER, "greedy": True}, "auto", "warm"),
    ("alignment last_layer, max, normalize", "alignment", BEST_LABEL_COSINE, "auto", "warm"),
    ("alignment all, max, normalize", "alignment", {**BEST_LABEL_COSINE, "params": "all"}, "auto", "warm"),
    ("alignment last_layer, max, normalize, diverse", "alignment", {**BEST_LABEL_COSINE, "diverse": True},
     "auto", "warm"),
    ("ablation: default with its alignment weights set to 1", "alignment", {"_ablation": "flat_weights"}, "auto",
     "warm"),
    ("alignment all, max, normalize, diverse", "alignment", {**BEST_LABEL_COSINE, "params": "all", "diverse": True},
     "auto", "warm"),
    ("less default", "less", {}, "auto", "warm"),
    ("less reference code (mean_cosine, argmax)", "less", {"target_agg": "mean_cosine", "label_mode": "argmax"},
     "auto", "warm"),
    ("random", "random", {}, "auto", "cold"),
    ("badge, cold start self", "badge", {}, "self", "cold"),
    ("badge, cold start auto", "badge", {}, "auto", "cold"),
    ("alignment default (runs itself at cycle 0)", "alignment", {}, "auto", "cold"),
    ("alignment old default (all, argmax, top k)", "alignment", OLD_DEFAULT, "auto", "cold"),
    ("less default, cold start self", "less", {}, "self", "cold"),
    ("less default, cold start auto", "less", {}, "auto", "cold"),
]
STORIES_ROWS = [
    ("random", "random", {}, "auto", "warm"),
    ("badge", "badge", {}, "auto", "warm"),
    ("variance (σ alone, top k)", "variance", {}, "auto", "warm"),
    ("alignment default", "alignment", {}, "auto", "warm"),
    ("alignment seed's rule: mode=norm (all, σ||∇f||)", "alignment", {**SIGMA_ALL, "mode": "norm"}, "auto",
     "warm"),
    ("alignment σ|<∇f, G_T>| (all, top k)", "alignment", SIGMA_ALL, "auto", "warm"),
    ("alignment σ|<∇f, G_T>| (all), diverse", "alignment", {**SIGMA_ALL, "diverse": True}, "auto", "warm"),
    ("alignment σ|<∇f, G_T>| (last_layer), diverse", "alignment", {**SIGMA_ALL, "params": "last_layer",
                                                                    "diverse": True}, "auto", "warm"),
    ("alignment cosine (last_layer), top k", "alignment", {**BEST_LABEL_COSINE}, "auto", "warm"),
    ("alignment cosine (all), diverse", "alignment", {**BEST_LABEL_COSINE, "params": "all", "diverse": True},
     "auto", "warm"),
    ("ablation: default with its alignment weights set to 1", "alignment", {"_ablation": "flat_weights"}, "auto",
     "warm"),
    ("less default", "less", {}, "auto", "warm"),
    ("random", "random", {}, "auto", "cold"),
    ("badge, cold start self", "badge", {}, "self", "cold"),
    ("badge, cold start auto", "badge", {}, "auto", "cold"),
    ("alignment default (runs itself at cycle 0)", "alignment", {}, "auto", "cold"),
    ("alignment seed's rule (runs itself at cycle 0)", "alignment", {**SIGMA_ALL, "mode": "norm"}, "auto", "cold"),
    ("less default, cold start self", "less", {}, "self", "cold"),
    ("less default, cold start auto", "less", {}, "auto", "cold"),
]
TASKS = {"digits": {"config": DIGITS, "rows": DIGITS_ROWS,
                    "title": f"digits, MLP, target set 50 points of classes {TARGET_CLASSES}"},
         "stories": {"config": STORIES, "rows": STORIES_ROWS,
                     "title": "rated stories, MLP(64), pool rated by the llm rater, target set (50) by the human"}}
SMOKE_LABELS = {("random", "warm"), ("alignment default", "warm"), ("random", "cold"), ("badge, cold start self", "cold")}
WIDTH = max(len(r[0]) for t in TASKS.values() for r in t["rows"])


def smoke_rows(task: str) -> list[tuple]:
    return [r for r in TASKS[task]["rows"] if (r[0], r[4]) in SMOKE_LABELS]


SMOKE_ROWS = smoke_rows("digits")


def parse_seeds(text: str) -> list[int]:
    """'0-4' or '0,3,5'."""
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


@contextlib.contextmanager
def ablation(name: str | None):
    """``"flat_weights"``: alignment's diverse draw with every weight 1, i.e. k-means++ over the same gradient
    directions with the target ignored; shows how much of the default's effect the alignment weights carry."""
    if name is None:
        yield
        return
    if name != "flat_weights":
        raise ValueError(f"unknown ablation {name!r}")
    from alcore.strategies import alignment

    kept = alignment.ranking_utility
    alignment.ranking_utility = lambda scores, grad_norms, mode: np.ones_like(scores)
    try:
        yield
    finally:
        alignment.ranking_utility = kept


def run_one(strategy: str, options: dict, cold_start: str, start: dict, seed: int, task: str = "digits") -> dict:
    """One engine run from ``start`` (initial labels, cycles, ...); the per-run numbers the table averages."""
    options = dict(options)
    with ablation(options.pop("_ablation", None)):
        config = ExperimentConfig(**{**TASKS[task]["config"], **start, "strategy": strategy,
                                     "strategy_options": options, "cold_start_strategy": cold_start, "seed": seed})
        exp = Experiment(config)
        records = exp.run()
    picks = np.concatenate([r.selected for r in records[:-1]])
    losses = [r.target_loss for r in records]
    first = float("nan")  # classes among the first batch's true labels (a regression target has none)
    if exp.task.categorical:
        share, end = float(np.isin(exp.y[picks], TARGET_CLASSES).mean()), records[-1].test_accuracy
        first = float(len(np.unique(exp.y[records[0].selected])))
    else:
        share, end = float(disagreement(exp, picks) / disagreement(exp, exp.split.pool)), records[-1].test_r2
    return {"share": share, "final": losses[-1], "area": float(np.mean(losses[1:])), "acc": end, "cls0": first,
            "loss1": losses[1],
            "select_s": float(np.mean([r.timings["select"] for r in records[:-1]])), "curve": losses,
            "fallback_cycles": int(sum(r.fallback_reason is not None for r in records[:-1]))}


def disagreement(exp: Experiment, rows: np.ndarray) -> float:
    """Mean ``|z_pool rater - z_target rater|`` over ``rows``, both ratings standardised with the pool's scale."""
    return float(np.mean(np.abs(exp.task.encode(exp.y[rows]) - exp.task.encode(exp.target_y[rows]))))


def reference_losses(seed: int, start: dict, n_random: int = 5) -> dict:
    """What selection can win on the stories (module docstring): target losses of reference training sets."""
    from alcore.train import train_model

    exp = Experiment(ExperimentConfig(**{**STORIES, **start, "strategy": "random", "seed": seed}))
    pool, initial = exp.split.pool, exp.initial_labeled
    n_more = start["cycles"] * STORIES["batch_size"]

    def loss(rows: np.ndarray, ratings: np.ndarray) -> float:
        model = exp.new_model()
        train_model(model, exp.X[rows], exp.task.labels(exp.task.encode(ratings[rows])), exp.train_settings,
                    seed=0, loss=exp.task.loss)
        return exp.task.evaluate(model, exp.X[exp.split.target], exp.target_y[exp.split.target])["loss"]

    rest = np.setdiff1d(pool, initial)
    rng = np.random.default_rng(seed)
    agree = rest[np.argsort(np.abs(exp.task.encode(exp.y[rest]) - exp.task.encode(exp.target_y[rest])),
                            kind="stable")[:n_more]]
    return {"mean prediction": float(np.mean(exp.task.encode(exp.target_y[exp.split.target]) ** 2)),
            f"{len(initial)} random labels": loss(initial, exp.y),
            f"{len(initial)} + {n_more} random labels (mean of {n_random} draws)":
                float(np.mean([loss(np.concatenate([initial, rng.choice(rest, n_more, replace=False)]), exp.y)
                               for _ in range(n_random)])),
            f"{len(initial)} + {n_more} chosen by an oracle (raters agree most)":
                loss(np.concatenate([initial, agree]), exp.y),
            f"every pool label ({len(pool)})": loss(pool, exp.y),
            f"every pool story rated by the target rater ({len(pool)}, out of reach)": loss(pool, exp.target_y)}


def resolved(strategy: str, options: dict) -> dict:
    """Every option of the strategy with its value in this run (the defaults filled in): what the cache keys on."""
    plain = {k: v for k, v in options.items() if not k.startswith("_")}
    return {**dataclasses.asdict(strategies.get(strategy, **plain).options),
            **{k: v for k, v in options.items() if k.startswith("_")}}


def study(rows, seeds: list[int], blocks: dict, cache: Path | None = None, progress=None,
          task: str = "digits") -> list[dict]:
    """Every (row, seed) run, with a JSON cache keyed by the full run description when ``cache`` is given."""
    stored = json.loads(cache.read_text()) if cache is not None and cache.exists() else {}
    out = []
    for label, strategy, options, cold_start, block in rows:
        runs = []
        for seed in seeds:
            key = json.dumps([strategy, resolved(strategy, options), cold_start, blocks[block], seed]
                             + ([] if task == "digits" else [TASKS[task]["config"]]), sort_keys=True)
            if key not in stored:
                stored[key] = run_one(strategy, options, cold_start, blocks[block], seed, task)
                if cache is not None:
                    cache.write_text(json.dumps(stored))
            runs.append(stored[key])
        out.append({"label": label, "block": block, "runs": runs})
        if progress is not None:
            progress(label)
    return out


def table(results: list[dict], blocks: dict, task: str = "digits") -> str:
    """The study table, one block per starting point; below-random counts are paired by seed within a block."""
    share, end = ("share", "acc") if task == "digits" else ("gap", "r2")
    lines = []
    for block, start in blocks.items():
        rows = [r for r in results if r["block"] == block]
        if not rows:
            continue
        base = next((r for r in rows if r["label"] == "random"), None)
        n = len(rows[0]["runs"])
        lines.append(f"\n{block} start: {start['initial_labels']} initial labels, {start['cycles']} batches of "
                     f"{TASKS[task]['config']['batch_size']}, {n} seed(s)")
        lines.append(f"  {'strategy and options':{WIDTH}s} {share:>5s} {'final':>6s} {'area':>6s} {'below':>7s} "
                     f"{end:>5s} {'s/cycle':>7s}" + (f" {'cls0':>5s}" if task == "digits" else "") + f" {'loss1':>6s}")
        for r in rows:
            get = {k: np.array([run.get(k, np.nan) for run in r["runs"]])
                   for k in ("share", "final", "area", "acc", "select_s", "cls0", "loss1")}
            if base is None or r is base:
                below = "-"
            else:
                bf = np.array([run["final"] for run in base["runs"]])
                ba = np.array([run["area"] for run in base["runs"]])
                below = f"{int(np.sum(get['final'] < bf))}/{n},{int(np.sum(get['area'] < ba))}/{n}"
            lines.append(f"  {r['label']:{WIDTH}s} {get['share'].mean():5.2f} {get['final'].mean():6.3f} "
                         f"{get['area'].mean():6.3f} {below:>7s} {get['acc'].mean():5.3f} "
                         f"{get['select_s'].mean():7.3f}" + (f" {get['cls0'].mean():5.1f}" if task == "digits" else "")
                         + f" {get['loss1'].mean():6.3f}")
    return "\n".join(lines)


def reference_table(seeds: list[int], start: dict) -> str:
    """The stories' reference block: each training set's target loss, mean over seeds and per seed."""
    per_seed = [reference_losses(seed, start) for seed in seeds]
    lines = [f"\nreference (target loss of a training set, mean over seeds; per seed {seeds}):"]
    for name in per_seed[0]:
        values = [r[name] for r in per_seed]
        lines.append(f"  {name:{WIDTH}s} {np.mean(values):6.3f}  {' '.join(f'{v:.3f}' for v in values)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=("all", *TASKS), default="all")
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--smoke", action="store_true", help="1 seed, 2 cycles, 10 epochs, 4 rows a task")
    parser.add_argument("--only", default=None, help="comma-separated row numbers (0-based) of the task's rows")
    parser.add_argument("--cache", type=Path, default=None, help="JSON file of finished runs, reused and extended")
    parser.add_argument("--per-seed", action="store_true", help="also print the final target loss per seed")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    n_runs = 0
    for task in (TASKS if args.task == "all" else [args.task]):
        rows, seeds, blocks = TASKS[task]["rows"], parse_seeds(args.seeds), BLOCKS
        if args.smoke:
            rows, seeds, blocks = smoke_rows(task), seeds[:1], SMOKE_BLOCKS
        if args.only:
            rows = [TASKS[task]["rows"][int(i)] for i in args.only.split(",")]
        print(f"\n{TASKS[task]['title']}, seeds {args.seeds}" + (" (smoke)" if args.smoke else ""), flush=True)
        if task == "stories":
            print(reference_table(seeds, blocks["warm"]), flush=True)
        results = study(rows, seeds, blocks, args.cache, task=task,
                        progress=lambda label: print(f"  ... {label} ({time.perf_counter() - t0:.0f} s)",
                                                     file=sys.stderr, flush=True))
        print(table(results, blocks, task), flush=True)
        if args.per_seed:
            for r in results:
                print(f"  {r['block']:4s} {r['label']:{WIDTH}s} final per seed "
                      f"{[round(x['final'], 3) for x in r['runs']]}")
        n_runs += len(results) * len(seeds)
    print(f"\n{n_runs} runs in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
