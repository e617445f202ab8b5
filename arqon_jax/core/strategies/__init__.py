"""Refine strategies, each a set of pure init/ask/tell functions (see ``base``).

:func:`make_strategy` is the one registry: the solver builds its strategies through
it, and the conformance tests run every property over every name in
:data:`STRATEGY_NAMES`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..validate import check_int, check_real
from .base import Geometry, Strategy
from .cmaes import MAX_INSTANCES, RESTART_TOP, make_cmaes
from .gp import N_MODEL, make_gp
from .nelder_mead import make_nelder_mead
from .random_search import make_random
from .tpe import make_tpe

__all__ = ["STRATEGY_NAMES", "make_strategy", "history_rows", "check_options"]

STRATEGY_NAMES = ("nelder-mead", "tpe", "cmaes", "random", "gp")

_FACTORIES = {"nelder-mead": make_nelder_mead, "tpe": make_tpe, "cmaes": make_cmaes, "random": make_random,
              "gp": make_gp}


# What each factory option takes: ("int", low[, high]), ("real", low, high, low_open),
# ("bool",); a trailing "?" on the kind also allows None (the factory's own default).
# test_every_strategy_option_has_a_rule keeps this table and the signatures in step.
# Counts and row numbers live in int32 arrays (_COUNT: a larger restart_top overflowed
# inside jit); lengths in unit-cube units stop at _LONG,
# far beyond any use, where float32 squares would overflow to NaN proposals; the
# candidates of one ask stop where their arrays reach gigabytes (TPE 2**24 rows,
# the GP 2**18: it scores each against its model points).
_UNIT = ("real", 0.0, 1.0, False)
_LONG = 1e6
_POS = ("real", 0.0, _LONG, True)
_NONNEG = ("real", 0.0, _LONG, False)
_INT32_MAX = 2**31 - 1
_COUNT = ("int", 1, _INT32_MAX)
_COUNT_OPT = ("int?", 1, _INT32_MAX)
# The GP's Adam loops run inside every ask: 10**5 steps already take minutes per ask
# on a CPU (the default 40 / 10 take milliseconds); a larger count is a typo, not a
# setting. Its fit starts are vmapped: each holds its own copy of the kernel matrix.
_STEPS = 10**5
_STARTS = 1024
_OPTION_RULES = {
    "tpe": {"gamma": ("real", 0.0, 1.0, True), "max_good": _COUNT, "max_bad": _COUNT,
            "n_candidates": ("int?", 1, 2**24), "categorical_resample": _UNIT,
            "bandwidth": ("real?", 0.0, _LONG, True),
            "multivariate": ("bool",), "quadratic": _UNIT, "screened": _UNIT, "fit_width": _NONNEG},
    "cmaes": {"n_instances": _COUNT_OPT, "separable": ("bool?",), "sigma0": _POS, "max_instances": _COUNT,
              "stagnation_gens": _COUNT_OPT, "tol_x": ("real?", 0.0, _LONG, False),
              "max_condition": ("real", 1.0, np.inf, True), "tol_fun": ("real", 0.0, np.inf, False),
              "local_restart_prob": _UNIT, "restart_top": _COUNT, "population_levels": ("int?", 0, 16)},
    "nelder-mead": {"initial_step": _POS, "stall_limit": _COUNT_OPT, "restart_top": _COUNT},
    "gp": {"n_model": ("int", 2, _INT32_MAX), "n_candidates": ("int?", 1, 2**18), "local_share": _UNIT,
           "fit_steps": ("int", 0, _STEPS), "n_starts": ("int", 1, _STARTS),
           "learning_rate": ("real", 0.0, np.inf, True), "grad_steps": ("int", 0, _STEPS),
           "n_polish": ("int", 0, _INT32_MAX), "warp": ("bool",), "quadratic": _UNIT, "length_init": _POS,
           "length_min": _POS, "length_max": _POS, "succ_tol": _COUNT, "fail_tol": _COUNT_OPT},
    "random": {},
}


def _check_value(where: str, rule: tuple, value: Any) -> Any:
    kind = rule[0]
    if kind.endswith("?"):
        if value is None:
            return None
        kind = kind[:-1]
    if kind == "bool":
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{where}: expected True or False, got {type(value).__name__} {value!r}")
        return bool(value)
    if kind == "int":
        return check_int(where, value, *rule[1:])
    low, high, low_open = rule[1:]
    value = check_real(where, value)  # type and NaN
    if not (np.isfinite(value) and (value > low if low_open else value >= low) and value <= high):
        raise ValueError(f"{where}: expected a finite number {'>' if low_open else '>='} {low:g}"
                         + ("" if np.isinf(high) else f" and <= {high:g}") + f", got {value!r}")
    return value


def _option_names(name: str) -> tuple[str, ...]:
    """The keyword options of strategy ``name``'s factory (its sizes are positional)."""
    params = inspect.signature(_FACTORIES[name]).parameters.values()
    return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


def _option_defaults(name: str) -> dict[str, Any]:
    """The defaults of strategy ``name``'s keyword options, as its factory declares them."""
    params = inspect.signature(_FACTORIES[name]).parameters
    return {option: params[option].default for option in _option_names(name)}


def _pairs(where: str, value: Any) -> list[tuple]:
    if isinstance(value, Mapping):
        return list(value.items())
    if isinstance(value, (tuple, list)) and all(isinstance(e, (tuple, list)) and len(e) == 2 for e in value):
        return [tuple(e) for e in value]
    raise TypeError(f"{where}: expected a dict (or a sequence of (name, value) pairs), got {type(value).__name__} "
                    f"{value!r:.80}")


def check_options(strategy_options: Any, batch_size: int | None = None) -> tuple:
    """Checks per-strategy options and returns their hashable form.

    Args:
        strategy_options: ``{strategy_name: {option: value}}``, or the same as nested
            ``(name, value)`` pairs. Options for a strategy that ``auto`` does not pick
            are allowed (and unused).
        batch_size: Rows per ask, where known: options bounded by it are checked too.

    Returns:
        ``((strategy_name, ((option, value), ...)), ...)`` sorted by name, values as
        Python ints, floats and bools: equal options give equal (cacheable) keys.

    Raises:
        TypeError: For a value that is not a dict or pairs, or an option value of the
            wrong type (a bool for a number, a string, ...).
        ValueError: For an unknown strategy, an option its factory does not take, a
            strategy named twice, a value out of the option's range (NaN and
            infinities included), or options that contradict each other (the GP's
            lengths out of order, more CMA-ES instances than ``batch_size`` rows).
    """
    out: dict[str, tuple] = {}
    for name, options in _pairs("strategy_options", strategy_options):
        if name not in STRATEGY_NAMES:
            raise ValueError(f"strategy_options: unknown strategy {name!r}; expected some of {list(STRATEGY_NAMES)}")
        if name in out:
            raise ValueError(f"strategy_options: strategy {name!r} given twice")
        allowed = _option_names(name)
        pairs = []
        for option, value in _pairs(f"strategy_options[{name!r}]", options):
            if option not in allowed:
                raise ValueError(f"strategy_options[{name!r}]: unknown option {option!r}; expected some of "
                                 f"{sorted(allowed)}")
            if option in dict(pairs):
                raise ValueError(f"strategy_options[{name!r}]: option {option!r} given twice")
            pairs.append((option, _check_value(f"strategy_options[{name!r}][{option!r}]",
                                               _OPTION_RULES[name][option], value)))
        _check_together(name, dict(pairs), batch_size)
        out[name] = tuple(sorted(pairs, key=lambda p: p[0]))
    return tuple(sorted(out.items()))


def _check_together(name: str, given: dict, batch_size: int | None) -> None:
    """Options that bound each other (given values over the factory's defaults)."""
    where = f"strategy_options[{name!r}]"
    if name == "gp":
        defaults = _option_defaults("gp")
        lo, init, hi = (given.get(k, defaults[k]) for k in ("length_min", "length_init", "length_max"))
        if not lo <= init <= hi:
            raise ValueError(f"{where}: expected length_min <= length_init <= length_max, got {lo!r}, {init!r}, "
                             f"{hi!r}")
    if name == "cmaes" and batch_size is not None and given.get("n_instances") is not None:
        if given["n_instances"] > batch_size:
            raise ValueError(f"{where}['n_instances']: expected at most batch_size={batch_size} instances (one "
                             f"row each at least), got {given['n_instances']}")


def history_rows(name: str, options: dict | None = None) -> int | None:
    """How many of the history's best rows strategy ``name`` reads, or None for all of them.

    TPE and Nelder-Mead model or restart from the whole stored history; the GP reads
    its ``n_model`` best rows (256 by default); CMA-ES reads only its ``restart_top``
    best rows (restarts) and ``max_instances`` (its initial means). A solver whose
    strategies all read a bounded number of rows keeps a history of that size.

    Raises:
        ValueError: For an unknown name.
    """
    if name not in STRATEGY_NAMES:
        raise ValueError(f"strategy: unknown name {name!r}; expected one of {list(STRATEGY_NAMES)}")
    if name == "gp":
        return int((options or {}).get("n_model", N_MODEL))
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
