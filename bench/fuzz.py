"""Fuzz what users hand the engine and the app: configs, JSON config files, uploads and URL queries.

    python bench/fuzz.py                  # 1,000 configs, 300 JSON files, 400 uploads, 300 queries (a few minutes)
    python bench/fuzz.py --smoke          # a tenth of that (the slow test runs it)
    python bench/fuzz.py --seed 7         # another draw (every draw is seeded: a failure is replayed exactly)

Targets, printed on the last line: 0 tracebacks (any exception but the engine's own ``ConfigError`` /
``DatasetError``, or a lookup's ``FileNotFoundError``), 0 messages that name no field (a ``ConfigError`` whose
``field`` is missing or absent from its message; a ``DatasetError`` that names neither the file nor an option), and
the process's peak memory below ``--ceiling-mb`` (default 3,000 MB: the largest accepted config's data and model
stay far below the engine's 8 GiB ceiling, and a refused one allocates nothing).

What is drawn:
- configs: every field of ``ExperimentConfig`` (and the model, dataset and strategy options) from values users
  type or paste: out-of-range numbers, NaN and infinities, booleans for numbers, text for numbers, huge sizes, empty
  lists, unknown names. An accepted config is then built into an ``Experiment`` (the data loaded, the budget and
  the memory checked against the data), and one cycle is run when it is small (few epochs, a small pool);
- JSON config files: those configs as text, in UTF-8 with and without a byte-order mark, UTF-16, Latin-1, cut
  short, deeply nested, or not JSON at all, read as ``--config`` does;
- uploads: CSV tables (separators, encodings, ragged rows, NaN and 31-digit cells, huge headers and lines) and NPZ
  archives (any dtype and shape, headers claiming shapes the archive does not hold, pickled objects, cut short);
- URL queries: values of ``?run=`` and ``?compare=`` (long, path-like, control characters, unicode), looked up as the
  pages do, and a few through the app itself (``AppTest``), which must draw without an exception;
- the other configs: sweep flags (``python -m alcore sweep --dry-run``) and GIF options.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import resource
import sys
import tempfile
import time
import traceback
import zipfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from alcore import data, strategies  # noqa: E402
from alcore.config import ConfigError, ExperimentConfig, read_json_object  # noqa: E402
from alcore.data import DatasetError  # noqa: E402

FULL = {"configs": 1000, "json": 300, "uploads": 400, "queries": 300, "app_queries": 12, "sweeps": 100, "gifs": 100}
STEP_MAX_EPOCHS, STEP_MAX_SAMPLES = 30, 2000  # an accepted config runs one cycle when it is this small


@dataclass
class Tally:
    """What the fuzzing found: counts per kind, and the failures with what caused them."""

    cases: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    accepted: int = 0
    stepped: int = 0
    tracebacks: list[str] = field(default_factory=list)
    unnamed: list[str] = field(default_factory=list)

    def case(self, kind: str) -> None:
        self.cases[kind] = self.cases.get(kind, 0) + 1


def check(tally: Tally, kind: str, what: Any, fn: Callable[[], Any], names: tuple[str, ...] = ()) -> Any:
    """Run ``fn``; count a refusal (its message must name a field: ``ConfigError.field``, or for a ``DatasetError``
    one of ``names``), a success, or a traceback (anything else)."""
    tally.case(kind)
    try:
        result = fn()
    except ConfigError as err:
        tally.refused += 1
        if not err.field or err.field.split(".")[0].lstrip("-") not in str(err):
            tally.unnamed.append(f"{kind}: {what!r:.300} -> {err}")
        return None
    except DatasetError as err:
        tally.refused += 1
        if names and not any(n and str(n) in str(err) for n in names):
            tally.unnamed.append(f"{kind}: {what!r:.300} -> {err}")
        return None
    except Exception:  # noqa: BLE001  what the bench counts
        tally.tracebacks.append(f"{kind}: {what!r:.300}\n{traceback.format_exc(limit=8)}")
        return None
    tally.accepted += 1
    return result


# --- drawing values ---------------------------------------------------------------------------------------------

class Draw:
    """Seeded draws of the values users hand the engine."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def pick(self, items):
        return items[int(self.rng.integers(len(items)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def junk(self) -> Any:
        return self.pick([None, True, False, 0, -1, 1, 2**32, 2**63, -2**70, 0.5, -0.0, 1e308, float("nan"),
                          float("inf"), -float("inf"), "", "x", "10", "1e3", "nan", "\u2603", "a" * 5000, [], [0],
                          [1, "a"], {}, {"a": 1}, [[1]], "\0"])

    def number(self, lo: float, hi: float) -> Any:
        if self.chance(0.8):
            return float(self.rng.uniform(lo, hi))
        return self.junk()

    def count(self, lo: int, hi: int) -> Any:
        if self.chance(0.95):
            return int(self.rng.integers(lo, hi + 1))
        return self.pick([0, -5, 10**7, 10**12, 2**31, 2.5, True, "20", None, float("nan"), self.junk()])


CONFIG_FIELDS = [f.name for f in fields(ExperimentConfig)]
SMALL_DATASETS = ["moons", "circles", "xor", "blobs", "classification", "iris", "wine", "breast_cancer", "digits"]


def draw_config(d: Draw) -> dict[str, Any]:
    """Config values: mostly sensible, each field wrong with some probability, sometimes unknown fields."""
    dataset = d.pick(SMALL_DATASETS + ["friedman1", "diabetes"]) if d.chance(0.95) else d.pick(
        ["nope", "Digits", "", None, 3])
    values: dict[str, Any] = {"dataset": dataset, "strategy": d.pick(list(strategies.available())) if d.chance(0.95) else d.pick(["bdage", None]),
                              "model": d.pick(["logreg", "mlp", "mlp", "cnn"]) if d.chance(0.95) else d.pick(
                                  ["resnet", None, ["mlp"]]),
                              "batch_size": d.count(1, 40), "cycles": d.count(1, 4), "epochs": d.count(1, 40),
                              "initial_labels": d.count(0, 30), "display_size": d.count(10, 300),
                              "device": "cpu" if d.chance(0.9) else d.pick(["auto", "cuda", "tpu"])}
    if isinstance(dataset, str) and dataset in ("moons", "circles", "xor", "blobs", "classification"):
        options = {"n_samples": d.count(20, 1500)}
        if d.chance(0.3):
            options[d.pick(["noise", "n_classes", "n_features", "random_state", "bogus"])] = d.pick(
                [d.number(0, 2), d.count(1, 6), d.junk()])
        values["dataset_options"] = options
    if d.chance(0.5):
        values["model_options"] = draw_model_options(d)
    if d.chance(0.3) and isinstance(values["strategy"], str) and values["strategy"] in strategies.available():
        spec = strategies.spec(values["strategy"])
        if spec.options:
            option = d.pick(list(spec.options))
            values["strategy_options"] = {option.name: d.pick([option.default, d.junk(), d.count(0, 50),
                                                               d.number(-1, 2)])}
    if d.chance(0.2) or (isinstance(values["strategy"], str) and d.chance(0.8)
                         and values["strategy"] in strategies.available() and strategies.spec(values["strategy"]).needs_target):
        values["target_size"] = d.count(0, 40)
    for _ in range(int(d.rng.integers(1, 3)) if d.chance(0.25) else 0):  # a few fields anything at all
        values[d.pick(CONFIG_FIELDS)] = d.junk() if d.chance(0.5) else d.pick(
            [d.number(-1, 2), d.count(-2, 50), d.pick(["adam", "sgd", "auto", "typiclust"])])
    if d.chance(0.03):
        values[d.pick(["bacth_size", "lr_rate", "", "x" * 300])] = 1
    for name, (lo, hi) in {"lr": (1e-5, 0.1), "test_size": (0.05, 0.6), "weight_decay": (0, 0.01)}.items():
        if d.chance(0.2):
            values[name] = d.number(lo, hi)
    if d.chance(0.1):
        values["warm_start"] = d.pick([True, False, "no", 0, None])
    if d.chance(0.15):  # "self" runs a model-based strategy on the untrained model of cycle 0
        values["cold_start_strategy"] = d.pick(["auto", "self", "self", "random", "typiclust", "badge", "nope"])
    if d.chance(0.05):
        values["seed"] = d.pick([2**32, 2**32 - 1, -1, 7, 2**64])
    return values


def draw_model_options(d: Draw) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if d.chance(0.6):
        options["hidden"] = [int(d.rng.integers(1, 64))] if d.chance(0.7) else d.pick(
            [[8, 8], [0], [], [-3], [10**6], [200_000, 200_000], 32, "64", [1.5], [4] * 20])
    if d.chance(0.5):
        options["dropout"] = float(d.rng.uniform(0, 0.9)) if d.chance(0.7) else d.pick(
            [0.0, 1.0, -0.1, float("nan"), float("inf"), "0.1", None, True])
    if d.chance(0.2):
        options["channels"] = d.pick([[4, 8], [0, 8], [4], [4, 8, 16], "4,8", [2**21, 4]])
    if d.chance(0.1):
        options[d.pick(["width", "depth", ""])] = 3
    return options


def small_enough_to_step(config: ExperimentConfig) -> bool:
    n = config.dataset_options.get("n_samples", 1797 if config.dataset == "digits" else 600)
    return config.epochs <= STEP_MAX_EPOCHS and n <= STEP_MAX_SAMPLES and config.device == "cpu"


def fuzz_configs(d: Draw, n: int, tally: Tally) -> list[dict[str, Any]]:
    """Construct each drawn config; build (and step, when small) the accepted ones. Returns the values drawn."""
    from alcore.loop import Experiment

    drawn = []
    for _ in range(n):
        values = draw_config(d)
        drawn.append(values)
        config = check(tally, "config", values, lambda: ExperimentConfig.from_dict(values))
        if config is None:
            continue
        names = (config.dataset, *config.dataset_options)
        exp = check(tally, "experiment", values, lambda: Experiment(config), names)
        if exp is not None and small_enough_to_step(config):
            tally.stepped += 1
            check(tally, "cycle", values, exp.step, names)
    return drawn


# --- JSON config files ------------------------------------------------------------------------------------------

def json_bytes(d: Draw, values: dict[str, Any]) -> bytes:
    text = json.dumps(values, default=str)
    kind = d.pick(["utf-8", "bom", "utf-16", "latin-1", "cut", "nested", "not-json", "array", "huge"])
    if kind == "bom":
        return "\ufeff".encode() + text.encode()
    if kind == "utf-16":
        return text.encode("utf-16")
    if kind == "latin-1":
        return (text[:-1] + ', "name": "caf\u00e9"}').encode("latin-1")
    if kind == "cut":
        raw = text.encode()
        return raw[:int(d.rng.integers(0, len(raw) + 1))]
    if kind == "nested":
        return ("[" * 100_000 + "]" * 100_000).encode()
    if kind == "not-json":
        return bytes(d.rng.integers(0, 256, 64, dtype=np.uint8))
    if kind == "array":
        return b"[1, 2, 3]"
    if kind == "huge":
        return json.dumps({"name": "x" * 2_000_000}).encode()
    return text.encode()


def fuzz_json(d: Draw, n: int, tally: Tally, drawn: list[dict[str, Any]], folder: Path) -> None:
    for i in range(n):
        raw = json_bytes(d, d.pick(drawn))
        path = folder / f"config-{i}.json"
        path.write_bytes(raw)
        check(tally, "json config", raw[:200], lambda: ExperimentConfig.from_dict(read_json_object(path, "--config")))


# --- uploads ----------------------------------------------------------------------------------------------------

CELLS = ["", "nan", "NaN", "inf", "-inf", "1e308", "1e400", "NA", "null", "1,5", '"', "0x1F", "1_000", "\u0661",
         "\u00e9", "TRUE", " 7 ", str(10**30), str(-10**30), "-0", "3.4e39"]


def csv_bytes(d: Draw) -> bytes:
    sep = d.pick([",", ";", "\t", "|"])
    kind = d.pick(["clean", "clean", "odd", "wide-header", "long-line", "ragged", "labels-31-digits", "binary"])
    n_cols, n_rows = int(d.rng.integers(1, 6)), int(d.rng.integers(0, 40))
    if kind == "wide-header":
        return (sep.join(f"c{i}" for i in range(int(d.rng.integers(10_001, 200_000)))) + "\n1\n").encode()
    if kind == "long-line":
        return b"a,b,label\n" + b"1" * int(d.rng.integers(2**20, 2**21)) + b",2,0\n"
    if kind == "binary":
        return bytes(d.rng.integers(0, 256, int(d.rng.integers(0, 400)), dtype=np.uint8))
    header = [f"f{i}" for i in range(n_cols - 1)] + ["label"]
    lines = [sep.join(header)]
    for r in range(n_rows):
        if kind == "clean":
            cells = [f"{v:.3f}" for v in d.rng.normal(size=n_cols - 1)] + [str(r % 3)]
        elif kind == "labels-31-digits":
            cells = [f"{v:.3f}" for v in d.rng.normal(size=n_cols - 1)] + [str(10**30 + r % 2)]
        else:
            width = n_cols if kind == "odd" else int(d.rng.integers(0, 8))
            cells = [d.pick(CELLS) if d.chance(0.4) else f"{d.rng.normal():.2f}" for _ in range(width)]
        lines.append(sep.join(cells))
    text = d.pick(["\n", "\r\n", "\r"]).join(lines)
    return text.encode(d.pick(["utf-8", "utf-8-sig", "utf-16", "latin-1"]), errors="replace")


def npz_claiming(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    """An NPZ whose array X has a header claiming ``shape`` over 64 bytes of data (and a small y)."""
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %r, }" % (descr, shape)
    header += " " * (118 - len(header)) + "\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("X.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + bytes(64))
        y = io.BytesIO()
        np.save(y, np.arange(8) % 2)
        z.writestr("y.npy", y.getvalue())
    return buf.getvalue()


def npz_bytes(d: Draw) -> bytes:
    kind = d.pick(["clean", "clean", "any", "lying-header", "pickle", "cut", "images"])
    if kind == "lying-header":
        return npz_claiming(d.pick([(10**10, 10**5), (2**40,), (10**6, 10**6, 10**3), (-1, 3)]),
                            d.pick(["<f8", "<i8", "|u1"]))
    n = int(d.rng.integers(0, 60))
    arrays: dict[str, Any] = {}
    if kind in ("clean", "cut"):
        arrays = {"X": d.rng.normal(size=(n, int(d.rng.integers(1, 5)))), "y": np.arange(n) % 3}
    elif kind == "images":
        arrays = {"X": d.rng.integers(0, 256, (n, 8, 8), dtype=np.uint8), "y": np.arange(n) % 2}
    elif kind == "pickle":
        arrays = {"X": np.zeros((n, 2)), "y": np.array([object()] * n + [1], dtype=object)}
    else:
        dtype = d.pick([np.float16, np.float32, np.int8, np.uint8, np.int64, np.bool_, np.complex64, "U3", "S2"])
        shape = tuple(int(s) for s in d.rng.integers(0, 6, int(d.rng.integers(0, 4))))
        arrays = {d.pick(["X", "y", "labels", "class_names"]): np.zeros(shape, dtype=dtype) for _ in range(3)}
    buf = io.BytesIO()
    (np.savez_compressed if d.chance(0.5) else np.savez)(buf, **arrays)
    raw = buf.getvalue()
    if kind == "cut":
        raw = raw[:int(d.rng.integers(0, len(raw) + 1))]
    return raw


def fuzz_uploads(d: Draw, n: int, tally: Tally) -> None:
    for _ in range(n):
        name = d.pick(["upload.csv", "upload.npz", "data.CSV", "x.txt", "noext", "../../etc/passwd.csv"])
        raw = csv_bytes(d) if name.lower().endswith(".csv") or d.chance(0.5) else npz_bytes(d)
        label = d.pick([None, None, "label", "y", "missing", 3, ""])
        option = d.pick([{}, {}, {"task": d.pick(["auto", "regression", "nope", 1])},
                         {"max_bytes": d.pick([10, 0, -1, True, 10**9])}])
        check(tally, "upload", (name, raw[:120], label, option),
              lambda: data.load_bytes(raw, name, label_column=label, **option),
              names=(Path(name).name, "label_column", "task", "max_bytes", "option"))


# --- URL queries ------------------------------------------------------------------------------------------------

def query_value(d: Draw) -> str:
    return d.pick(["", ".", "..", "../etc", "/etc/passwd", "a/b", "x" * int(d.rng.integers(200, 20_000)),
                   "run-1\0", "%2e%2e%2f", "\u202e\u2603" * 50, "cmp-20240101-000000-abcdef", "run with space",
                   "\n", "a" * 255, "a" * 256, "CON", "run-" + "9" * 100])


def fuzz_queries(d: Draw, n: int, n_app: int, tally: Tally, root: Path) -> None:
    from alcore import compare
    from pages.ui import runs

    os.environ["ALCORE_RUNS_DIR"] = str(root)
    for _ in range(n):
        value = query_value(d)
        check(tally, "?run=", value[:200], lambda: runs.run_dir_for(value))
        tally.case("?compare=")
        try:
            compare.load_comparison(root, value)
        except FileNotFoundError:
            pass
        except Exception:  # noqa: BLE001
            tally.tracebacks.append(f"?compare=: {value[:200]!r}\n{traceback.format_exc(limit=6)}")
    if n_app:
        fuzz_app_queries(d, n_app, tally)


def fuzz_app_queries(d: Draw, n: int, tally: Tally) -> None:
    """The pages themselves, opened with such queries: no exception, and no error box but for a bad value."""
    from streamlit.testing.v1 import AppTest

    os.environ.setdefault("ALCORE_SYNC", "1")
    os.environ.setdefault("ALCORE_PREPARE", "0")
    for _ in range(n):
        param, value = d.pick(["run", "compare"]), query_value(d)
        page = "pages/compare.py" if param == "compare" else d.pick([None, "pages/explore.py", "pages/export.py"])
        tally.case("app query")
        try:
            at = AppTest.from_file(str(REPO / "app.py"), default_timeout=300)
            at.query_params[param] = value
            at.run()
            if page is not None:
                at.switch_page(page).run()
            if at.exception:
                tally.tracebacks.append(f"app ?{param}={value[:100]!r} on {page}: {at.exception[0].value}")
        except Exception:  # noqa: BLE001
            tally.tracebacks.append(f"app ?{param}={value[:100]!r}\n{traceback.format_exc(limit=6)}")


# --- the other configs: sweeps, GIFs ----------------------------------------------------------------------------

def fuzz_sweeps(d: Draw, n: int, tally: Tally, root: Path) -> None:
    from alcore.cli import main

    for i in range(n):
        argv = ["sweep", "--dry-run", "--out", str(root / f"sweep-{i}")]
        for flag in ("--datasets", "--strategies", "--seeds", "--jobs", "--threads", "--epochs", "--cycles"):
            if d.chance(0.4):
                argv += [flag, str(d.pick(["", ",", " , ", "moons", "moons,iris", "nope", "0-3", "5-1", "0-99999999",
                                           "-1", "0", "3", "x", "random,entropy", "badge,badge", "1e3"]))]
        tally.case("sweep flags")
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                main(argv)
        except SystemExit:  # argparse's own message for a malformed flag (exit 2)
            pass
        except Exception:  # noqa: BLE001
            tally.tracebacks.append(f"sweep {argv}\n{traceback.format_exc(limit=6)}")


def fuzz_gifs(d: Draw, n: int, tally: Tally) -> None:
    from alcore.viz.gif import check_gif_options

    for _ in range(n):
        size = (d.pick([720, 63, 64, 4096, 5000, 0, -1, 2.5, "720", None]),
                d.pick([480, 64, 10**6, float("nan"), True]))
        fps, points = d.pick([2.0, 0, -1, 61, float("inf"), float("nan"), "2"]), d.pick([None, 0, 1, 10**6, -3, 2.5])
        frames = d.pick([1, 10, 10_000])
        check(tally, "gif options", (size, fps, points, frames),
              lambda: check_gif_options(size=size, fps=fps, max_points=points, n_frames=frames))


# --- the bench --------------------------------------------------------------------------------------------------

def run(seed: int, counts: dict[str, int], workdir: Path) -> Tally:
    """Every kind of input, ``counts`` of each, drawn from ``seed``."""
    d, tally = Draw(seed), Tally()
    drawn = fuzz_configs(d, counts["configs"], tally)
    fuzz_json(d, counts["json"], tally, drawn, workdir)
    fuzz_uploads(d, counts["uploads"], tally)
    fuzz_queries(d, counts["queries"], counts["app_queries"], tally, workdir)
    fuzz_sweeps(d, counts["sweeps"], tally, workdir)
    fuzz_gifs(d, counts["gifs"], tally)
    return tally


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="a tenth of the default counts")
    parser.add_argument("--ceiling-mb", type=float, default=3000.0, dest="ceiling_mb")
    for name, n in FULL.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=None, dest=name,
                            help=f"how many (default {n}, --smoke {max(1, n // 10)})")
    args = parser.parse_args(argv)
    counts = {k: getattr(args, k) if getattr(args, k) is not None else (max(1, n // 10) if args.smoke else n)
              for k, n in FULL.items()}
    os.environ.setdefault("ALCORE_CACHE_DIR", tempfile.mkdtemp(prefix="alcore-fuzz-cache-"))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="alcore-fuzz-") as tmp:
        tally = run(args.seed, counts, Path(tmp))
    peak = peak_memory_mb()
    for failure in tally.tracebacks[:20] + tally.unnamed[:20]:
        print(failure, file=sys.stderr)
    kinds = ", ".join(f"{v} {k}" for k, v in tally.cases.items())
    print(f"fuzz (seed {args.seed}): {kinds}; {tally.accepted} accepted, {tally.refused} refused, "
          f"{tally.stepped} cycles run; {time.perf_counter() - started:.0f} s")
    ok = not tally.tracebacks and not tally.unnamed and peak < args.ceiling_mb
    print(f"{len(tally.tracebacks)} tracebacks, {len(tally.unnamed)} messages that name no field, peak memory "
          f"{peak:.0f} MB (ceiling {args.ceiling_mb:.0f} MB): {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
