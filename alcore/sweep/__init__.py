"""Sweeps: a grid of datasets x strategies x seeds, one run folder per job, run by joblib, Ray or Dask.

``python -m alcore sweep --datasets digits,wine --strategies random,entropy --seeds 0-4 --out runs/sweep1``

- The grid is one group of runs per dataset (``alcore.run_group``): each job's folder is
  ``<root>/<dataset>-<strategy>-seed<seed>-<settings hash>``, so a rerun of the same sweep finds the same folders.
  A run whose manifest says ``complete`` is skipped, an incomplete one resumes from its last stored cycle.
- A job that raises is recorded in its manifest (``status="failed"``, ``error``) and in ``<root>/failures.json``;
  the others go on, and the command exits non-zero once all have finished.
- Two sweeps writing into one root never run the same job at once: a job first takes its run's writer lock
  (``alcore.run_lock``); a job another writer holds is reported ``busy``.

Files: ``plan`` (the grid), ``job`` (one job in a worker), ``backends`` (joblib / Ray / Dask), ``failures``
(``failures.json``). The command line is ``alcore.cli.sweep``.
"""
from __future__ import annotations

from alcore.sweep.backends import BACKENDS, run_sweep
from alcore.sweep.failures import FAILURES, read_failures, write_failures
from alcore.sweep.job import run_job
from alcore.sweep.plan import expand_grid, fit_budget, parse_list, parse_seeds, plan_groups

__all__ = ["BACKENDS", "FAILURES", "expand_grid", "fit_budget", "parse_list", "parse_seeds", "plan_groups",
           "read_failures", "run_job", "run_sweep", "write_failures"]
