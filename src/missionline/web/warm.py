"""Computing the dashboards before anyone asks for them.

A cold dashboard costs seconds to tens of seconds (the alignment index and its trend, the
cascade's simulation), so ``missionline serve`` computes every page's unfiltered sections in a
background thread when it starts and again after each import; the first visitor then finds
them in the cache. A page requested meanwhile waits for the section being computed rather
than computing it twice (see :meth:`missionline.web.cache.Cache.get`).
"""

from __future__ import annotations

import logging
import threading

from missionline.web import pages
from missionline.web.filters import Filters
from missionline.web.state import AppState

log = logging.getLogger(__name__)


class Warmer:
    """Computes every page's unfiltered sections in a background thread, on demand."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> threading.Thread:
        """Start computing the pages (again) in a daemon thread; return it."""
        self.thread = threading.Thread(target=self._work, name="missionline-warm", daemon=True)
        self.thread.start()
        return self.thread

    def _work(self) -> None:
        for page in pages.PAGES:
            if self._stopping.is_set():
                return
            try:
                pages.panels(self.state, page, Filters())
            except Exception:  # a broken section must not stop the server; a visit shows it
                if not self._stopping.is_set():
                    log.exception("computing the %s page in advance failed", page)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop computing: cancel the running query and wait for the thread to end."""
        self._stopping.set()
        self.state.pool.interrupt()
        if self.thread is not None:
            self.thread.join(timeout)


def keep_warm(state: AppState) -> Warmer:
    """Compute the pages now and again after every import; ``stop()`` it before closing."""
    warmer = Warmer(state)
    state.after_import = warmer.start
    warmer.start()
    return warmer
