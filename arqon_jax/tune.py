"""Ray Tune search algorithm backed by the arqon_jax solver.

``from arqon_jax.tune import ArqonSearch`` imports Ray (without it: an ImportError
saying ``pip install "arqon_jax[ray]"``); ``import arqon_jax`` does not.

:class:`ArqonSearch` is a ``ray.tune.search.Searcher``. It converts Tune's search
space into an arqon_jax :class:`~arqon_jax.Space` (nested dicts flattened to names
such as ``"model/lr"``) and runs the functional solver (probe, classify, refine) in
batches: one compiled solver step proposes ``batch_size`` candidates, ``suggest``
hands them out one per trial in row order, and the next batch is asked when the
current one is used up. Results reach the solver in that same compiled step (a Tune
run pays for compiling, seconds on a CPU, not for running, milliseconds):

* The finished rows of the current batch are told together (``tell`` with a
  ``valid`` mask) when the next batch is asked, so each batch is informed by every
  result known at that moment, and no trial waits for a slow one: TPE and the
  probe run fully asynchronously.
* Rows that finish after their batch was told, ``points_to_evaluate`` and warm
  starts are recorded with ``observe`` (history and best point; TPE refits from the
  history at every ask).
* Nelder-Mead and CMA-ES update a model from the rows of their last batch, and the
  classifier (``method="auto"``) reads the whole probe at the first refine ask:
  there ``suggest`` returns ``None`` until the current batch has finished.
* Discrete dimensions are snapped to their bin centres, so TPE sees repeats of
  evaluated points, and a row whose config repeats an earlier trial's is not handed
  out again (the strategy gets the known value) unless the discrete space is used up.

The batching, the ledger of trials and the state are :class:`arqon_jax.host.session.Session`'s,
the engine under :class:`~arqon_jax.ArqonSolver` too: the same settings and seed give
the same proposals through both.

Failures (errored trials, ``result=None`` without an earlier result, a missing
metric, NaN or infinite values) are recorded as failed evaluations: they use their
slot of the budget and count as worse than any finite value. A metric that is not
one real number (a bool, a string, a complex number, several values) is recorded as
a failure too, with a ``UserWarning`` naming the trial: raising inside Tune's
callbacks would stop the whole run, and reading ``"0.5"`` or ``True`` as numbers
would optimize something else than intended. ``mode="max"`` negates the
metric. ``save``/``restore`` (and pickling the searcher itself) keep the whole
state, the solver's arrays exactly (the versioned JSON of :mod:`arqon_jax.host.state_io`)
and the bookkeeping of trials and batches, so ``Tuner.restore`` continues the same
search.

Conversion of Tune domains (``lo``/``hi`` are the domain's bounds):

==============================  ===================================================
Tune domain                     arqon_jax dimension
==============================  ===================================================
``uniform(lo, hi)``             linear ``[lo, hi]``
``loguniform(lo, hi)``          log ``[lo, hi]``
``quniform(lo, hi, q)``         integer grid index ``k``, value ``k * q`` (inside
                                ``[lo, hi]``; linear + rounding if > 2**24 steps)
``qloguniform(lo, hi, q)``      log ``[lo', hi']`` (grid-snapped bounds), rounded to q
``randint(lo, hi)``             integer ``[lo, hi - 1]``
``qrandint(lo, hi, q)``         integer grid index, value ``k * q`` in ``[lo, hi]``
                                (``hi`` exclusive when ``q == 1``, as in Tune)
``lograndint(lo, hi)``          log ``[lo, hi]``, value ``floor`` in ``[lo, hi - 1]``
``qlograndint(lo, hi, q)``      log on the grid bounds, rounded to a multiple of q
``choice([...])``               categorical (TPE: keep-or-resample kernel; GP:
                                overlap kernel); any values, also lists, dicts
                                and objects
``choice`` of domains           conditional parameters, see below
constants                       passed through (returned in the config when the
                                space came through the constructor)
a domain with one value         a constant, returned in every config (e.g.
                                ``uniform(2, 2)``, ``choice(["only"])``)
==============================  ===================================================

Lists and tuples of domains (``"layers": [tune.randint(1, 4), 64]``) keep their
form; their dimensions are named ``"layers/0"``, ...

Conditional parameters: a ``tune.choice`` whose categories hold domains, e.g.
``tune.choice([0.0, tune.quniform(0.05, 0.4, 0.05)])`` or ``tune.choice([{"opt":
"sgd", "lr": tune.loguniform(1e-4, 1e-1)}, {"opt": "adam", "beta": tune.uniform(0.8,
0.99)}])``, at any depth (dicts, lists, choices inside categories). The choice is a
categorical dimension and every domain of every category one more dimension, named
by its path through the category index (``"optim/0/lr"``, ``"optim/1/beta"``). A
config holds only the chosen category, with its domains sampled: the dimensions of
the other categories are inactive and never reach the trainable. The solver is told
the rows it asked for, inactive dimensions included: they are the strategy's own
samples, independent of the result, so they carry no signal and keep the
strategies' own models consistent (a fixed value instead would shrink CMA-ES's
steps and Nelder-Mead's simplex in those dimensions and bias TPE's densities
towards it). Duplicate detection compares only active dimensions. Warm starts
(``points_to_evaluate``, ``add_evaluated_point``) give the chosen category's value
(``{"opt": "adam", "beta": 0.9}``), which is matched to the first category that can
produce it; their inactive dimensions are set to the centre of the cube.

``grid_search``, ``sample_from`` and ``randn``/``qrandn`` (unbounded) are refused
with a ``ValueError`` naming the parameter.
"""

from __future__ import annotations

import copy
import math
import numbers
import pickle
import warnings
from typing import Any, Mapping, Sequence

import numpy as np

from .host.config import check_int, check_seed, missing_extra
from .host.evaluate import told_value
from .host.nested import NestedSpace, path_name, qround
from .host.session import Session

try:
    from ray.tune.search import Searcher
    from ray.tune.search.sample import (
        Categorical, Domain, Float, Function, Integer, LogUniform, Normal, Quantized, Uniform,
    )
except ImportError as _exc:  # ray is an optional dependency: say how to get it
    raise missing_extra(_exc, "arqon_jax.tune", "Ray Tune", "ray") from _exc

from .core.solver import PROBE_RATIO, check_method, check_settings
from .core.space import Space
from .host.state_io import read_state_header

__all__ = ["ArqonSearch", "convert_search_space"]

_MAX_INDEX = 2**24  # integer dimensions must stay exact in float32 (see space.py)
_DEFAULT_BUDGET = 100  # nominal solver budget when neither budget nor num_samples is known
_KIND = "ArqonSearch"
_FORMAT = 3
# What get_state saves besides the session's JSON state, by name: the settings, the
# space spec (Tune domains, pickled) and the bookkeeping of trials. Attributes of the
# same names with a leading underscore; renaming one is a format change.
_SAVED = ("metric", "mode", "spec", "from_ctor", "batch_size_arg", "budget", "seed", "method", "solver_options",
          "points", "rewards", "max_concurrent", "num_samples", "cfg", "live", "last", "errored", "warm", "best",
          "counts")


# ----------------------------------------------------------- space conversion
def _grid(lo: float, hi: float, q: float) -> tuple[int, int]:
    """Indices of the first and last multiple of ``q`` inside ``[lo, hi]`` (Tune's rule)."""

    def index(bound, fn):
        scaled = bound / q
        nearest = round(scaled)
        return int(nearest) if math.isclose(scaled, nearest) else int(fn(scaled))

    return index(lo, math.ceil), index(hi, math.floor)


def _convert_domain(name: str, domain: Domain) -> dict:
    """One Tune domain to a parameter record: ``kind``, Space ``bound`` and decode info.

    Returns a record with ``kind == "const"`` and ``value`` when the domain has one value.
    """
    if isinstance(domain, Function):
        raise ValueError(
            f"param_space[{name!r}]: tune.sample_from cannot be converted for ArqonSearch; "
            "use a Tune domain (uniform, loguniform, randint, choice, ...) or a constant"
        )
    sampler = domain.get_sampler()
    q = None
    if isinstance(sampler, Quantized):
        q = sampler.q
        sampler = sampler.get_sampler()
        if isinstance(q, bool) or not isinstance(q, numbers.Real) or not q > 0:
            raise ValueError(f"param_space[{name!r}]: quantization q must be a positive number, got {q!r}")
    if isinstance(sampler, Normal):
        raise ValueError(
            f"param_space[{name!r}]: normal distributions (tune.randn/qrandn) are unbounded; "
            "ArqonSearch needs bounds: use tune.uniform or tune.quniform"
        )
    if isinstance(domain, Categorical):
        cats = list(domain.categories)
        if not isinstance(sampler, Uniform):
            raise ValueError(f"param_space[{name!r}]: unsupported sampler {type(sampler).__name__} for tune.choice")
        if len(cats) == 0:
            raise ValueError(f"param_space[{name!r}]: tune.choice needs at least one category")
        if len(cats) == 1:
            return {"name": name, "kind": "const", "value": cats[0]}
        # Choices are passed to the Space as indexes: the Space is hashed (static jit
        # argument) and Tune categories may be unhashable (lists, dicts).
        return {"name": name, "kind": "cat", "bound": {"choices": list(range(len(cats)))}, "categories": cats}
    is_log = isinstance(sampler, LogUniform)
    if not isinstance(sampler, (Uniform, LogUniform)):
        raise ValueError(f"param_space[{name!r}]: unsupported sampler {type(sampler).__name__}")
    lo, hi = domain.lower, domain.upper
    if not (math.isfinite(float(lo)) and math.isfinite(float(hi))):
        raise ValueError(f"param_space[{name!r}]: bounds must be finite, got ({lo}, {hi})")
    scale = "log" if is_log else "linear"
    if isinstance(domain, Float):
        lo, hi = float(lo), float(hi)
        if q is None:
            if lo == hi:
                return {"name": name, "kind": "const", "value": lo}
            return {"name": name, "kind": "float", "bound": {"min": lo, "max": hi, "scale": scale}, "lo": lo, "hi": hi}
        q = float(q)
        i_lo, i_hi = _grid(lo, hi, q)
        if i_hi < i_lo:
            raise ValueError(f"param_space[{name!r}]: no multiple of q={q} in [{lo}, {hi}]")
        g_lo, g_hi = qround(i_lo * q, q), qround(i_hi * q, q)
        if i_lo == i_hi:
            return {"name": name, "kind": "const", "value": g_lo}
        if is_log or max(abs(i_lo), abs(i_hi)) > _MAX_INDEX:
            return {"name": name, "kind": "qfloat_round", "q": q, "lo": g_lo, "hi": g_hi,
                    "bound": {"min": g_lo, "max": g_hi, "scale": scale}}
        return {"name": name, "kind": "qfloat", "q": q, "lo": g_lo, "hi": g_hi,
                "bound": {"min": i_lo, "max": i_hi, "scale": "integer"}}
    if isinstance(domain, Integer):
        lo, hi = int(lo), int(hi)
        if q is None or q == 1:
            # randint, lograndint and qrandint(q=1): upper bound exclusive.
            last = hi - 1
            if last < lo:
                raise ValueError(f"param_space[{name!r}]: empty integer range [{lo}, {hi})")
            if last == lo:
                return {"name": name, "kind": "const", "value": lo}
            if is_log:
                # floor(exp(uniform(log lo, log hi))), as Tune samples it.
                return {"name": name, "kind": "logint", "lo": lo, "hi": last, "q": 1,
                        "bound": {"min": lo, "max": hi, "scale": "log"}}
            if max(abs(lo), abs(last)) > _MAX_INDEX:
                return {"name": name, "kind": "int_round", "q": 1, "lo": lo, "hi": last,
                        "bound": {"min": lo, "max": last, "scale": "linear"}}
            return {"name": name, "kind": "int", "lo": lo, "hi": last,
                    "bound": {"min": lo, "max": last, "scale": "integer"}}
        q = int(q) if float(q).is_integer() else float(q)
        i_lo, i_hi = _grid(lo, hi, q)
        if i_hi < i_lo:
            raise ValueError(f"param_space[{name!r}]: no multiple of q={q} in [{lo}, {hi}]")
        g_lo, g_hi = int(round(i_lo * q)), int(round(i_hi * q))
        if i_lo == i_hi:
            return {"name": name, "kind": "const", "value": g_lo}
        if is_log:
            return {"name": name, "kind": "int_round", "q": q, "lo": g_lo, "hi": g_hi,
                    "bound": {"min": g_lo, "max": g_hi, "scale": "log"}}
        if max(abs(i_lo), abs(i_hi)) > _MAX_INDEX:
            return {"name": name, "kind": "int_round", "q": q, "lo": g_lo, "hi": g_hi,
                    "bound": {"min": g_lo, "max": g_hi, "scale": "linear"}}
        return {"name": name, "kind": "qint", "q": q, "lo": g_lo, "hi": g_hi,
                "bound": {"min": i_lo, "max": i_hi, "scale": "integer"}}
    raise ValueError(f"param_space[{name!r}]: unsupported domain type {type(domain).__name__}")


def _special(value: Any) -> str | None:
    """Tune's dict forms of domains: ``{"grid_search": [...]}`` and ``{"eval": "..."}``."""
    if isinstance(value, dict) and len(value) == 1:
        if "grid_search" in value:
            return "grid"
        if "eval" in value:
            return "eval"
    return None


def _holds_domain(value: Any) -> bool:
    """Whether a spec value has a domain anywhere inside (as Tune recurses: dicts, lists, tuples)."""
    if isinstance(value, Domain) or _special(value):
        return True
    if isinstance(value, dict):
        return any(_holds_domain(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_domain(v) for v in value)
    return False


def _parse_node(value: Any, path: tuple, params: list[dict], names: set) -> tuple:
    name = path_name(path)
    kind = _special(value)
    if kind == "grid" or (isinstance(value, Categorical) and value.is_grid()):
        raise ValueError(
            f"param_space[{name!r}]: tune.grid_search cannot be combined with ArqonSearch; "
            "use tune.choice for a categorical parameter"
        )
    if kind == "eval":
        raise ValueError(
            f"param_space[{name!r}]: {{'eval': ...}} expressions cannot be converted for ArqonSearch; "
            "use a Tune domain (uniform, loguniform, randint, choice, ...) or a constant"
        )
    if isinstance(value, Domain):
        if name in names:
            raise ValueError(f"param_space[{name!r}]: two parameters flatten to the same name {name!r}")
        names.add(name)
        if isinstance(value, Categorical) and any(_holds_domain(c) for c in value.categories):
            cats = list(value.categories)
            _convert_domain(name, value)  # validates the sampler
            branches = tuple(_parse_node(c, path + (k,), params, names) for k, c in enumerate(cats))
            if len(cats) == 1:
                return ("cat", None, branches)
            params.append({"name": name, "kind": "cat", "bound": {"choices": list(range(len(cats)))},
                           "categories": cats, "path": path, "conditional": True})
            return ("cat", name, branches)
        rec = _convert_domain(name, value)
        if rec["kind"] == "const":
            return ("fixed", rec["value"])
        rec["path"] = path
        params.append(rec)
        return ("param", name)
    if isinstance(value, dict) and _holds_domain(value):
        return ("dict", tuple((k, _parse_node(v, path + (k,), params, names)) for k, v in value.items()))
    if isinstance(value, (list, tuple)) and _holds_domain(value):
        kind = "tuple" if isinstance(value, tuple) else "list"
        return ("seq", kind, tuple(_parse_node(v, path + (i,), params, names) for i, v in enumerate(value)))
    return ("const", value)


def _parse_space(spec: Mapping) -> tuple[list[dict], tuple]:
    """Tune spec -> (parameter records sorted by name, template tree)."""
    if not isinstance(spec, Mapping):
        raise TypeError(f"space: expected a dict of Tune domains, got {type(spec).__name__}")
    params: list[dict] = []
    tree = _parse_node(dict(spec), (), params, set())
    if not params:
        raise ValueError("space: no parameter to search (only constants); give at least one Tune domain")
    params.sort(key=lambda r: r["name"])
    return params, tree


def _nested_space(spec: Mapping, full: bool) -> NestedSpace:
    params, tree = _parse_space(spec)
    return NestedSpace(tree, params, full=full, show=_show)


_PLAIN = (str, int, float, bool, type(None))


def _signature(value: Any) -> Any:
    """What a Tune spec holds, comparable across processes: domains by type, range,
    sampler (log, quantization, its parameters) and categories; plain constants by
    value, other objects (functions, arrays) by type only, as their repr carries addresses."""
    if isinstance(value, Domain):
        inner = (tuple(_signature(c) for c in value.categories) if isinstance(value, Categorical)
                 else value.domain_str)
        return type(value).__name__, inner, _signature(value.sampler)
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _signature(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return type(value).__name__, tuple(_signature(v) for v in value)
    if isinstance(value, _PLAIN):
        return type(value).__name__, value  # 0, False and 0.0 are equal in Python, not to a trainable
    fields = getattr(value, "__dict__", None)
    if type(value).__module__.startswith("ray.tune.search.sample") and isinstance(fields, dict):  # a sampler
        return type(value).__qualname__, _signature(fields)
    return type(value).__qualname__


def _check_same_search(searcher: "ArqonSearch", saved: Mapping) -> None:
    """Refuses a saved state whose search space, metric or mode differs from what this searcher was given.

    Restoring would silently replace them: the trials would sample the saved space, not
    the one the searcher was given (``minimize``'s resume refuses another space too).
    """
    for name in ("metric", "mode"):
        mine, theirs = getattr(searcher, "_" + name, None), saved.get(name)
        if mine is not None and theirs is not None and mine != theirs:
            raise ValueError(f"restore: the state was saved with {name}={theirs!r}, this searcher has {name}={mine!r}")
    mine, saved_spec = getattr(searcher, "_spec", None), saved.get("spec")
    if mine is None or saved_spec is None or _signature(mine) == _signature(saved_spec):
        return
    try:
        theirs = convert_search_space(saved_spec)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"restore: corrupt ArqonSearch state (its search space: {exc})") from None
    ours = convert_search_space(mine)
    what = ([f"only in the state: {sorted(set(theirs) - set(ours))}"] if set(theirs) - set(ours) else []) + \
           ([f"only in this searcher: {sorted(set(ours) - set(theirs))}"] if set(ours) - set(theirs) else []) + \
           [f"{k}: state {theirs[k]!r}, this searcher {ours[k]!r}" for k in sorted(set(ours) & set(theirs))
            if ours[k] != theirs[k]][:4]
    if not what:  # the same bounds: choices' values, quantization or constants differ
        saved_top, mine_top = dict(_signature(saved_spec)), dict(_signature(mine))
        what = [f"{k} differs (choices, quantization or a constant)" for k in sorted(set(saved_top) | set(mine_top))
                if saved_top.get(k) != mine_top.get(k)][:4]
    raise ValueError("restore: the state was saved with another search space (" + "; ".join(what) + "); restore "
                     "it into a searcher built without a space, or with the same one")


def convert_search_space(spec: Mapping) -> dict:
    """Converts a Tune search space to arqon_jax dict bounds (for inspection).

    Args:
        spec: A Tune ``param_space`` (nested dicts of domains and constants).

    Returns:
        ``{flattened_name: bound}`` as accepted by :meth:`arqon_jax.Space.from_bounds`
        (categorical parameters appear as choice indexes; quantized ones as grid
        indexes; the domains inside a ``tune.choice`` category are dimensions named
        by their path through the category index, e.g. ``"optim/1/lr"``; see the
        module docstring).

    Raises:
        TypeError: If ``spec`` is not a dict.
        ValueError: For domains that cannot be converted, naming the parameter.
    """
    params, _ = _parse_space(spec)
    return {p["name"]: p["bound"] for p in params}


def _show(value: Any) -> str:
    """A spec value for messages, domains written as ``Float(0.8, 0.99)`` rather than object reprs."""
    if isinstance(value, Categorical):
        return f"choice({_show(list(value.categories))})"
    if isinstance(value, Domain):
        return f"{type(value).__name__}{value.domain_str}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_show(v) for v in value)
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    return repr(value)


class _InvalidMetric(str):
    """Description of a reported metric that is not a number (kept until the trial completes)."""


def _metric_number(raw: Any) -> float | None:
    """A reported metric as a float (NaN for a failure), or None if it is not one real number."""
    try:
        return told_value(raw, "metric")
    except TypeError:
        return None


# ------------------------------------------------------------------ searcher
def _check_mode(mode: Any) -> None:
    if mode not in (None, "min", "max"):
        raise ValueError(f"mode: expected 'min' or 'max', got {mode!r}")


class ArqonSearch(Searcher):
    """Ray Tune searcher running arqon_jax's probe, classify, refine solver in batches.

    Args:
        space: A Tune search space (dict of domains; nested dicts, lists and domains
            inside ``tune.choice`` categories allowed, see the module docstring).
            Leave it ``None`` to take the space from ``Tuner(param_space=...)`` or
            ``tune.run(config=...)``.
        metric: The metric to optimize (or give it to ``TuneConfig``/``tune.run``).
        mode: ``"min"`` or ``"max"`` (or give it to ``TuneConfig``/``tune.run``).
        batch_size: Candidates per solver ``ask`` (one jitted call). Default:
            ``max(4, max_concurrent)``, at most the budget.
        budget: Number of trials to suggest; ``suggest`` returns ``Searcher.FINISHED``
            after that many. ``None``: no limit of its own (Tune's ``num_samples``
            stops the run); the solver then plans for ``num_samples`` when Tune passes
            it, else for 100 trials, and keeps refining past that.
        seed: Seed of the solver's PRNG key, an integer in ``[0, 2**64)`` (all 64
            bits count; see :func:`arqon_jax.host.config.seed_key`).
        method: ``"auto"`` (classify, then Nelder-Mead or TPE; the GP where
            categorical and continuous parameters mix, no parameter is conditional
            (inside a ``tune.choice`` category) and ``budget`` or ``num_samples`` is
            at most 256), ``"tpe"``,
            ``"nelder-mead"``, ``"cmaes"``, ``"gp"`` or ``"random"``. ``"gp"`` (a
            Gaussian process, :mod:`arqon_jax.core.strategies.gp`) had the lowest
            median of ArqonSearch, Optuna TPE and random on a 5-parameter
            gradient-boosting search at 100 trials (20 seeds) but lost to ``"auto"``
            on the 10-D Rastrigin benchmark
            (``benchmarks/results/tune_gbm_100_20seeds.md``, ``tune_searchers.md``);
            its searcher time there is ~7 ms per trial on a 2-core CPU (2 seeds,
            2026-12-04; 23 ms before the fit was sized by the history).
        points_to_evaluate: Configs (dicts, nested or with ``"a/b"`` keys, every
            parameter given; for a conditional choice the chosen category's value)
            to run first. Each value must be one its domain can produce (inside the
            bounds; an integer for integer domains, a multiple of ``q`` for
            quantized ones).
        evaluated_rewards: Metric values of ``points_to_evaluate`` that were already
            evaluated: they are recorded as warm starts and not run again.
        solver_options: Further keyword arguments of :func:`arqon_jax.make_solver`
            (``probe_ratio``, ``anchors``, ``spice``, ``threshold``,
            ``strategy_options`` such as ``{"tpe": {"gamma": 0.25}}``, ``capacity``).

    Raises:
        TypeError, ValueError: For invalid arguments, naming them.
    """

    def __init__(
        self,
        space: Mapping | None = None,
        metric: str | None = None,
        mode: str | None = None,
        *,
        batch_size: int | None = None,
        budget: int | None = None,
        seed: int = 0,
        method: str = "auto",
        points_to_evaluate: Sequence[Mapping] | None = None,
        evaluated_rewards: Sequence[float] | None = None,
        solver_options: Mapping[str, Any] | None = None,
    ):
        _check_mode(mode)
        if metric is not None and not isinstance(metric, str):
            raise TypeError(f"metric: expected a string, got {type(metric).__name__} {metric!r}")
        self._batch_size_arg = None if batch_size is None else check_int("batch_size", batch_size, 1)
        self._budget = None if budget is None else check_int("budget", budget, 1)
        if self._budget is not None and self._batch_size_arg is not None and self._batch_size_arg > self._budget:
            raise ValueError(f"batch_size: {batch_size} is larger than budget={budget}")
        self._seed = check_seed(seed)
        self._method = check_method(method)
        if points_to_evaluate is not None:
            if isinstance(points_to_evaluate, Mapping) or not isinstance(points_to_evaluate, Sequence):
                raise TypeError("points_to_evaluate: expected a list of dicts")
            for i, p in enumerate(points_to_evaluate):
                if not isinstance(p, Mapping):
                    raise TypeError(f"points_to_evaluate[{i}]: expected a dict, got {type(p).__name__}")
        if evaluated_rewards is not None:
            if points_to_evaluate is None:
                raise ValueError("evaluated_rewards: needs points_to_evaluate (one reward per point)")
            if len(evaluated_rewards) != len(points_to_evaluate):
                raise ValueError(
                    f"evaluated_rewards: {len(evaluated_rewards)} rewards for {len(points_to_evaluate)} points"
                )
        allowed = {"probe_ratio", "anchors", "spice", "threshold", "strategy_options", "capacity"}
        if solver_options is not None:
            if not isinstance(solver_options, Mapping):
                raise TypeError(f"solver_options: expected a dict, got {type(solver_options).__name__}")
            extra = set(solver_options) - allowed
            if extra:
                raise ValueError(f"solver_options: unknown options {sorted(extra)}; expected some of {sorted(allowed)}")
            # The solver is built at the first suggest, inside Tune's loop: check the values now.
            check_settings(**{k: v for k, v in solver_options.items() if k != "capacity"},
                           batch_size=self._batch_size_arg)
            if "capacity" in solver_options:
                check_int("capacity", solver_options["capacity"], 1)
        self._solver_options = dict(solver_options or {})
        super().__init__(metric=metric, mode=mode)
        self._points = [dict(p) for p in points_to_evaluate or ()]
        self._rewards = list(evaluated_rewards) if evaluated_rewards is not None else None
        self._max_concurrent: int | None = None
        self._num_samples: int | None = None
        self._spec = None
        self._nested: NestedSpace | None = None
        self._from_ctor = False
        self._reset_run()
        if space is not None:
            self._set_space(space, from_ctor=True)

    # ------------------------------------------------------------- setup
    def _reset_run(self) -> None:
        self._session: Session | None = None
        self._cfg: dict | None = None
        self._live: dict[str, tuple] = {}  # trial id -> (eval_id, parameter values, config)
        self._last: dict[str, float] = {}  # trial id -> last reported metric
        self._errored: dict[str, np.ndarray] = {}  # trial id -> parameter values, for trials Tune may rerun
        self._warm: list[tuple] = []  # warm starts (values, value, config) before the session exists
        self._best: tuple[dict, float] | None = None  # (config, value to minimize)
        self._counts = {"suggested": 0, "completed": 0, "failed": 0}

    @property
    def stats(self) -> dict:
        """Counters: trials ``suggested``, ``completed``, ``failed``; solver ``asks``, ``tells``;
        rows ``observed`` on their own (late results, warm starts); rows ``skipped`` as repeats."""
        out = dict(self._counts)
        out.update(self._session.counts if self._session is not None else
                   {"asks": 0, "tells": 0, "observed": 0, "skipped": 0})
        return out

    @property
    def decision(self) -> dict:
        """The refine strategy chosen from the probe, and why, as ``minimize``'s ``result.decision``.

        A dict with ``strategy`` and ``statistic`` (``None`` until the solver has
        taken the probe's results: the first ``suggest`` after the probe's trials are
        in), ``statistic_name``, ``threshold`` and ``rule`` (e.g. why the GP
        or TPE: a conditional search space keeps TPE); ``{}`` before the first
        ``suggest`` (the solver starts there) and for ``method="random"``.
        """
        return {} if self._session is None else self._session.decision

    def _set_space(self, spec: Mapping, from_ctor: bool) -> None:
        nested = _nested_space(spec, from_ctor)
        self._spec, self._nested, self._from_ctor = spec, nested, from_ctor
        issues = nested.space.float32_issues(np.float32)
        if issues:
            # The searcher's solver runs in float32: such a parameter would be searched on
            # a handful of values, or outside its bounds, without a word.
            raise ValueError("ArqonSearch: " + "; ".join(issues) + "; the searcher works in float32: search an "
                             "offset or a rescaled parameter instead (e.g. tune.uniform(0, 100) added to 1e8)")
        if self._rewards is not None:
            for point, reward in zip(self._points, self._rewards):
                self.add_evaluated_point(point, reward)
            self._points, self._rewards = [], None
        else:
            for point in self._points:
                nested.encode(point, "points_to_evaluate")  # validate early, naming the parameter

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec) -> bool:
        """Takes the space, metric and mode from Tune (``Tuner(param_space=...)``)."""
        if self._spec is not None:
            return False
        _check_mode(mode)
        self._set_space(config, from_ctor=False)
        if metric:
            self._metric = metric
        if mode:
            self._mode = mode
        n = spec.get("num_samples")
        if isinstance(n, int) and n > 0:
            self._num_samples = n
        return True

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        """Enforces ``max_concurrent`` live trials itself (and sizes default batches by it)."""
        self._max_concurrent = check_int("max_concurrent", max_concurrent, 1)
        return True

    @property
    def space(self) -> Space | None:
        """The converted arqon_jax :class:`~arqon_jax.Space` (``None`` before a space is set)."""
        return self._nested.space if self._spec is not None else None

    @property
    def solver_config(self) -> dict | None:
        """``budget`` (nominal), ``batch_size``, ``capacity``, ``method`` once the solver started."""
        return None if self._cfg is None else dict(self._cfg)

    def _ensure_solver(self) -> None:
        if self._session is not None:
            return
        nominal = self._budget or self._num_samples or _DEFAULT_BUDGET
        # At least 4 rows, measured: with 2 concurrent trials, batches of 2 lost the seed's
        # Rastrigin benchmark (median 86.0 against 56.3 over 20 seeds; better on 3), and
        # gained too little on gradient boosting to show (better on 23 of 40 seeds, p = 0.17).
        batch = self._batch_size_arg or max(4, self._max_concurrent or 1)
        batch = min(batch, nominal)
        if self._batch_size_arg is None:
            # The constructor could not check the options bounded by the batch (CMA-ES's
            # n_instances): say where the batch size came from, since the user never gave it.
            try:
                check_settings(**{k: v for k, v in self._solver_options.items() if k != "capacity"}, batch_size=batch)
            except ValueError as e:
                mc = "unset" if self._max_concurrent is None else self._max_concurrent
                cap = ("" if self._budget or self._num_samples else
                       " (the default; neither budget nor num_samples was given)")
                raise ValueError(f"{e} (batch_size was not given: ArqonSearch took max(4, max_concurrent={mc}), "
                                 f"at most the budget {nominal}{cap}; pass batch_size to choose it)") from None
        # An open-ended search (no budget, no num_samples) keeps refining past its
        # nominal budget: it keeps a larger history than the solver's default.
        capacity = None if (self._budget or self._num_samples) else 1024
        capacity = self._solver_options.get("capacity", capacity)
        self._cfg = {"budget": nominal, "batch_size": batch, "capacity": capacity, "method": self._method}
        self._build_session(restoring=False)
        self._cfg["capacity"] = self._session.solver.capacity
        sign = -1.0 if self._mode == "max" else 1.0
        for values, v, params in self._warm:
            self._session.observe(values, sign * v)
            self._update_best(params, sign * v)
        self._warm = []

    def _build_session(self, restoring: bool) -> None:
        cfg = self._cfg
        opts = {k: v for k, v in self._solver_options.items() if k != "capacity"}
        probe_ratio = opts.pop("probe_ratio", PROBE_RATIO)  # Session's own argument, not one of its solver_options
        self._session = Session(
            self._nested.space, seed=self._seed, budget=cfg["budget"], batch_size=cfg["batch_size"],
            method=cfg["method"], probe_ratio=probe_ratio, capacity=cfg["capacity"], solver_options=opts,
            limited=self._budget is not None,
            key_of=self._nested.key, conditional=self._nested.conditional, _restoring=restoring,
        )

    # --------------------------------------------------------- conversions
    def _value(self, trial_id: str, result: dict | None, error: bool) -> float:
        """The trial's value to minimize; NaN (a failure) for errors, missing and invalid metrics.

        A metric that is not one real number (a bool, a string, a complex number, an
        array of several values), or a result without the metric, is a failure too,
        with a warning: raising here would stop the whole Tune run.
        """
        if error:
            return math.nan
        raw = result.get(self._metric) if isinstance(result, Mapping) else None
        if raw is None:
            raw = self._last.get(trial_id)
        if raw is None:
            if isinstance(result, Mapping) and result and self._metric not in result:
                # A misspelled metric= makes every trial a failure; the same words for every
                # trial, so Python shows the warning once.
                keys = sorted(map(str, result))
                warnings.warn(
                    f"ArqonSearch: a trial's result has no {self._metric!r} (its keys: {keys[:12]}"
                    f"{', ...' if len(keys) > 12 else ''}); it is recorded as a failed evaluation. Is metric= "
                    "the name the trainable reports?",
                    UserWarning,
                    stacklevel=3,
                )
            return math.nan
        v = raw if isinstance(raw, float) else _metric_number(raw)
        if v is None:
            what = str(raw) if isinstance(raw, _InvalidMetric) else f"{type(raw).__name__} {raw!r}"
            warnings.warn(
                f"ArqonSearch: trial {trial_id} reported {self._metric}={what[:200]}, which is not a real number; "
                "it is recorded as a failed evaluation",
                UserWarning,
                stacklevel=3,
            )
            return math.nan
        return -v if self._mode == "max" else v

    # ------------------------------------------------------------ Searcher API
    def suggest(self, trial_id: str) -> dict | None:
        """The next config, ``None`` (ask again later) or ``Searcher.FINISHED``."""
        if self._spec is None:
            raise RuntimeError(
                "ArqonSearch: no search space. Pass space= to ArqonSearch or param_space= to tune.Tuner."
            )
        if not self._metric or not self._mode:
            raise RuntimeError(
                "ArqonSearch: metric and mode are not set. Pass metric= and mode= to ArqonSearch(...), to "
                "tune.TuneConfig(metric=..., mode=...) (tune.Tuner) or to tune.run(..., metric=..., mode=...). "
                "Tune forwards the last two only when the space comes through Tuner(param_space=...) or "
                "tune.run(config=...), not when it is given to ArqonSearch(space=...)."
            )
        self._ensure_solver()
        if self._budget is not None and self._counts["suggested"] >= self._budget:
            return Searcher.FINISHED
        if self._max_concurrent is not None and len(self._live) >= self._max_concurrent:
            return None
        if self._points:
            values, config = self._nested.encode(self._points[0], "points_to_evaluate")
            self._points.pop(0)
            self._live[trial_id] = (self._session.hand_out(values), values, config)
            self._counts["suggested"] += 1
            return copy.deepcopy(config)
        # Repeats once the discrete space is used up: Tune's num_samples decides when to stop.
        got = self._session.propose(1, wait=True, repeats=True)
        if not got:  # waiting for results the strategy needs, or every config is running
            return None
        eid, values = got[0]
        config = self._nested.config(values)
        self._live[trial_id] = (eid, values, config)
        self._counts["suggested"] += 1
        return config

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Keeps the last value of the metric, for trials that complete with ``result=None``."""
        if trial_id in self._live and isinstance(result, Mapping) and result.get(self._metric) is not None:
            raw = result[self._metric]
            v = _metric_number(raw)
            # Only a description of an invalid value is kept: the state must stay picklable.
            self._last[trial_id] = v if v is not None else _InvalidMetric(f"{type(raw).__name__} {raw!r}"[:200])

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Records the trial's value (NaN, a failure, for errors, a missing or a non-numeric metric).

        Rows of the current batch wait in it for the next ``tell``; other results are
        observed at the next solver step. No compiled call happens here.
        """
        entry = self._live.pop(trial_id, None)
        if entry is None:
            # A trial that errored and was rerun (Tuner.restore(resume_errored=True)): its
            # failure is recorded already; a real value now is recorded as well.
            values = self._errored.pop(trial_id, None)
            if values is not None:
                y = self._value(trial_id, result, error)
                if math.isfinite(y):
                    self._session.observe(values, y)
            self._last.pop(trial_id, None)
            return
        y = self._value(trial_id, result, error)
        self._last.pop(trial_id, None)
        self._counts["completed"] += 1
        self._counts["failed"] += int(not math.isfinite(y))
        eid, values, config = entry
        if error:
            self._errored[trial_id] = values
        self._session.report(eid, y)
        self._update_best(config, y)

    def add_evaluated_point(
        self,
        parameters: dict,
        value: float | None,
        error: bool = False,
        pruned: bool = False,
        intermediate_values: list | None = None,
    ) -> None:
        """Records a config evaluated outside this search (warm start); not counted in the budget.

        Args:
            parameters: The config (nested dict or ``"a/b"`` keys), every parameter given.
            value: Its metric value (``None``: a failure).
            error: Whether it failed (recorded as a failure).
            pruned: Ignored (the value is used as it is).
            intermediate_values: Ignored.
        """
        del pruned, intermediate_values
        if self._spec is None:
            raise RuntimeError("add_evaluated_point: set the search space first (space= or set_search_properties)")
        if not isinstance(parameters, Mapping):
            raise TypeError(f"parameters: expected a dict, got {type(parameters).__name__}")
        v = told_value(value, "value")  # None, NaN and +-inf: a failure
        values, config = self._nested.encode(parameters, "parameters")
        v = math.nan if error else v
        if self._session is None:
            # The sign for mode="max" is applied when the solver starts (mode may come later).
            self._warm.append((values, v, config))
        else:
            y = -v if self._mode == "max" else v
            self._session.observe(values, y)
            self._update_best(config, y)

    # ------------------------------------------------------------- inspection
    def flush(self) -> None:
        """Records every finished trial in the solver now.

        Results normally reach the solver at the next ask, in the same compiled call;
        call this to read an up-to-date :attr:`best` (e.g. after ``Tuner.fit``). The
        current batch is told as it is; its rows still running are observed later.
        """
        if self._session is not None:
            self._session.flush()

    @property
    def best(self) -> tuple[dict, float] | None:
        """``(config, metric value)`` of the best finished trial or warm start (``None`` if none)."""
        if self._best is None:
            return None
        config, y = self._best
        return copy.deepcopy(config), (-y if self._mode == "max" else y)

    def _update_best(self, config: dict, y: float) -> None:
        if math.isfinite(y) and (self._best is None or y < self._best[1]):
            self._best = (copy.deepcopy(config), y)

    # ----------------------------------------------------------- save/restore
    def get_state(self) -> dict:
        """Everything needed to continue the search: ``{"format", "session", "searcher"}``.

        ``session`` is the versioned JSON state of the solver and its ledger
        (:meth:`~arqon_jax.host.session.Session.to_json`, arrays exact); ``searcher`` holds
        the fields named in ``_SAVED`` as plain Python (Tune domains and configs as they are).
        """
        return {
            "format": _FORMAT,
            "session": None if self._session is None else self._session.to_json(_KIND, self._cfg),
            "searcher": copy.deepcopy({k: getattr(self, "_" + k) for k in _SAVED}),
        }

    def set_state(self, state: dict) -> None:
        """Restores a state from :meth:`get_state` (rebuilding the session from its config).

        Raises:
            ValueError: If ``state`` is not an ArqonSearch state of this format, or this
                searcher has a search space, metric or mode (from its constructor or
                Tune) and the state's differs (the message names what differs).
        """
        found = state.get("format", state.get("_format")) if isinstance(state, Mapping) else None
        if found != _FORMAT:
            raise ValueError(f"restore: not an ArqonSearch state of this version (format {found!r}, expected "
                             f"{_FORMAT}; states of other versions of arqon_jax cannot be restored)")
        fields = state.get("searcher")
        fields = set(fields) if isinstance(fields, Mapping) else set()
        if fields != set(_SAVED) or "session" not in state:
            raise ValueError(f"restore: corrupt ArqonSearch state (missing fields "
                             f"{sorted(set(_SAVED) - fields) + ([] if 'session' in state else ['session'])}, "
                             f"unknown fields {sorted(fields - set(_SAVED))})")
        session = state["session"]
        if (state["searcher"]["cfg"] is None) != (session is None) or not isinstance(session, (str, type(None))):
            # A started searcher has a session (its JSON text) and its config; one without
            # the other would hand out proposals its ledger does not know.
            raise ValueError("restore: corrupt ArqonSearch state ('session', JSON text, and 'searcher.cfg' must "
                             "be given together)")
        _check_same_search(self, state["searcher"])
        # Restored on a copy, so that a state refused half-way leaves this searcher as it was.
        new = object.__new__(type(self))  # not copy.copy: that would go through get_state/set_state
        new.__dict__.update(self.__dict__)
        for k, v in copy.deepcopy(dict(state["searcher"])).items():
            setattr(new, "_" + k, v)
        new._session = None
        if new._spec is not None:
            new._nested = _nested_space(new._spec, new._from_ctor)
        if session is not None:
            new._build_session(restoring=True)
            new._session.load(read_state_header(session, _KIND), _KIND)
        self.__dict__.update(new.__dict__)

    def save(self, checkpoint_path: str) -> None:
        """Pickles the state to ``checkpoint_path`` (Tune calls it at every experiment checkpoint)."""
        with open(checkpoint_path, "wb") as fh:
            pickle.dump(self.get_state(), fh)

    def restore(self, checkpoint_path: str) -> None:
        """Loads a state written by :meth:`save` (``Tuner.restore`` calls it).

        Raises:
            OSError: If the file cannot be read.
            ValueError: If it is not a pickled ArqonSearch state of this format.
        """
        with open(checkpoint_path, "rb") as fh:
            try:
                state = pickle.load(fh)
            except Exception as exc:  # noqa: BLE001 - unpickling garbage raises almost anything
                raise ValueError(f"restore: {checkpoint_path!r} is not an ArqonSearch checkpoint (unpickling it "
                                 f"raised {type(exc).__name__}: {exc})") from exc
        self.set_state(state)

    def __getstate__(self) -> dict:
        return self.get_state()

    def __setstate__(self, state: dict) -> None:
        self.set_state(state)
