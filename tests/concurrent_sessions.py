"""Open the app's pages in several sessions at once, in a fresh process (nothing imported, no cache on disk), the
way several browser tabs open a freshly started server. Prints one line per problem, then ``problems: N``.

``python tests/concurrent_sessions.py RUNS_DIR RUN_ID [SESSIONS]``. Each session is an ``AppTest`` in its own
thread. Streamlit's server holds one script runtime and one compiled-script cache for all sessions; ``AppTest``
makes its own per run, so they are shared here as the server shares them. Used by tests/test_app_concurrency.py.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGES = [None, "pages/explore.py", "pages/export.py", "pages/learn.py", "pages/compare.py", "pages/explore.py",
         "pages/learn.py", None]


def share_the_server_state() -> None:
    """One runtime and one script-cache lock for every session, as in ``streamlit run``."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import script_cache

    first: dict = {}
    real = Runtime.__dict__["instance"].__func__

    def instance(cls):
        if "runtime" not in first and Runtime._instance is not None:
            first["runtime"] = Runtime._instance
        return first.get("runtime") or real(cls)

    Runtime.instance = classmethod(instance)
    Runtime.exists = classmethod(lambda cls: True)
    lock = threading.Lock()
    init = script_cache.ScriptCache.__init__

    def shared_lock(self) -> None:
        init(self)
        self._lock = lock

    script_cache.ScriptCache.__init__ = shared_lock


def main() -> int:
    runs_dir, run_id = sys.argv[1], sys.argv[2]
    sessions = int(sys.argv[3]) if len(sys.argv) > 3 else len(PAGES)
    os.environ["ALCORE_RUNS_DIR"] = runs_dir
    os.environ["ALCORE_SYNC"] = "1"
    sys.path.insert(0, str(REPO))
    problems: list[str] = []

    class Errors(logging.Handler):  # the server log: a page's guard logs what it turned into an st.error
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR and record.name.startswith(("alcore", "streamlit")):
                problems.append(f"log {record.name}: {record.getMessage()} {record.exc_text or ''}")

    logging.getLogger().addHandler(Errors())
    share_the_server_state()
    from streamlit.testing.v1 import AppTest

    start = threading.Barrier(sessions)

    def session(page: str | None) -> None:
        try:
            at = AppTest.from_file(str(REPO / "app.py"), default_timeout=600)
            at.query_params["run"] = run_id
            start.wait()
            at.run()
            if page is not None:
                at.switch_page(page).run()
            problems.extend(f"{page}: exception {e.value}" for e in at.exception)
            problems.extend(f"{page}: error {e.value}" for e in at.error)
        except Exception:  # noqa: BLE001  reported
            problems.append(f"{page}: {traceback.format_exc()}")

    threads = [threading.Thread(target=session, args=(PAGES[i % len(PAGES)],)) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in problems:
        print(p)
    print(f"problems: {len(problems)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
