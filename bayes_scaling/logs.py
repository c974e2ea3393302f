"""Messages and progress: the ``bayes_scaling`` logger, and how much of a nested job it says.

Every module logs to ``logging.getLogger(__name__)``, a child of ``bayes_scaling``:
progress of a job at INFO, its details at DEBUG, sampling problems at WARNING.
A library user configures it as any Python logger (nothing is shown below
WARNING until they do); the command line shows INFO on standard error
(``-q``: warnings only, ``-v``: details too). Progress bars are tqdm's,
shown only on a terminal.

A job that runs other jobs (an evaluation fits many splits) marks its inner
calls with :func:`nested`, so that their per-fit lines drop to DEBUG and the
outer job speaks for them.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from contextlib import contextmanager

#: The package's logger; modules log to its children (``bayes_scaling.inference``, ...).
LOGGER = "bayes_scaling"

_NESTED: contextvars.ContextVar[bool] = contextvars.ContextVar("bayes_scaling_nested", default=False)


@contextmanager
def nested():
    """Inside the block, jobs log their own progress at DEBUG: an outer job reports for them."""
    token = _NESTED.set(True)
    try:
        yield
    finally:
        _NESTED.reset(token)


def is_nested() -> bool:
    """Whether the current call runs inside :func:`nested`."""
    return _NESTED.get()


def progress_level() -> int:
    """The level of a job's progress messages: INFO, or DEBUG inside :func:`nested`."""
    return logging.DEBUG if _NESTED.get() else logging.INFO


def show_progress(logger: logging.Logger) -> bool | None:
    """Whether a progress bar may show: ``None`` (tqdm's: only on a terminal) or ``False``.

    ``False`` inside :func:`nested` and when ``logger`` would not show progress
    messages.
    """
    return None if logger.isEnabledFor(progress_level()) else False


def bar_disabled(show: bool | None) -> bool | None:
    """tqdm's ``disable`` for a progress flag: ``False`` hides the bar, ``None``/``True`` show it on a terminal only."""
    return True if show is False else None


def bar_hidden(logger: logging.Logger) -> bool | None:
    """tqdm's ``disable`` for a job's bar: hidden where ``logger`` would not show the job's progress."""
    return bar_disabled(show_progress(logger))


class _CurrentStderr(logging.StreamHandler):
    """A handler that writes to whatever ``sys.stderr`` is when a message comes (tests capture it per test)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass  # always the current standard error


def configure_cli(verbosity: int = 0) -> logging.Logger:
    """The command line's logging: messages on standard error, INFO by default.

    ``verbosity``: -1 warnings only (``-q``), 0 progress, 1 details (``-v``).
    """
    logger = logging.getLogger(LOGGER)
    logger.setLevel({-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG))
    if not any(getattr(h, "bayes_scaling_cli", False) for h in logger.handlers):
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.bayes_scaling_cli = True
        logger.addHandler(handler)
    # The CLI's handler speaks for the package; a root handler would print the same lines twice.
    logger.propagate = False
    return logger
