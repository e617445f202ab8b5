"""Compiled programs cached per user objective without keeping the objective alive.

A compiled device loop is specific to one objective ``f``; caching it under ``f``
saves a compile when the same ``f`` is minimized again. A plain dict keyed by ``f``
would keep ``f`` (a closure, with whatever data it references) alive for the life
of the process. Here the objective is a weak key, and the cached programs reach it
only through a weak reference, so dropping the last user reference frees both.
"""

from __future__ import annotations

import inspect
import types
import weakref
from collections import OrderedDict
from typing import Any, Callable, Hashable

__all__ = ["ObjectiveCache"]


class ObjectiveCache:
    """A cache of values built per ``(objective, key)``, holding the objective weakly.

    ``build(get_f)`` receives a function returning the objective; the value it builds
    must call it (at trace time) instead of holding ``f`` itself. Objectives that
    cannot be weakly referenced (or hashed) are not cached: the value is built anew.
    Bound methods are keyed by their instance and function, since ``obj.method`` is a
    new object on every attribute access.

    Args:
        size: Values kept per objective (least recently used dropped first).
    """

    def __init__(self, size: int = 16):
        self.size = size
        self._by_anchor: "weakref.WeakKeyDictionary[Any, OrderedDict]" = weakref.WeakKeyDictionary()

    def get(self, f: Callable, key: Hashable, build: Callable[[Callable[[], Callable]], Any]) -> Any:
        """The value for ``(f, key)``, built with ``build`` on a miss."""
        if inspect.ismethod(f):
            anchor, sub = f.__self__, (f.__func__, key)
            func = f.__func__

            def deref(ref=weakref.ref(anchor)):
                return types.MethodType(func, ref())
        else:
            anchor, sub = f, (None, key)
            deref = None
        try:
            ref = weakref.ref(anchor)
            per = self._by_anchor.get(anchor)
        except TypeError:  # not weakly referenceable or not hashable: no caching
            return build(lambda: f)
        if deref is None:
            deref = ref
        if per is None:
            per = self._by_anchor[anchor] = OrderedDict()
        elif sub in per:
            per.move_to_end(sub)
            return per[sub]
        value = per[sub] = build(deref)
        while len(per) > self.size:
            per.popitem(last=False)
        return value

    def clear(self) -> None:
        """Drops every cached value."""
        self._by_anchor.clear()
