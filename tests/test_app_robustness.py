"""The app stays up on what other processes and odd URLs leave it: a junk manifest in the runs folder, a run another
process is writing, a very long ``?compare=`` query, a damaged cycle."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from alcore.loop import Experiment
from alcore.run_lock import RunLock

from conftest import REPO_ROOT, make_digits_config

APP = str(REPO_ROOT / "app.py")


def opened(page: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    if page is not None:
        at.switch_page(page).run()
    return at


def stored(runs: Path, name: str = "r1", n: int = 2) -> Path:
    with Experiment(make_digits_config(cycles=2), run_dir=runs / name) as exp:
        exp.run(n)
    return runs / name


def test_a_junk_manifest_is_listed_with_its_reason_and_every_page_draws(runs: Path) -> None:
    stored(runs)
    (runs / "junk").mkdir(parents=True)
    (runs / "junk" / "manifest.json").write_bytes(b'{"config": [1], "created": "soon"')
    for page in (None, "pages/explore.py", "pages/compare.py", "pages/learn.py", "pages/export.py"):
        at = opened(page)
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])
    assert any("junk" in c.value and "manifest.json cannot be read" in c.value for c in at.sidebar.caption)


def test_a_run_another_process_writes_says_so_and_offers_no_step(runs: Path) -> None:
    run = stored(runs)
    with RunLock(run):  # this test process stands for the other writer
        at = opened(run=run.name)
        assert not at.exception
        assert any("run r1 is being written by process" in w.value for w in at.warning)
        assert at.button(key="run_step").disabled and at.button(key="run_many").disabled
    at = opened(run=run.name)
    assert not at.button(key="run_step").disabled


def test_a_very_long_compare_query_is_a_notice_not_a_traceback(runs: Path) -> None:
    for value in ("x" * 10_000, "../" * 50, "cmp\0x"):
        at = opened("pages/compare.py", compare=value)
        assert not at.exception, [e.value for e in at.exception]
        assert any("No comparison" in w.value for w in at.warning)


def test_a_damaged_cycle_is_shown_with_a_warning_and_step_recomputes_it(runs: Path) -> None:
    run = stored(runs, n=3)
    npz = run / "cycles" / "cycle_00001.npz"
    npz.write_bytes(npz.read_bytes()[:100])
    at = opened("pages/explore.py", run=run.name)
    assert not at.exception and any("cycle 1 is damaged" in w.value for w in at.warning)
    at = opened(run=run.name)
    assert any("cycle 1 is damaged" in w.value for w in at.warning)
    # the count is of the cycles before the damaged one, which a Step continues from (it said 2 of 2 before)
    assert any("1 of 2 cycles run" in c.value for c in at.caption), [c.value for c in at.caption]
    at.button(key="run_step").click().run()  # resumes: cycle 1 computed again, then one more cycle
    assert not at.exception
    assert not any("damaged" in w.value for w in opened(run=run.name).warning)
