"""`python -m alcore.data [--n-samples N] [--noise S] [--seed K]`: the rated-stories numbers quoted in
docs/datasets.md#rated-stories (generation time, the raters' correlation, held-out R^2 per rater)."""

from __future__ import annotations

import argparse
import time

from .stories import DEFAULT_N_SAMPLES, generate, measure


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m alcore.data", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-samples", type=int, default=DEFAULT_N_SAMPLES)
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    generate(args.n_samples, args.noise, args.seed)
    elapsed = time.perf_counter() - start
    numbers = measure(args.n_samples, args.noise, args.seed)
    print(f"rated_stories: n_samples={args.n_samples}, noise={args.noise}, seed={args.seed}")
    print(f"generation time: {elapsed * 1000:.0f} ms; text features (TF-IDF + SVD(64), first call, scikit-learn "
          f"import included): {numbers['featurize_seconds']:.2f} s")
    print(f"correlation of rating_llm and rating_human: {numbers['correlation']:.3f}")
    print(f"held-out R^2 (ridge on TF-IDF + SVD(64) fitted on the pool, 25% test): "
          f"rating_llm {numbers['r2_llm']:.3f}, rating_human {numbers['r2_human']:.3f}")


if __name__ == "__main__":
    main()
