"""``python -m alcore sweep``: plan the grid from the flags, run it with a progress line per job, record failures."""
from __future__ import annotations

import argparse
import sys
import time

from alcore import limits
from alcore import validation as v
from alcore.cli.args import add_config_args, config_values_from_args, progress_line
from alcore.config import ConfigError, ExperimentConfig
from alcore.run_group import DEFAULT_TARGET_SIZE, GroupRun
from alcore.sweep import BACKENDS, fit_budget, parse_list, parse_seeds, plan_groups, run_sweep, write_failures


def add_args(p: argparse.ArgumentParser) -> None:
    p.description = "Run a grid of datasets x strategies x seeds, one run folder per job."
    p.add_argument("--preset", help="a preset of assets/presets by name (e.g. seed-experiment): its base config, "
                                    "strategies and seeds; --datasets, --strategies, --seeds and the config flags "
                                    "given beside it override them")
    p.add_argument("--datasets", help="comma-separated dataset names (default: the config's dataset)")
    p.add_argument("--strategies", help="comma-separated strategy names (default: the config's strategy)")
    p.add_argument("--seeds", help="seeds: '0-4', '0,1,5' (default: the config's seed)")
    p.add_argument("--out", required=True, help="sweep root: one folder per job, plus failures.json")
    p.add_argument("--backend", choices=BACKENDS, default="joblib")
    p.add_argument("--jobs", type=int, default=-1, help="parallel jobs for joblib or a local Dask cluster "
                                                        "(-1: one per core, else 1 to 1024)")
    p.add_argument("--address", help="Ray address ('auto', 'ray://host:10001') or Dask scheduler "
                                     "('tcp://host:8786'); default: a local cluster")
    p.add_argument("--threads", type=int, default=1, help="torch threads per job (default 1: no oversubscription)")
    p.add_argument("--default-target-size", type=int, default=DEFAULT_TARGET_SIZE, dest="default_target_size",
                   help="target_size given to the grid when a target-aware strategy is in it and none is set")
    p.add_argument("--fit-budget", action="store_true", dest="fit_budget",
                   help="lower cycles per dataset to what its pool holds instead of failing those jobs")
    p.add_argument("--dry-run", action="store_true", dest="dry_run", help="list the jobs and exit")
    add_config_args(p)


def plan_from_args(args: argparse.Namespace) -> tuple[list[GroupRun], list[str]]:
    """The sweep's jobs and notes; ConfigError when no job of the grid has a valid config (a bad flag)."""
    _check_flags(args)
    preset = _preset(args)
    base = config_values_from_args(args, preset["base"])
    defaults = ExperimentConfig.__dataclass_fields__
    datasets = _names("--datasets", args.datasets, base.get("dataset", defaults["dataset"].default))
    strategies = preset["strategies"] if args.strategies is None and preset["strategies"] \
        else _names("--strategies", args.strategies, base.get("strategy", defaults["strategy"].default))
    seeds = parse_seeds(args.seeds) if args.seeds is not None else preset["seeds"] or [base.get("seed", 0)]
    groups, notes = plan_groups(base, datasets, strategies, seeds, args.default_target_size,
                                preset["strategy_options"])
    if args.fit_budget:
        groups, more = fit_budget(groups)
        notes += more
    jobs = [job for group in groups for job in group.runs(args.out)]
    errors = [_config_error(job) for job in jobs]
    if all(errors):  # nothing can run: a bad flag, not a bad job
        raise errors[0]
    return jobs, notes


def _names(flag: str, text: str | None, default: str) -> list[str]:
    """The comma-separated names of ``flag``; the config's own when the flag is absent, an error when it is empty."""
    if text is None:
        return [default]
    names = parse_list(text)
    if not names:
        v.fail(flag, text, "give at least one name, comma-separated (e.g. 'digits,wine')")
    return names


def _check_flags(args: argparse.Namespace) -> None:
    if args.jobs != -1:
        v.integer("--jobs", args.jobs, 1, 1024)
    v.integer("--threads", args.threads, 1, 256)
    v.integer("--default-target-size", args.default_target_size, 1, limits.MAX_ROWS)


def _preset(args: argparse.Namespace) -> dict:
    """The preset's grid (``alcore.presets.sweep_values``), or an empty one without --preset. Flags that would
    replace the preset as a whole, or name one run where the preset names several, are refused (a ConfigError in the
    one message format)."""
    if not args.preset:
        return {"base": {}, "strategies": [], "seeds": [], "strategy_options": {}}
    from alcore.presets import sweep_values

    refused = {"config": ("--config", "the config flags or --set FIELD=JSON"),
               "strategy": ("--strategy", "--strategies"), "seed": ("--seed", "--seeds")}
    for key, (flag, instead) in refused.items():
        if getattr(args, key, None) is not None:
            v.fail(flag, getattr(args, key), f"--preset {args.preset} sets the base config, strategies and seeds; "
                                             f"leave {flag} out and override the preset with {instead}")
    return sweep_values(args.preset)


def _config_error(job: GroupRun) -> ConfigError | None:
    try:
        ExperimentConfig.from_dict(job.config)
    except ConfigError as err:
        return err
    return None


def main(args: argparse.Namespace) -> int:
    jobs, notes = plan_from_args(args)
    for note in notes:
        print(f"note: {note}")
    if args.dry_run:
        for job in jobs:
            print(f"{job.run_id}  {job.manifest().get('status') if job.is_finished() else 'to run'}")
        return 0
    where = args.address or "local"
    width = "" if args.backend == "ray" else (", one job per core" if args.jobs < 1 else f", {args.jobs} jobs")
    print(f"sweep: {len(jobs)} runs into {args.out} on {args.backend} ({where}{width})", flush=True)
    done = [0]

    def report(r: dict) -> None:
        done[0] += 1
        text = f"{r['dataset']}/{r['strategy']}/seed {r['seed']}: {r['status']}"
        if r["status"] == "complete":
            resumed = f", resumed at cycle {r['resumed_from']}" if r.get("resumed_from") else ""
            short = {"test_accuracy": "test_acc"}.get(r.get("metric") or "test_accuracy", r.get("metric"))
            value = r.get("final_value", r.get("test_accuracy"))
            text += f" in {r['seconds']:.1f}s, {short}={value:.4f}{resumed}"
        elif r["status"] in ("failed", "diverged"):
            text += f": {(r['error'] or '').splitlines()[0][:200]}"
        elif r["status"] == "busy":
            text += f": {r['error']}"
        print(progress_line(done[0], len(jobs), text), flush=True)

    started = time.perf_counter()
    results = run_sweep(jobs, backend=args.backend, n_jobs=args.jobs, address=args.address, on_result=report,
                        threads=args.threads)
    counts = {s: sum(r["status"] == s for r in results) for s in ("complete", "diverged", "skipped", "failed", "busy")}
    path = write_failures(args.out, results)
    print(f"done in {time.perf_counter() - started:.1f}s: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    if counts["failed"]:
        print(f"{counts['failed']} job(s) failed; errors in {path} and in each run's manifest.json", file=sys.stderr)
        if any("budget" in (r["error"] or "") for r in results if r["status"] == "failed"):
            print("hint: --fit-budget lowers cycles to what each dataset's pool holds", file=sys.stderr)
        return 1
    return 0
