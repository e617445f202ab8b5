"""Refine strategies, each a set of pure init/ask/tell functions (see ``base``).

:func:`make_strategy` is the one registry: the solver builds its strategies through
it, and the conformance tests run every property over every name in
:data:`STRATEGY_NAMES`.
"""

from __future__ import annotations

from typing import Any

from .base import Geometry, Strategy
from .cmaes import MAX_INSTANCES, RESTART_TOP, make_cmaes
from .gp import make_gp
from .nelder_mead import make_nelder_mead
from .random_search import make_random
from .tpe import make_tpe

__all__ = ["STRATEGY_NAMES", "make_strategy", "history_rows"]

STRATEGY_NAMES = ("nelder-mead", "tpe", "cmaes", "random", "gp")


def history_rows(name: str, options: dict | None = None) -> int | None:
    """How many of the history's best rows strategy ``name`` reads, or None for all of them.

    TPE, the GP and Nelder-Mead model or restart from the whole stored history; CMA-ES
    reads only its ``restart_top`` best rows (restarts) and ``max_instances`` (its
    initial means), so a solver that refines with CMA-ES alone keeps a small history.

    Raises:
        ValueError: For an unknown name.
    """
    if name not in STRATEGY_NAMES:
        raise ValueError(f"strategy: unknown name {name!r}; expected one of {list(STRATEGY_NAMES)}")
    if name == "cmaes":
        options = dict(options or {})
        return max(int(options.get("restart_top", RESTART_TOP)), int(options.get("max_instances", MAX_INSTANCES)),
                   int(options.get("n_instances") or 0))
    return None


def make_strategy(name: str, geometry: Geometry, batch_size: int, capacity: int, dtype: Any,
                  options: dict | None = None) -> Strategy:
    """Builds the strategy ``name`` with its static sizes fixed.

    Args:
        name: One of :data:`STRATEGY_NAMES`.
        geometry: The unit cube's static facts.
        batch_size: Rows per ``ask``.
        capacity: Rows of the history the strategy reads.
        dtype: The solver's floating dtype.
        options: Keyword options of the strategy's factory.

    Raises:
        ValueError: For an unknown name.
    """
    options = dict(options or {})
    if name == "nelder-mead":
        return make_nelder_mead(geometry, batch_size, **options)
    if name == "tpe":
        return make_tpe(geometry, batch_size, capacity, **options)
    if name == "cmaes":
        return make_cmaes(geometry, batch_size, **options)
    if name == "gp":
        return make_gp(geometry, batch_size, capacity, dtype, **options)
    if name == "random":
        return make_random(geometry, batch_size, dtype, **options)
    raise ValueError(f"strategy: unknown name {name!r}; expected one of {list(STRATEGY_NAMES)}")
