"""`python -m alcore.data [--n-samples N] [--noise S] [--seed K] [--method M] [--svd-dims D]`: the rated-stories
numbers quoted in docs/datasets.md#rated-stories (generation time, the raters' correlation, held-out R^2 per rater)."""

from __future__ import annotations

import argparse
import time

from .stories import DEFAULT_N_SAMPLES, generate, measure
from .text_features import DEFAULT_SVD_DIMS, METHODS

LABEL_COUNTS = (20, 200)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m alcore.data", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-samples", type=int, default=DEFAULT_N_SAMPLES)
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--method", choices=[m for m in METHODS if m != "sentence_encoder"], default="tfidf")
    parser.add_argument("--svd-dims", type=int, default=DEFAULT_SVD_DIMS)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    generate(args.n_samples, args.noise, args.seed)
    elapsed = time.perf_counter() - start
    numbers = measure(args.n_samples, args.noise, args.seed, args.svd_dims, args.method, LABEL_COUNTS)
    features = f"{args.method} + SVD({args.svd_dims})"
    print(f"rated_stories: n_samples={args.n_samples}, noise={args.noise}, seed={args.seed}")
    print(f"generation time: {elapsed * 1000:.0f} ms; text features ({features}, first call, scikit-learn "
          f"import included): {numbers['featurize_seconds']:.2f} s")
    print(f"correlation of rating_llm and rating_human: {numbers['correlation']:.3f}")
    print(f"held-out R^2, ridge on {features} fitted on the pool, 25% test:")
    for suffix, what in (("", "every pool rating"), *((f"_{k}", f"{k} random pool ratings") for k in LABEL_COUNTS)):
        if f"r2_llm{suffix}" in numbers:
            print(f"  trained on {what}: rating_llm {numbers[f'r2_llm{suffix}']:.3f}, "
                  f"rating_human {numbers[f'r2_human{suffix}']:.3f}")
    print(f"  the model of every rating_llm, scored on rating_human: {numbers['r2_llm_model_on_human']:.3f}")


if __name__ == "__main__":
    main()
