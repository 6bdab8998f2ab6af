"""Why target-aware selection wins or loses on the rated stories (docs/study.md#task-b-rated-stories).

    OMP_NUM_THREADS=1 python bench/diagnose_stories.py          # seeds 0-4, the study's warm start

For each strategy, over the study's warm runs (``bench/study_targeted.py``, task ``stories``), what it buys: the mean
``|z|`` of the two ratings of the bought stories, the raters' disagreement ``|z_llm - z_human|`` and the share of the
attributes the raters agree or differ on (docs/datasets.md#how-the-two-raters-rate). For alignment, the residual sign
each bought story was scored with (the better of ``±σ``) against the sign of the residual of its real labels: the
pool rater's (the label the run gets) and the target rater's (what the target set wants); ``pool`` is the same match
over every pool story.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alcore.config import ExperimentConfig  # noqa: E402
from alcore.data.stories import CLICHES, ENDINGS, REGISTERS, TONES, generate  # noqa: E402
from alcore.loop import Experiment  # noqa: E402
from alcore.models import predict  # noqa: E402
from alcore.strategies import targeted_regression  # noqa: E402
from bench.study_targeted import BLOCKS, SIGMA_ALL, STORIES, parse_seeds  # noqa: E402

ROWS = [("random", "random", {}), ("badge", "badge", {}), ("less default", "less", {}),
        ("alignment default", "alignment", {}),
        ("alignment seed's rule (mode=norm)", "alignment", {**SIGMA_ALL, "mode": "norm"}),
        ("alignment σ|<∇f, G_T>| (all, top k)", "alignment", SIGMA_ALL)]


def attributes() -> dict[str, np.ndarray]:
    """Per story (the dataset's defaults), the attributes the two raters weigh differently or alike."""
    a = generate().attributes
    return {"arc": a["coherent_arc"].astype(float), "open": (a["ending"] == ENDINGS.index("open")).astype(float),
            "cliches": sum(a[f"cliche={c}"] for c in CLICHES).astype(float),
            "ornate": (a["register"] == REGISTERS.index("ornate")).astype(float),
            "humour": (a["tone"] == TONES.index("humorous")).astype(float),
            "episodes": a["episodes"].astype(float)}


def run(strategy: str, options: dict, seed: int, signs: list) -> tuple[Experiment, list]:
    """One warm study run; ``signs`` collects, per alignment selection, (pool rows, f, the scored residuals)."""
    kept = targeted_regression.pool_scores

    def spy(strat, state):
        res = kept(strat, state)
        f = predict(state.model, state.X, state.device, rows=state.pool_idx)[0][:, 0].double().numpy()
        signs.append((state.pool_idx.copy(), f, np.sign(res.residual)))
        return res

    targeted_regression.pool_scores = spy
    try:
        exp = Experiment(ExperimentConfig(**{**STORIES, **BLOCKS["warm"], "strategy": strategy,
                                             "strategy_options": options, "seed": seed}))
        return exp, exp.run()
    finally:
        targeted_regression.pool_scores = kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0-4")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    feats = attributes()
    pool_means: dict[str, list] = {}
    for label, strategy, options in ROWS:
        got: dict[str, list] = {}
        for seed in parse_seeds(args.seeds):
            signs: list = []
            exp, records = run(strategy, options, seed, signs)
            z = {"llm": exp.task.encode(exp.y), "human": exp.task.encode(exp.target_y)}
            picks = np.concatenate([r.selected for r in records[:-1]])
            for name, rows, out in (("picks", picks, got), ("pool", exp.split.pool, pool_means)):
                values = {"|z_llm|": np.abs(z["llm"][rows]).mean(), "|z_human|": np.abs(z["human"][rows]).mean(),
                          "gap": np.abs(z["llm"][rows] - z["human"][rows]).mean(),
                          **{k: v[rows].mean() for k, v in feats.items()}}
                for k, v in values.items():
                    out.setdefault(k, []).append(float(v))
            for (pool_idx, f, sign), record in zip(signs, records):
                at = {i: n for n, i in enumerate(pool_idx)}
                pos = np.array([at[i] for i in record.selected])
                for rater in ("llm", "human"):
                    got.setdefault(f"sign={rater}", []).append(
                        float(np.mean(np.sign(f[pos] - z[rater][record.selected]) == sign[pos])))
                got.setdefault("sign=llm, pool", []).append(float(np.mean(np.sign(f - z["llm"][pool_idx]) == sign)))
        print(f"{label:36s} " + "  ".join(f"{k} {np.mean(v):.2f}" for k, v in got.items()), flush=True)
    print(f"{'the pool':36s} " + "  ".join(f"{k} {np.mean(v):.2f}" for k, v in pool_means.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
