"""Metric results cached per workspace, view and data version; an import empties the cache.

Dashboard pages cache each section on its own (per filters), so a section two pages show is
computed once, and a slow section never makes the others of its page compute again.

The data version is the pool's (see :mod:`missionline.web.pool`): it moves only once an
import has committed, so a result is never stored under a version older than its data.
Concurrent requests for the same key compute it once; the others wait for the result.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

T = TypeVar("T")
Version = tuple[int, str]


class Cache:
    """A bounded least-recently-used cache of one data version."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.version: Version | None = None
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._pending: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _lookup(self, version: Version, key: Hashable) -> tuple[bool, Any]:
        """(found, value) under the lock, moving to a newer version (and emptying) if needed."""
        if self.version is None or version > self.version:
            self.version = version
            self._items.clear()
        if version == self.version and key in self._items:
            self._items.move_to_end(key)
            return True, self._items[key]
        return False, None

    def peek(self, version: Version, key: Hashable) -> tuple[bool, Any]:
        """(found, value) for ``key`` at ``version``, without computing anything."""
        with self._lock:
            found, value = self._lookup(version, key)
            self.hits += found
            return found, value

    def get(self, version: Version, key: Hashable, compute: Callable[[], T]) -> T:
        """The value for ``key`` at ``version``, computing it (once) when missing.

        A request still reading an older snapshot than the cache's gets a fresh, uncached
        result: its numbers match its own snapshot and never overwrite newer ones.
        """
        with self._lock:
            found, value = self._lookup(version, key)
            if found:
                self.hits += 1
                return cast(T, value)
            gate = self._pending.setdefault((version, key), threading.Lock())
        with gate:
            with self._lock:
                found, value = self._lookup(version, key)
                if found:
                    self.hits += 1
                    return cast(T, value)
                self.misses += 1
            try:
                result = compute()
            except BaseException:
                with self._lock:
                    self._pending.pop((version, key), None)
                raise
            with self._lock:
                if version == self.version:
                    self._items[key] = result
                    while len(self._items) > self.size:
                        self._items.popitem(last=False)
                self._pending.pop((version, key), None)
            return result
