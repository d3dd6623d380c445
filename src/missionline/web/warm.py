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


def warm(state: AppState) -> threading.Thread:
    """Start computing every page's unfiltered sections in a daemon thread; return it."""

    def work() -> None:
        for page in pages.PAGES:
            try:
                pages.panels(state, page, Filters())
            except Exception:  # a broken section must not stop the server; a visit shows it
                log.exception("computing the %s page in advance failed", page)

    thread = threading.Thread(target=work, name="missionline-warm", daemon=True)
    thread.start()
    return thread


def keep_warm(state: AppState) -> threading.Thread:
    """Warm the pages now and again after every import; return the thread warming them now."""
    state.after_import = lambda: warm(state)
    return warm(state)
