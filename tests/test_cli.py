"""``python -m alcore run``: one line per cycle; bad input exits 2 with a one-line message, never a traceback."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import FAST, REPO_ROOT

from alcore.cli import main
from alcore.config import ExperimentConfig
from alcore.loop import Experiment
from alcore.store import RunStore

CYCLE_LINE = re.compile(r"cycle (\d+): labels=(\d+) test_acc=(\d\.\d{4}) test_loss=(\d+\.\d{4})")


def _fast_args(**overrides) -> list[str]:
    """CLI flags for the shared fast moons config: named flags where there are some, --set for the rest."""
    values = {**FAST, **overrides}
    named = {"dataset": "--dataset", "model": "--model", "strategy": "--strategy", "cycles": "--cycles",
             "batch_size": "--batch-size", "epochs": "--epochs", "seed": "--seed", "device": "--device",
             "initial_labels": "--initial-labels"}
    args = []
    for key, value in values.items():
        if key in named:
            args += [named[key], str(value)]
        else:
            args += ["--set", f"{key}={json.dumps(value)}"]
    return args


def _cycle_lines(text: str) -> list[tuple[int, int, float, float]]:
    return [(int(c), int(n), float(a), float(l)) for c, n, a, l in CYCLE_LINE.findall(text)]


def test_run_prints_one_line_per_cycle_with_labels_accuracy_and_loss(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", *_fast_args(strategy="margin", cycles=3, initial_labels=4), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    lines = [line for line in text.splitlines() if CYCLE_LINE.search(line)]
    assert len(lines) == 4, text
    records = RunStore(out).load_records(arrays=False)
    assert _cycle_lines(text) == [(r.cycle, r.n_labeled, round(r.test_accuracy, 4), round(r.test_loss, 4))
                                  for r in records]
    assert [n for _, n, _, _ in _cycle_lines(text)] == [4, 14, 24, 34]
    assert lines[-1].startswith("[" + "#" * 24 + "] 4/4")
    assert f"run stored in {out}" in text


def test_resume_continues_an_existing_run(tmp_path, capsys):
    out = tmp_path / "run"
    with Experiment(ExperimentConfig(**{**FAST, "cycles": 2}), run_dir=out) as exp:
        exp.run(1)
    assert main(["run", "--out", str(out), "--resume"]) == 0
    text = capsys.readouterr().out
    assert f"resuming {out} at cycle 1" in text
    assert [c for c, *_ in _cycle_lines(text)] == [1, 2]


def test_out_on_an_existing_run_with_another_config_stops_naming_the_differing_fields(tmp_path, capsys):
    out = tmp_path / "run"
    with Experiment(ExperimentConfig(**{**FAST, "cycles": 2}), run_dir=out) as exp:
        exp.run(1)
    before = sorted(p.name for p in (out / "cycles").iterdir())
    assert main(["run", *_fast_args(cycles=2, epochs=7, seed=4), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "already holds a run with a different config" in err and "--resume" in err
    assert "epochs: 5 -> 7" in err and "seed: 0 -> 4" in err and "cycles" not in err
    assert sorted(p.name for p in (out / "cycles").iterdir()) == before  # nothing written
    assert main(["run", *_fast_args(cycles=2), "--out", str(out)]) == 2  # the same config: still explicit
    assert "with this config: continue it with --resume" in capsys.readouterr().err


def test_resume_with_flags_that_differ_from_the_stored_run_stops(tmp_path, capsys):
    out = tmp_path / "run"
    with Experiment(ExperimentConfig(**{**FAST, "cycles": 2}), run_dir=out) as exp:
        exp.run(1)
    assert main(["run", "--out", str(out), "--resume", "--epochs", "9"]) == 2
    assert "epochs: 5 -> 9" in capsys.readouterr().err
    assert RunStore(out).n_cycles() == 1
    assert main(["run", "--out", str(tmp_path / "nothing"), "--resume"]) == 2
    assert "no run at" in capsys.readouterr().err


def test_a_run_in_a_child_process_stores_exactly_the_records_of_an_in_process_run(tmp_path, subprocess_env,
                                                                                  same_records):
    """Determinism across processes: the same config and seed give bit-identical stored records."""
    overrides = dict(strategy="entropy", cycles=3, initial_labels=3, seed=3)
    child = subprocess.run([sys.executable, "-m", "alcore", "run", *_fast_args(**overrides),
                            "--out", str(tmp_path / "child")], cwd=REPO_ROOT, env=subprocess_env,
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr
    assert len(_cycle_lines(child.stdout)) == 4 and "Traceback" not in child.stderr

    Experiment(ExperimentConfig(**{**FAST, **overrides}), run_dir=tmp_path / "here").run()
    same_records(RunStore(tmp_path / "child").load_records(), RunStore(tmp_path / "here").load_records())


@pytest.mark.slow  # a second interpreter start; the in-process cases below check the same messages
def test_a_config_error_in_a_child_process_exits_2_with_one_line_and_no_traceback(tmp_path, subprocess_env):
    child = subprocess.run([sys.executable, "-m", "alcore", "run", "--dataset", "nope", "--out", str(tmp_path / "r")],
                           cwd=REPO_ROOT, env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert child.returncode == 2
    assert child.stderr.startswith("error: dataset='nope' is not valid; choose one of [")
    assert "Traceback" not in child.stderr and len(child.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


ERRORS = {
    "unknown dataset": (["--dataset", "nope"], "dataset='nope' is not valid; choose one of"),
    "unknown model": (["--model", "rnn"], "model='rnn' is not valid; choose one of ['logreg', 'mlp', 'cnn']"),
    "unknown strategy": (["--strategy", "oracle"], "strategy='oracle' is not valid; choose one of"),
    "bad batch size": (["--batch-size", "0"], "batch_size=0 is not valid; it must be an integer in 1..10000000"),
    "unknown field": (["--set", "bacth_size=3"], "unknown config field(s) ['bacth_size']"),
    "budget over the pool": (["--dataset", "iris", "--batch-size", "50", "--cycles", "5"],
                             "is more than the pool holds (120 points)"),
    "cnn on tabular data": (["--dataset", "moons", "--model", "cnn"], "image-shaped"),
    "unknown dataset option": (["--dataset", "moons", "--set", 'dataset_options={"n_sample": 50}'],
                               "dataset_options.n_sample=50 is not valid; dataset 'moons' has no such option"),
    "bad strategy option": (["--strategy", "entropy", "--set", 'strategy_options={"t": 1}'],
                            "strategy_options.t=1 is not valid; strategy 'entropy' has no such option"),
    "bad strategy option value": (["--strategy", "bald", "--set", 'strategy_options={"n_passes": 0}'],
                                  "strategy_options for 'bald': n_passes=0 is not valid"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_bad_input_exits_2_with_a_message_naming_the_problem(case, tmp_path, capsys):
    args, message = ERRORS[case]
    out = tmp_path / "run"
    assert main(["run", *args, "--epochs", "1", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and message in captured.err, captured.err
    assert "Traceback" not in captured.err + captured.out
    assert not out.exists(), "a refused config must not leave a run folder behind"


def test_a_missing_or_broken_config_file_exits_2(tmp_path, capsys):
    assert main(["run", "--config", str(tmp_path / "missing.json"), "--out", str(tmp_path / "a")]) == 2
    assert "missing.json" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text('{"dataset": "digits",')
    assert main(["run", "--config", str(broken), "--out", str(tmp_path / "b")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


@pytest.mark.parametrize("content", ["[]", '"digits"'])
def test_a_config_file_that_is_not_a_json_object_exits_2(tmp_path, capsys, content):
    path = tmp_path / "config.json"
    path.write_text(content)
    assert main(["run", "--config", str(path), "--epochs", "1", "--out", str(tmp_path / "r")]) == 2
    assert "object" in capsys.readouterr().err


def test_a_malformed_flag_is_an_argparse_error_with_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--cycles", "many", "--out", str(tmp_path / "r")])
    assert exit_info.value.code == 2
    assert "invalid int value: 'many'" in capsys.readouterr().err
