"""Errors on a page: a message and what to do next, never a traceback (that goes to the server log)."""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator

import streamlit as st

from alcore.config import ConfigError
from alcore.data import DatasetError

_log = logging.getLogger("alcore.app")

_WHAT_TO_DO = {
    ConfigError: "Change the setting named above and try again.",
    DatasetError: "Fix the file or the dataset options as described, then upload or choose again.",
    FileNotFoundError: "The run folder is gone or incomplete: pick another run or start a new one.",
    MemoryError: "The data does not fit in memory: subsample it or choose a smaller display size.",
}


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """Turn an unexpected exception into ``show_error`` (the traceback goes to the server log, not the page).

    Streamlit's own control flow (rerun, stop, page switch) derives from BaseException and passes through.
    """
    try:
        yield
    except Exception as err:  # noqa: BLE001  the page must never show a traceback
        _log.exception("page error")
        show_error(err)


def show_error(err: BaseException | str, what_to_do: str | None = None) -> None:
    """``st.error`` with the message and what to do next; never a traceback."""
    if isinstance(err, BaseException):
        message = str(err) or type(err).__name__
        if what_to_do is None:
            what_to_do = next((v for k, v in _WHAT_TO_DO.items() if isinstance(err, k)), None)
        if what_to_do is None:
            message = f"{type(err).__name__}: {message}"
            what_to_do = "Check the settings; if this keeps happening, report it with the run's config JSON."
    else:
        message = str(err)
    st.error(f"{message}\n\n**What to do:** {what_to_do}" if what_to_do else message, icon=":material/error:")
