"""ArqonHPO-compatible ask/tell classes: change one import line, keep the code.

``from arqon_jax import ArqonSolver, ArqonProbe`` replaces ``from arqonhpo import ...``:
the constructors take the same JSON (or dict) configuration, the methods have the same
names and return the same kinds of values (lists of parameter dicts, ``None`` when
done). Underneath, :class:`ArqonSolver` is a thin translation layer over the functional
solver (:func:`arqon_jax.make_solver`) and :class:`ArqonProbe` over the probe kernel
(:func:`arqon_jax.kronecker`).

Configuration (ArqonHPO's schema plus optional fields of ours)::

    {
      "seed": 42,                 # int in [0, 2**64), all bits used; optional here (default 0)
      "budget": 100,              # int >= 1: total evaluations (proposals + seeded points)
      "bounds": {                 # name -> {"min", "max", "scale"}; scale is "Linear" (default),
        "lr": {"min": 1e-4, "max": 0.1, "scale": "Log"},     # "Log", "Periodic", or ours:
        "layers": {"min": 1, "max": 8, "scale": "Integer"},  # "Integer" (inclusive bounds)
        "act": {"choices": ["relu", "gelu"]}                  # and categorical choices
      },
      "probe_ratio": 0.2,         # share of the budget spent probing, in (0, 1]
      "strategy_params": {},      # accepted for compatibility, not used (ArqonHPO ignores it too)
      # ours, all optional:
      "batch_size": 10,           # rows per solver step (default: arqon_jax.default_batch_size(budget))
      "method": "auto",           # "auto" | "tpe" | "nelder-mead" | "cmaes" | "random"
      "capacity": null,           # history rows kept (default min(budget, 2048))
      "x64": false                # run the solver in float64 instead of float32
    }

Unknown fields are ignored with a warning (ArqonHPO ignores them silently).

Precision: the solver runs in float32 unless ``"x64": true``; told values stay float64 on
the host, and bounds float32 cannot represent or resolve switch to float64 with a warning
(see :class:`ArqonSolver`).

Differences from ArqonHPO 0.3.3 (see ``shared/reference/arqonhpo.md``), all on purpose:

* Partial tells and warm starts of any size keep working; failed evaluations (``NaN``,
  ``inf`` or ``None`` values) are recorded as failures instead of being rejected.
* The seed changes every proposal, the probe included; runs are reproducible across
  processes for the same seed and the same told values.
* Every proposal lies inside the bounds, for every scale; batches never exceed the
  remaining budget, and a point already evaluated (or handed out) is never proposed again.
* ``ask_one`` works in any phase: it hands out the rows of the solver's current batch one
  at a time, and results given back through ``seed()`` with the same parameters are
  matched to their proposal, so the solver learns from them exactly as from ``tell``.
* ``export()`` / ``ArqonSolver.from_state()`` exist (the integration guide uses them).
* Configurations are validated, with messages naming the field.

How results find their proposal: the ``k``-th proposal handed out (counting from 0
over the solver's lifetime, ``ask`` and ``ask_one`` alike) has ``eval_id == k``, the
convention of ArqonHPO's own examples. A result whose ``params`` equal a proposal still
waiting for its value is that proposal's result (a different ``eval_id`` only draws a
warning, as code written for ArqonHPO may number results its own way). Otherwise its
``eval_id`` must name a waiting proposal (then it was evaluated at other parameters and
is recorded there), else it is an error; a ``seed()`` entry or a result with neither is
a new evaluation (a warm start) and counts against the budget, as in ArqonHPO.

Batching: the solver works in steps of ``batch_size`` rows. The first ``ask()`` returns
the whole probe, like ArqonHPO; later ones return one step (fewer at the end of the
budget). ``ask_one()`` hands out the same rows one at a time. A step's results reach the
solver together when the next step is needed; rows still unreported then are left out
of it, and their late results are recorded in the history on their own. A proposed row
that repeats a recorded point is not handed out again; the strategy gets that point's
known value instead (Nelder-Mead can go on), and when steps keep bringing nothing new
(a converged strategy, a nearly exhausted discrete space) uniform random points are
proposed, until the space has none left (``None``).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import numbers
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from itertools import chain
from typing import Any, NamedTuple

import jax
import numpy as np

from .host.config import check_int, check_seed, seed_key
from .host.evaluate import solver_values
from .probe import kronecker
from .solver import METHODS, Solver, default_batch_size, make_solver
from .space import CATEGORICAL, INTEGER, LOG, Space
from .state_io import decode_array, encode_array, read_state_header, state_from_json, state_to_json

__all__ = ["ArqonSolver", "ArqonProbe"]

_SOLVER_FIELDS = (
    "seed", "budget", "bounds", "probe_ratio", "strategy_params", "batch_size", "method", "capacity", "x64",
)
_PROBE_FIELDS = _SOLVER_FIELDS
_MAX_BUDGET = 2**31 - 2**25
# Solver steps in a row that bring no new point (discrete spaces close to exhausted)
# before falling back to uniform random points.
_MAX_EMPTY_STEPS = 2
_RANDOM_TRIES = 64
_F64_MAX = float(np.finfo(np.float64).max)


# ------------------------------------------------------------------ config parsing
def _load_config(config: Any, where: str = "config") -> dict:
    if isinstance(config, (bytes, bytearray)):
        config = bytes(config).decode("utf-8")
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not valid JSON ({exc})") from None
        except RecursionError:
            raise ValueError(f"{where}: JSON nested too deeply") from None
    if not isinstance(config, Mapping):
        raise TypeError(f"{where}: expected a JSON object (str) or a dict, got {type(config).__name__}")
    return dict(config)


def _int_field(cfg: Mapping, name: str, low: int, high: int | None = None, default: Any = ...) -> Any:
    if name not in cfg or cfg[name] is None:
        if default is ...:
            raise ValueError(f"config: missing required field {name!r}")
        return default
    value = cfg[name]
    if isinstance(value, float) and value.is_integer():  # JSON writers often emit 100.0
        value = int(value)
    return check_int(name, value, low, high)


def _scale_of(scale: Any) -> int | None:
    """The scale code Space gives an ArqonHPO scale name, or None if Space refuses it."""
    try:
        return Space.from_bounds({"p": {"min": 1.0, "max": 2.0, "scale": scale}}).scales[0]
    except (TypeError, ValueError):
        return None  # unknown or categorical: Space.from_bounds on the real bounds says why


def _check_bounds(bounds: Any) -> Space:
    """Validates ArqonHPO-style bounds with messages naming the parameter, then builds the Space."""
    if not isinstance(bounds, Mapping):
        raise TypeError(f"bounds: expected a dict name -> {{'min', 'max', 'scale'}}, got {type(bounds).__name__}")
    if not bounds:
        raise ValueError("bounds: the search space is empty; give at least one parameter")
    for name, spec in bounds.items():
        where = f"bounds[{name!r}]"
        if not isinstance(spec, Mapping) or "choices" in spec:
            continue  # (low, high) pairs and choices: Space's own checks name the field
        for side in ("min", "max"):
            alt = {"min": "low", "max": "high"}[side]
            if side not in spec and alt not in spec:
                raise ValueError(f"{where}: missing {side!r}")
            value = spec.get(side, spec.get(alt))
            if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.number)):
                raise TypeError(f"{where}[{side!r}]: expected a number, got {type(value).__name__} {value!r}")
            if not math.isfinite(float(value)):
                raise ValueError(f"{where}[{side!r}]: must be finite, got {value!r}")
        lo, hi = float(spec.get("min", spec.get("low"))), float(spec.get("max", spec.get("high")))
        scale = spec.get("scale", "Linear")
        code = _scale_of(scale)
        if not lo < hi:
            raise ValueError(f"{where}: min must be < max, got min={lo!r}, max={hi!r}")
        if code == LOG and lo <= 0:
            raise ValueError(f"{where}: scale {scale!r} needs min > 0, got min={lo!r}")
    return Space.from_bounds(dict(bounds))


def _warn_unknown(cfg: Mapping, known: tuple, who: str) -> None:
    unknown = sorted(str(k) for k in cfg if k not in known)
    if unknown:
        warnings.warn(f"{who}: ignoring unknown config fields {unknown}", UserWarning, stacklevel=3)


def _solver_config(config: Any) -> tuple[dict, Space]:
    """Validates a solver configuration; returns it normalized (every field filled) and its Space."""
    cfg = _load_config(config)
    _warn_unknown(cfg, _SOLVER_FIELDS, "ArqonSolver")
    seed = 0 if cfg.get("seed") is None else check_seed(cfg["seed"])
    budget = _int_field(cfg, "budget", 1, _MAX_BUDGET)
    if "bounds" not in cfg:
        raise ValueError("config: missing required field 'bounds'")
    space = _check_bounds(cfg["bounds"])
    ratio = cfg.get("probe_ratio", 0.2)
    ratio = 0.2 if ratio is None else ratio
    if isinstance(ratio, bool) or not isinstance(ratio, (numbers.Real, np.number)) or not 0 < float(ratio) <= 1:
        raise ValueError(f"probe_ratio: expected a number in (0, 1], got {ratio!r}")
    params = cfg.get("strategy_params")
    if params is not None and not isinstance(params, Mapping):
        raise TypeError(f"strategy_params: expected a dict, got {type(params).__name__}")
    batch = _int_field(cfg, "batch_size", 1, budget, default=default_batch_size(budget))
    method = cfg.get("method", "auto")
    method = "auto" if method is None else method
    if not isinstance(method, str) or method.lower() not in METHODS:
        raise ValueError(f"method: unknown method {method!r}; expected one of {list(METHODS)}")
    capacity = _int_field(cfg, "capacity", 1, default=None)
    x64 = cfg.get("x64", False)
    x64 = False if x64 is None else x64
    if not isinstance(x64, (bool, np.bool_)):
        raise TypeError(f"x64: expected true or false, got {type(x64).__name__} {x64!r}")
    x64 = bool(x64)
    issues = [] if x64 else space.float32_issues(np.float32)
    if issues:
        # Refusing would break ArqonHPO configurations that work there (it runs in
        # float64); staying in float32 would propose a few distinct points or points
        # outside the bounds.
        warnings.warn(
            f"ArqonSolver: {'; '.join(issues)}: running the solver in float64 (\"x64\": true) instead; "
            "set \"x64\": true in the config to silence this warning",
            UserWarning,
            stacklevel=3,
        )
        x64 = True
    norm = {
        "seed": seed,
        "budget": budget,
        "bounds": json.loads(json.dumps(cfg["bounds"])) if _jsonable(cfg["bounds"]) else cfg["bounds"],
        "probe_ratio": float(ratio),
        "strategy_params": dict(params or {}),
        "batch_size": batch,
        "method": method.lower(),
        "capacity": capacity,
        "x64": x64,
    }
    return norm, space


def _jsonable(obj: Any) -> bool:
    try:
        json.dumps(obj)
    except (TypeError, ValueError):
        return False
    return True


# --------------------------------------------------------------- compiled steps
class _Steps(NamedTuple):
    solver: Solver
    init: Any
    step: Any
    empty: tuple  # device arrays standing in for "nothing to observe / tell"
    flags: tuple  # device booleans False, True


_STEPS: "OrderedDict[int, _Steps]" = OrderedDict()


def _steps(solver: Solver) -> _Steps:
    """Jitted ``init`` and one fused ``step``, compiled once per solver.

    ``step(state, Xo, yo, vo, do_observe, X, y, valid, do_tell, do_ask) -> (X_new, V_new, state)``
    observes a chunk of ``batch_size`` rows, tells a batch and asks for the next one
    (unit rows ``X_new`` and their parameter values ``V_new``), each part switched on or
    off by a traced flag: a single compiled program serves every combination (compiling
    the solver's ask and tell separately takes several times longer, and compilation
    dominates the start-up time) and the steady state costs one dispatch per batch.
    """
    hit = _STEPS.get(id(solver))
    if hit is not None and hit.solver is solver:
        _STEPS.move_to_end(id(solver))
        return hit
    B, dim, dtype, space = solver.batch_size, solver.space.dim, solver.dtype, solver.space

    def step(state, Xo, yo, vo, do_observe, X, y, valid, do_tell, do_ask):
        state = jax.lax.cond(do_observe, lambda s: solver.observe(s, Xo, yo, vo), lambda s: s, state)
        state = jax.lax.cond(do_tell, lambda s: solver.tell(s, X, y, valid), lambda s: s, state)
        X_new, state = jax.lax.cond(do_ask, solver.ask, lambda s: (jax.numpy.zeros((B, dim), dtype), s), state)
        # Values in the solver's dtype: Space.from_unit clips them inside the user's bounds.
        return X_new, space.from_unit(X_new), state

    # Constant inputs live on the device once, instead of being transferred at every step.
    empty = tuple(jax.device_put(a) for a in (np.zeros((B, dim), dtype), np.full(B, np.nan, dtype), np.zeros(B, bool)))
    flags = (jax.device_put(np.bool_(False)), jax.device_put(np.bool_(True)))
    steps = _Steps(solver, jax.jit(solver.init), jax.jit(step), empty, flags)
    _STEPS[id(solver)] = steps
    while len(_STEPS) > 32:
        _STEPS.popitem(last=False)
    return steps


def _precision(x64: bool):
    """The context the solver of a configuration is built, compiled and stepped in."""
    return jax.enable_x64(True) if x64 else contextlib.nullcontext()


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def _unit_from_values(space: Space, V: np.ndarray, dtype) -> np.ndarray:
    """Parameter values to unit rows of the solver's dtype (padded to a power of two to bound recompiles)."""
    n = V.shape[0]
    pad = np.concatenate([V, np.repeat(V[:1], _pow2(n) - n, axis=0)]) if n else V
    with jax.enable_x64(True):
        U = np.asarray(space.to_unit(np.asarray(pad, np.float64)))
    return U[:n].astype(dtype)


# ------------------------------------------------------------------ host records
class _Batch:
    """One solver ``ask`` (or a batch of random fallback points) as seen by the host."""

    __slots__ = ("asked", "X", "V", "keys", "ids", "y", "rep", "moved", "next_row", "n_out", "n_rep")

    def __init__(self, asked: bool, X: np.ndarray, V: np.ndarray):
        n = X.shape[0]
        self.asked = asked  # from solver.ask (told back with tell) or random (observed)
        self.X = X  # unit rows, solver dtype
        self.V = V  # parameter values, float64
        self.keys = [tuple(r) for r in V.tolist()]
        self.ids = np.full(n, -1, np.int64)  # eval_id of handed-out rows
        self.y = np.full(n, np.nan, np.float64)
        self.rep = np.zeros(n, bool)  # reported (told with the batch)
        self.moved = np.zeros(n, bool)  # reported at other parameters (recorded on their own)
        self.next_row = 0
        self.n_out = 0
        self.n_rep = 0

    @property
    def complete(self) -> bool:
        return self.next_row == self.X.shape[0] and self.n_rep == self.n_out

    def to_json(self) -> dict:
        return {
            "asked": self.asked, "X": encode_array(self.X), "V": encode_array(self.V), "ids": encode_array(self.ids),
            "y": encode_array(self.y), "rep": encode_array(self.rep), "moved": encode_array(self.moved),
            "next_row": self.next_row,
        }


class _Pending:
    """A proposal handed out and waiting for its value."""

    __slots__ = ("key", "batch", "row", "u")

    def __init__(self, key: tuple, batch: _Batch | None, row: int, u: np.ndarray | None = None):
        self.key, self.batch, self.row, self.u = key, batch, row, u


def _load_results(data: Any, where: str) -> list:
    if isinstance(data, (bytes, bytearray)):
        data = bytes(data).decode("utf-8")
    if isinstance(data, str):
        try:
            data = json.loads(data, parse_float=_json_float)  # accepts NaN and Infinity
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not valid JSON ({exc})") from None
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, (list, tuple)):
        raise TypeError(f"{where}: expected a list of dicts (or its JSON text), got {type(data).__name__}")
    return list(data)


def _json_float(text: str) -> float:
    # A finite literal beyond float64 (1e400) is a huge value, not a failure; json would
    # read it as inf. "Infinity" and "NaN" do not come through here.
    v = float(text)
    return v if math.isfinite(v) else math.copysign(_F64_MAX, v)


def _value(v: Any, where: str) -> float:
    """A told value as float64: None is a failure (NaN), as are NaN and +-inf.

    A finite value beyond float64 (a huge int, a longdouble) is clipped to its largest
    finite value rather than becoming a failure. Complex values are refused: keeping the
    real part would optimize another function without a word.
    """
    if type(v) is float:
        return v
    if v is None:
        return math.nan
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{where}: expected a number or None, got {v!r}")
    if isinstance(v, (complex, np.complexfloating)) or (hasattr(v, "__array__") and np.iscomplexobj(v)):
        raise TypeError(f"{where}: got the complex value {v!r}; tell a real number (e.g. abs(z) or z.real)")
    if isinstance(v, numbers.Real) and not isinstance(v, np.generic):
        try:
            return float(v)
        except OverflowError:  # 10**400, Fraction(10**400): finite, beyond float64
            return _F64_MAX if v > 0 else -_F64_MAX
    if isinstance(v, np.generic) or hasattr(v, "__array__"):
        try:
            arr = np.asarray(v)
        except Exception:  # noqa: BLE001 - an object whose __array__ fails is not a number
            arr = None
        if arr is None or arr.size != 1 or arr.dtype.kind not in "iuf":
            kind = "" if arr is None else f" of dtype {arr.dtype} and shape {arr.shape}"
            raise TypeError(f"{where}: expected a number or None (a failed evaluation), got {type(v).__name__}{kind}")
        item = arr.reshape(())
        with np.errstate(over="ignore"):
            out = float(item)
        if math.isinf(out) and bool(np.isfinite(item)):  # a longdouble beyond float64
            return math.copysign(_F64_MAX, out)
        return out
    raise TypeError(f"{where}: expected a number or None (a failed evaluation), got {type(v).__name__} {v!r}")


# ------------------------------------------------------------------ state checks
def _corrupt(where: str, why: str) -> ValueError:
    return ValueError(f"state: corrupt {where}: {why}")


def _member(d: Any, key: str, where: str) -> Any:
    if not isinstance(d, Mapping):
        raise _corrupt(where, f"expected an object, got {type(d).__name__}")
    if key not in d:
        raise _corrupt(f"{where}[{key!r}]", "missing")
    return d[key]


def _state_int(d: Any, key: str, where: str, low: int, high: int | None = None) -> int:
    v = _member(d, key, where)
    where = f"{where}[{key!r}]"
    if isinstance(v, bool) or not isinstance(v, int):
        raise _corrupt(where, f"expected an integer, got {type(v).__name__} {v!r}")
    if v < low or (high is not None and v > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise _corrupt(where, f"expected an integer {rng}, got {v}")
    return v


def _state_array(d: Any, key: str, where: str, dtype: Any, shape: tuple) -> np.ndarray:
    """``d[key]`` decoded; its dtype and shape must be ``dtype`` and ``shape`` (None: any length)."""
    entry = _member(d, key, where)
    where = f"{where}[{key!r}]"
    try:
        arr = decode_array(entry, "array")
    except ValueError as exc:
        raise _corrupt(where, str(exc).removeprefix("array: ")) from None
    want = np.dtype(dtype)
    if arr.dtype != want or arr.ndim != len(shape) or any(w is not None and w != n for w, n in zip(shape, arr.shape)):
        shown = "(" + ", ".join("n" if w is None else str(w) for w in shape) + ("," if len(shape) == 1 else "") + ")"
        raise _corrupt(where, f"expected {want.name} of shape {shown}, got {arr.dtype.name} of shape {arr.shape}")
    return arr


def _check_finite(X: np.ndarray, where: str) -> None:
    if not np.all(np.isfinite(X)):
        raise _corrupt(where, "non-finite unit coordinates")


# -------------------------------------------------------------------- ArqonSolver
class ArqonSolver:
    """ArqonHPO's ``ArqonSolver`` API over the functional PCR solver.

    Args:
        config: JSON text or a dict (schema in the module docstring).

    Raises:
        ValueError, TypeError: For an invalid configuration, naming the field.

    Warns:
        UserWarning: When float32 cannot represent or resolve the bounds of a parameter
            (a nonzero bound below float32's smallest normal number, or fewer than 4096
            float32 values between min and max, e.g. ``(1e8, 1e8 + 100)``) and ``"x64"``
            is false: the warning names the parameter and the solver runs in float64, as
            with ``"x64": true`` (which :attr:`config` and ``export()`` then hold).
            Staying in float32 would propose a handful of distinct points, or points
            outside the bounds; refusing would break configurations ArqonHPO accepts.

    Precision: told values are kept in float64 on the host (:attr:`best`, the history
    and ``export()`` hold them as told); the solver sees them in its dtype, finite values
    beyond its range clipped to its largest finite value, never counted as failures.

    Example::

        solver = ArqonSolver(json.dumps({"seed": 0, "budget": 100,
                                         "bounds": {"x": {"min": -5, "max": 5}}}))
        while (batch := solver.ask()) is not None:
            solver.tell([{"eval_id": k, "params": p, "value": f(p)}
                         for k, p in enumerate(batch, start=solver.n_proposed - len(batch))])

    Batching, ``eval_id`` and the differences from ArqonHPO: see the module docstring.
    """

    def __init__(self, config: Any):
        cfg, space = _solver_config(config)
        with _precision(cfg["x64"]):
            self._setup(cfg, space)
            self._state = self._steps.init(seed_key(cfg["seed"]))
        self._reset_host()

    # ------------------------------------------------------------ internals
    def _setup(self, cfg: dict, space: Space) -> None:
        self._config = cfg
        self._space = space
        self._solver = make_solver(
            space, cfg["budget"], cfg["batch_size"], method=cfg["method"], probe_ratio=cfg["probe_ratio"],
            capacity=cfg["capacity"],
        )
        self._steps = _steps(self._solver)
        self._names = space.names
        self._dim = space.dim
        self._dtype = np.dtype(self._solver.dtype)
        self._cat = [i for i in range(space.dim) if space.scales[i] == CATEGORICAL]
        self._plain = not any(sc in (INTEGER, CATEGORICAL) for sc in space.scales)

    def _reset_host(self) -> None:
        self._batches: list[_Batch] = []
        self._pending: dict[int, _Pending] = {}
        self._by_key: dict[tuple, int] = {}
        self._seen: dict[tuple, None] = {}  # every point handed out or recorded (ordered set)
        self._known: dict[tuple, float] = {}  # last value seen at each recorded point
        self._extra_X: list[np.ndarray] = []  # evaluations to observe at the next solver step
        self._extra_y: list[float] = []
        self._n_handed = 0
        self._n_extra = 0
        self._n_results = 0
        self._serial = 0  # solver asks so far
        # (value, key, eval_id) of the best finite result, in float64: the solver's own
        # best is in its dtype, which may round or clip what was told.
        self._best: tuple[float, tuple, int | None] | None = None

    @property
    def _remaining(self) -> int:
        return self._config["budget"] - self._n_handed - self._n_extra

    def _records(self, V: np.ndarray) -> list[dict]:
        if self._plain:  # only continuous parameters: values are the floats themselves
            return [dict(zip(self._names, row)) for row in np.asarray(V, np.float64).tolist()]
        return self._space.to_records(V)

    def _take(self, n_max: int) -> list[dict]:
        """Hands out up to ``n_max`` new rows of the open batches, in order."""
        out_V = []
        for b in self._batches:
            n_rows = b.X.shape[0]
            while b.next_row < n_rows and len(out_V) < n_max:
                r = b.next_row
                b.next_row += 1
                key = b.keys[r]
                if key in self._seen:  # never propose a point twice
                    continue
                eid = self._n_handed
                self._n_handed += 1
                b.ids[r] = eid
                b.n_out += 1
                self._pending[eid] = _Pending(key, b, r)
                self._by_key[key] = eid
                self._seen[key] = None
                out_V.append(b.V[r])
            if len(out_V) >= n_max:
                break
        if not out_V:
            return []
        return self._records(np.stack(out_V))

    def _close(self, b: _Batch) -> tuple[np.ndarray, np.ndarray]:
        """Values and valid mask to report batch ``b``; its unreported proposals become late."""
        y = np.where(b.rep, b.y, np.nan)
        valid = b.rep.copy()
        for r in np.flatnonzero(b.ids < 0):
            # A row skipped as a repeat of a recorded point gets that point's value, so a
            # strategy waiting for it (a Nelder-Mead step) can go on.
            v = self._known.get(b.keys[r])
            if v is not None and b.asked:
                valid[r], y[r] = True, v
        for r in np.flatnonzero((b.ids >= 0) & ~b.rep & ~b.moved):
            p = self._pending[int(b.ids[r])]
            p.batch, p.row, p.u = None, -1, b.X[r].copy()
        return y, valid

    def _run(self, reports: list, n_ask: int) -> list[tuple]:
        """Observes the buffered extra evaluations, tells ``reports`` and asks ``n_ask`` times.

        Packs the work, in this order, into as few fused ``step`` calls as possible.
        """
        B, dim, dt = self._solver.batch_size, self._dim, self._dtype
        ops: list[tuple[int, Any]] = []
        if self._extra_X:
            X = np.stack(self._extra_X).astype(dt)
            y = solver_values(np.asarray(self._extra_y, np.float64), dt)
            self._extra_X, self._extra_y = [], []
            for s in range(0, X.shape[0], B):
                Xc, yc = X[s : s + B], y[s : s + B]
                n = Xc.shape[0]
                ops.append((0, (
                    np.concatenate([Xc, np.zeros((B - n, dim), dt)]),
                    np.concatenate([yc, np.full(B - n, np.nan, dt)]),
                    np.arange(B) < n,
                )))
        ops += [(1, r) for r in reports] + [(2, None)] * n_ask
        calls: list[dict] = []
        for slot, payload in ops:
            if not calls or max(calls[-1]) >= slot:
                calls.append({})
            calls[-1][slot] = payload
        empty, flag = self._steps.empty, self._steps.flags
        state, out = self._state, []
        for c in calls:
            X, V, state = self._steps.step(
                state, *c.get(0, empty), flag[0 in c], *c.get(1, empty), flag[1 in c], flag[2 in c]
            )
            if 2 in c:
                out.append((X, V))
        self._state = state
        return out

    def _advance(self, all_probe: bool) -> None:
        """One solver step: report finished batches, then ask for the next batch(es)."""
        B, pc = self._solver.batch_size, self._solver.probe_count
        next_probe = self._serial * B < pc
        k = 0
        if next_probe:
            # Probe asks do not depend on results: keep unfinished probe batches open.
            while k < len(self._batches) and self._batches[k].complete:
                k += 1
        else:
            k = len(self._batches)
        closing, self._batches = self._batches[:k], self._batches[k:]
        reports = []
        for b in closing:
            y, valid = self._close(b)
            if b.asked:
                reports.append((b.X, solver_values(y, self._dtype), valid))
            else:
                self._extra_X.extend(b.X[valid])
                self._extra_y.extend(y[valid].tolist())
        n_ask = 1
        if next_probe and all_probe:
            n_ask = max(1, -(-(pc - self._serial * B) // B))
        new = self._run(reports, n_ask)
        self._serial += n_ask
        for X, V in new:
            self._batches.append(_Batch(True, np.asarray(X), np.asarray(V).astype(np.float64)))

    def _random_batch(self) -> bool:
        """Fallback when the solver keeps proposing known points: fresh uniform points, if any."""
        B = self._solver.batch_size
        # SeedSequence takes every bit of the seed (one 32-bit word per 32 bits), so
        # seeds equal in their low 32 bits get different streams.
        rng = np.random.default_rng([self._config["seed"], self._n_handed, self._serial])
        for _ in range(_RANDOM_TRIES // B + 1):
            X = rng.random((B, self._dim)).astype(self._dtype)
            b = _Batch(False, X, np.asarray(self._space.from_unit(X)).astype(np.float64))
            if any(k not in self._seen for k in b.keys):
                self._batches.append(b)
                return True
        return False

    def _next(self, n_max: int, all_probe: bool) -> list[dict]:
        out = self._take(n_max)
        for _ in range(_MAX_EMPTY_STEPS):
            if out:
                return out
            self._advance(all_probe)
            out = self._take(n_max)
        while not out and self._random_batch():
            out = self._take(n_max)
        return out

    # ------------------------------------------------------------ ArqonHPO API
    def ask(self) -> list[dict] | None:
        """The next batch of candidates, or ``None`` when the budget is spent.

        Returns:
            A list of parameter dicts (``{name: value}``; ints for integer parameters,
            the choice itself for categorical ones), never more than the remaining
            budget. The ``k``-th candidate handed out has ``eval_id == k``.
        """
        if self._remaining <= 0:
            return None
        with _precision(self._config["x64"]):
            return self._next(self._remaining, all_probe=True) or None

    def ask_one(self) -> dict | None:
        """One candidate, or ``None`` when the budget is spent; works in any phase.

        Report it back with ``tell`` (with its ``eval_id``) or ``seed`` (matched by its
        parameters): either way the solver learns from it like from a batch result.
        """
        if self._remaining <= 0:
            return None
        with _precision(self._config["x64"]):
            out = self._next(1, all_probe=False)
        return out[0] if out else None

    def tell(self, results: Any) -> None:
        """Records results: a list (or JSON text) of ``{"eval_id", "params", "value", "cost"}``.

        ``value`` may be ``None``, NaN or infinite: a failed evaluation. A result is
        matched to its proposal by ``params`` or, failing that, by ``eval_id`` (see the
        module docstring); ``cost`` is accepted and ignored. Any subset of a batch may be
        told, in any order, also after later asks. Nothing is recorded if any entry is
        invalid.

        Raises:
            ValueError, TypeError: For an unknown ``eval_id``, parameters outside the
                space, a missing ``value``, or malformed input (naming the entry).
        """
        self._record(results, "results", allow_eval_id=True)

    def seed(self, points: Any) -> None:
        """Records evaluations given as a list (or JSON text) of ``{"params", "value", "cost"}``.

        An entry whose parameters equal a proposal still waiting for its value is that
        proposal's result (the ``ask_one`` + ``seed`` pattern); any other entry is a warm
        start: recorded in the history and counted against the budget, as in ArqonHPO.
        """
        self._record(points, "points", allow_eval_id=False)

    def get_history_len(self) -> int:
        """Number of results recorded (told and seeded)."""
        return self._n_results

    # ---------------------------------------------------------------- extras
    @property
    def n_proposed(self) -> int:
        """Candidates handed out so far (the next one gets this ``eval_id``)."""
        return self._n_handed

    @property
    def budget_left(self) -> int:
        """Evaluations left: budget minus proposals handed out and warm-start points."""
        return max(0, self._remaining)

    @property
    def config(self) -> dict:
        """The normalized configuration (every field filled in)."""
        return copy.deepcopy(self._config)

    @property
    def best(self) -> dict | None:
        """The best result recorded so far, or ``None`` while no finite value was told.

        A dict ``{"params", "value", "eval_id"}``: ``value`` is the float64 value told
        for ``params`` (not the solver's rounded copy; a finite value beyond float64 is
        clipped to its largest finite value); ``eval_id`` is the proposal it answered,
        ``None`` for a warm start. Failed evaluations (``None``, NaN, +-inf) never count;
        on a tie the earlier result stays. It never gets worse.
        """
        if self._best is None:
            return None
        value, key, eid = self._best
        return {"params": self._records(np.asarray([key], np.float64))[0], "value": value, "eval_id": eid}

    def export(self) -> str:
        """Everything needed to continue, as versioned JSON text.

        ``ArqonSolver.from_state(solver.export())`` continues with exactly the proposals
        this object would make (bit for bit, in any process).
        """
        pend_ids, pend_u, pend_k = [], [], []
        for eid, p in self._pending.items():
            if p.batch is None:
                pend_ids.append(eid)
                pend_u.append(p.u)
                pend_k.append(p.key)
        empty_u = np.zeros((0, self._dim), self._dtype)
        empty_v = np.zeros((0, self._dim), np.float64)
        extra = {
            "counters": {
                "n_handed": self._n_handed, "n_extra": self._n_extra, "n_results": self._n_results,
                "serial": self._serial,
            },
            "batches": [b.to_json() for b in self._batches],
            "pending_closed": {
                "ids": encode_array(np.asarray(pend_ids, np.int64)),
                "X": encode_array(np.stack(pend_u).astype(self._dtype) if pend_u else empty_u),
                "keys": encode_array(np.asarray(pend_k, np.float64) if pend_k else empty_v),
            },
            "extras": {
                "X": encode_array(np.stack(self._extra_X).astype(self._dtype) if self._extra_X else empty_u),
                "y": encode_array(np.asarray(self._extra_y, np.float64)),
            },
            "seen": encode_array(np.asarray(list(self._seen), np.float64) if self._seen else empty_v),
            "known_keys": encode_array(np.asarray(list(self._known), np.float64) if self._known else empty_v),
            "known_y": encode_array(np.asarray(list(self._known.values()), np.float64)),
            "best": None if self._best is None else {
                "value": self._best[0], "key": list(self._best[1]), "eval_id": self._best[2],
            },
        }
        return state_to_json("ArqonSolver", self._config, self._space, self._state, extra)

    @classmethod
    def from_state(cls, state: str) -> "ArqonSolver":
        """Rebuilds a solver from :meth:`export`'s text.

        Every field is checked against the invariants the solver relies on (counters
        within the budget and above every handed-out ``eval_id``, each ``eval_id``
        waiting once, arrays of the right dtype and shape, points inside the space), so
        a hand-edited state is refused instead of handing out colliding ids or points.

        Raises:
            ValueError: If the text is corrupt (``state: corrupt <field>: ...``), not an
                arqon_jax ArqonSolver state, or written by a newer version.
        """
        doc = read_state_header(state, "ArqonSolver")
        try:
            cfg, space = _solver_config(doc["config"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"state: corrupt config: {exc}") from None
        obj = cls.__new__(cls)
        with _precision(cfg["x64"]):
            obj._setup(cfg, space)
            template = obj._steps.init(seed_key(0))  # structure, shapes and dtypes only
            _, obj._state, extra = state_from_json(doc, "ArqonSolver", template, space=space)
        obj._reset_host()
        obj._restore_host(extra)
        return obj

    def _restore_host(self, extra: Mapping) -> None:
        B, dim, budget = self._solver.batch_size, self._dim, self._config["budget"]
        cw = "extra['counters']"
        c = _member(extra, "counters", "extra")
        n_handed = _state_int(c, "n_handed", cw, 0, budget)
        n_extra = _state_int(c, "n_extra", cw, 0, budget)
        if n_handed + n_extra > budget:
            raise _corrupt(f"{cw}['n_extra']",
                           f"{n_handed} proposals plus {n_extra} warm starts exceed the budget {budget}")
        n_results = _state_int(c, "n_results", cw, 0, budget)
        serial = _state_int(c, "serial", cw, 0)
        asked = int(np.asarray(self._state.n_asked)) & 0xFFFFFFFF  # int32 in the solver state
        if (serial * B) & 0xFFFFFFFF != asked:
            raise _corrupt(f"{cw}['serial']",
                           f"{serial} solver steps of {B} rows, but the solver state asked {asked} rows")

        owner: dict[int, str] = {}  # every eval_id in the state -> where it is, to refuse repeats
        raw = _member(extra, "batches", "extra")
        if not isinstance(raw, list):
            raise _corrupt("extra['batches']", f"expected a list, got {type(raw).__name__}")
        batches = [self._batch_from_state(d, f"extra['batches'][{j}]", owner) for j, d in enumerate(raw)]
        pending: dict[int, _Pending] = {}
        where_of: dict[int, str] = {}
        for j, b in enumerate(batches):
            for r in np.flatnonzero((b.ids >= 0) & ~b.rep & ~b.moved):
                pending[int(b.ids[r])] = _Pending(b.keys[r], b, int(r))
                where_of[int(b.ids[r])] = f"extra['batches'][{j}]['V']"

        pw = "extra['pending_closed']"
        pc = _member(extra, "pending_closed", "extra")
        ids = _state_array(pc, "ids", pw, np.int64, (None,))
        us = _state_array(pc, "X", pw, self._dtype, (len(ids), dim))
        ks = _state_array(pc, "keys", pw, np.float64, (len(ids), dim))
        self._check_ids(ids, f"{pw}['ids']", owner)
        _check_finite(us, f"{pw}['X']")
        self._check_inside(ks, f"{pw}['keys']")
        for eid, u, k in zip(ids.tolist(), us, ks.tolist()):
            pending[eid] = _Pending(tuple(k), None, -1, u)
            where_of[eid] = f"{pw}['keys']"
        if owner and max(owner) >= n_handed:
            top = max(owner)
            raise _corrupt(f"{cw}['n_handed']", f"{n_handed} proposals handed out, but eval_id {top} is in "
                           f"{owner[top]} (the next proposal would repeat an eval_id)")
        pending = dict(sorted(pending.items()))
        by_key: dict[tuple, int] = {}
        for eid, p in pending.items():
            if p.key in by_key:
                raise _corrupt(where_of[eid],
                               f"proposals {by_key[p.key]} and {eid} wait at the same parameters {p.key}")
            by_key[p.key] = eid
        if n_results != n_handed - len(pending) + n_extra:
            raise _corrupt(f"{cw}['n_results']", f"{n_results} results, but {n_handed} proposals ({len(pending)} still "
                           f"waiting) and {n_extra} warm starts make {n_handed - len(pending) + n_extra}")

        ew = "extra['extras']"
        ex = _member(extra, "extras", "extra")
        ey = _state_array(ex, "y", ew, np.float64, (None,))
        eX = _state_array(ex, "X", ew, self._dtype, (len(ey), dim))
        if not np.all(np.isfinite(eX) & (eX >= 0) & (eX <= 1)):
            raise _corrupt(f"{ew}['X']", "unit coordinates must lie in [0, 1]")

        seen_arr = _state_array(extra, "seen", "extra", np.float64, (None, dim))
        self._check_inside(seen_arr, "extra['seen']")
        seen = dict.fromkeys(tuple(r) for r in seen_arr.tolist())
        if len(seen) != len(seen_arr):
            raise _corrupt("extra['seen']", "a point is listed twice")
        kk = _state_array(extra, "known_keys", "extra", np.float64, (None, dim))
        ky = _state_array(extra, "known_y", "extra", np.float64, (len(kk),))
        known = {tuple(k): float(v) for k, v in zip(kk.tolist(), ky.tolist())}
        if len(known) != len(kk):
            raise _corrupt("extra['known_keys']", "a point is listed twice")
        # A point missing from seen could be proposed again.
        for what, keys in (("a recorded point", known), ("a waiting proposal", by_key)):
            missing = next((k for k in keys if k not in seen), None)
            if missing is not None:
                raise _corrupt("extra['seen']", f"{what} {missing} is missing")

        self._batches, self._pending, self._by_key = batches, pending, by_key
        self._extra_X, self._extra_y = list(eX), ey.tolist()
        self._seen, self._known = seen, known
        self._n_handed, self._n_extra, self._n_results, self._serial = n_handed, n_extra, n_results, serial
        self._best = self._best_from_state(extra, pending)

    def _best_from_state(self, extra: Mapping, pending: dict) -> tuple | None:
        finite = [(v, k) for k, v in self._known.items() if math.isfinite(v)]
        if "best" not in extra:  # written before the best was stored: the recorded values give it
            if not finite:
                return None
            v, k = min(finite, key=lambda t: t[0])
            return v, tuple(float(x) for x in k), None
        bw = "extra['best']"
        b = extra["best"]
        if b is None:
            if finite:
                raise _corrupt(bw, f"null, but the value {finite[0][0]!r} was recorded at {finite[0][1]}")
            return None
        value = _member(b, "value", bw)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _corrupt(f"{bw}['value']", f"expected a finite number, got {type(value).__name__} {value!r}")
        value = float(value)
        key = _member(b, "key", bw)
        if (not isinstance(key, list) or len(key) != self._dim
                or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in key)):
            raise _corrupt(f"{bw}['key']", f"expected a list of {self._dim} numbers, got {key!r}")
        key = tuple(float(x) for x in key)
        if key not in self._known:
            raise _corrupt(f"{bw}['key']", f"{key} is not a recorded point")
        lowest = min((v for v, _ in finite), default=math.inf)
        if value > lowest:
            raise _corrupt(f"{bw}['value']", f"{value!r} is worse than the recorded value {lowest!r}")
        eid = _member(b, "eval_id", bw)
        if eid is not None:
            if isinstance(eid, bool) or not isinstance(eid, int) or not 0 <= eid < self._n_handed or eid in pending:
                raise _corrupt(f"{bw}['eval_id']", f"expected null or the eval_id of a recorded proposal, got {eid!r}")
        return value, key, eid

    def _batch_from_state(self, d: Any, where: str, owner: dict) -> _Batch:
        B, dim = self._solver.batch_size, self._dim
        asked = _member(d, "asked", where)
        if not isinstance(asked, bool):
            raise _corrupt(f"{where}['asked']", f"expected true or false, got {asked!r}")
        X = _state_array(d, "X", where, self._dtype, (B, dim))
        V = _state_array(d, "V", where, np.float64, (B, dim))
        ids = _state_array(d, "ids", where, np.int64, (B,))
        y = _state_array(d, "y", where, np.float64, (B,))
        rep = _state_array(d, "rep", where, np.bool_, (B,))
        moved = _state_array(d, "moved", where, np.bool_, (B,))
        next_row = _state_int(d, "next_row", where, 0, B)
        _check_finite(X, f"{where}['X']")
        self._check_inside(V, f"{where}['V']")
        out = ids >= 0
        self._check_ids(ids[out], f"{where}['ids']", owner)
        if np.any(ids < -1) or np.any(out[next_row:]):
            raise _corrupt(f"{where}['ids']", f"expected -1 or an eval_id >= 0 in rows 0..{next_row - 1} only "
                           f"(next_row is {next_row}), got {ids.tolist()}")
        if np.any((rep | moved) & ~out):
            bad = "rep" if np.any(rep & ~out) else "moved"
            raise _corrupt(f"{where}[{bad!r}]", "a row never handed out is marked as reported")
        if np.any(rep & moved):
            raise _corrupt(f"{where}['moved']", "a row is marked both as reported and as reported elsewhere")
        b = _Batch(asked, X, V)
        b.ids, b.y, b.rep, b.moved, b.next_row = ids, y, rep, moved, next_row
        b.n_out = int(np.sum(out))
        b.n_rep = int(np.sum(rep | moved))
        return b

    def _check_ids(self, ids: np.ndarray, where: str, owner: dict) -> None:
        for eid in ids.tolist():
            if eid < 0:
                raise _corrupt(where, f"negative eval_id {eid}")
            if eid in owner:
                raise _corrupt(where, f"eval_id {eid} appears twice (also in {owner[eid]})")
            owner[eid] = where

    def _check_inside(self, V: np.ndarray, where: str) -> None:
        bad = np.flatnonzero(~self._space.contains(V)) if len(V) else ()
        if len(bad):
            raise _corrupt(where, f"row {int(bad[0])}: " + self._outside(V[bad[0]], "params"))

    # ------------------------------------------------------------- recording
    def _params_row(self, p: Any, where: str) -> list[float]:
        if type(p) is not dict and not isinstance(p, Mapping):
            raise TypeError(f"{where}: expected a dict {{name: value}}, got {type(p).__name__}")
        names = self._names
        if len(p) != self._dim or any(n not in p for n in names):
            missing = [n for n in names if n not in p]
            extra = [str(k) for k in p if k not in names]
            raise ValueError(f"{where}: missing {missing}, unexpected {extra}; expected keys {list(names)}")
        row = []
        for i, n in enumerate(names):
            v = p[n]
            if i in self._cat:
                try:
                    row.append(float(self._space._choice_index(i, v)))
                except ValueError:
                    raise ValueError(f"{where}[{n!r}]: {v!r} is not one of {list(self._space.choices[i])}") from None
                continue
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Real, np.number)):
                raise TypeError(f"{where}[{n!r}]: expected a number, got {type(v).__name__} {v!r}")
            row.append(float(v))
        return row

    def _outside(self, row: np.ndarray, where: str) -> str:
        sp = self._space
        for i, n in enumerate(self._names):
            v, lo, hi = float(row[i]), sp.low[i], sp.high[i]
            if not (math.isfinite(v) and lo <= v <= hi):
                return f"{where}[{n!r}]: {v!r} is outside the bounds [{lo!r}, {hi!r}]"
            if sp.scales[i] == INTEGER and v != round(v):
                return f"{where}[{n!r}]: {v!r} is not an integer (scale 'integer')"
        return f"{where}: outside the space"

    def _record(self, data: Any, where: str, allow_eval_id: bool) -> None:
        items = _load_results(data, where)
        n, dim, names = len(items), self._dim, self._names
        ys: list = [0.0] * n
        eids: list = [None] * n
        rows_l: list = [None] * n
        fast = not self._cat  # no categorical parameter: values are the numbers themselves
        for i, it in enumerate(items):
            if type(it) is not dict and not isinstance(it, Mapping):
                raise TypeError(f"{where}[{i}]: expected a dict with 'params' and 'value', got {type(it).__name__}")
            try:
                v = it["value"]
            except KeyError:
                raise ValueError(f"{where}[{i}]: missing 'value' (use None, NaN or inf for a failed evaluation)") from None
            ys[i] = v if type(v) is float else _value(v, f"{where}[{i}]['value']")
            if allow_eval_id:
                e = it.get("eval_id")
                if e is not None:
                    if type(e) is not int:
                        if isinstance(e, (bool, np.bool_)) or not isinstance(e, (numbers.Integral, np.integer)):
                            raise TypeError(f"{where}[{i}]['eval_id']: expected an integer, got {type(e).__name__} {e!r}")
                        e = int(e)
                    eids[i] = e
            p = it.get("params")
            if p is not None:
                if fast and type(p) is dict and len(p) == dim:
                    try:
                        rows_l[i] = [p[name] for name in names]
                        continue
                    except KeyError:
                        pass
                rows_l[i] = self._params_row(p, f"{where}[{i}]['params']")
            elif eids[i] is None:
                more = " (or the 'eval_id' of a proposal)" if allow_eval_id else ""
                raise ValueError(f"{where}[{i}]: missing 'params'{more}")
        has = [r is not None for r in rows_l]
        if fast and not set(map(type, chain.from_iterable(r for r in rows_l if r is not None))) <= {float, int}:
            for i, r in enumerate(rows_l):  # a value of another type: let the strict path name it
                if r is not None:
                    rows_l[i] = self._params_row(items[i]["params"], f"{where}[{i}]['params']")
        zero = [0.0] * dim
        rows = np.array([r if r is not None else zero for r in rows_l], np.float64).reshape(n, dim)
        ys = np.asarray(ys, np.float64)
        if any(has):
            bad = np.flatnonzero(np.asarray(has) & ~self._space.contains(rows))
            if bad.size:
                i = int(bad[0])
                raise ValueError(self._outside(rows[i], f"{where}[{i}]['params']"))
        # Resolve every entry before changing anything, so that a bad entry records nothing.
        # Parameters equal to a waiting proposal identify it (whatever the eval_id says:
        # code written for ArqonHPO may number results its own way); otherwise the
        # eval_id must name a waiting proposal (evaluated at other parameters), and an
        # entry with neither is a new evaluation (a warm start).
        actions = []
        used: set[int] = set()
        mismatched = []
        for i in range(n):
            e = eids[i]
            key = tuple(rows_l[i]) if has[i] else None
            if key is not None:
                m = self._by_key.get(key)
                if m is not None and m not in used:
                    if e is not None and e != m:
                        mismatched.append((e, m))
                    used.add(m)
                    actions.append((i, m, False, key))
                    continue
                if e is None:
                    actions.append((i, None, True, key))
                    continue
            if e not in self._pending or e in used:
                if e in used:
                    why = "given twice in this call"
                elif 0 <= e < self._n_handed:
                    why = "its result was already recorded"
                else:
                    why = f"never proposed; proposals so far have eval_id 0..{self._n_handed - 1}"
                raise ValueError(f"{where}[{i}]['eval_id']: unknown eval_id {e} ({why})")
            used.add(e)
            actions.append((i, e, key is not None, key))
        if mismatched:
            warnings.warn(
                f"{where}: {len(mismatched)} result(s) carry an eval_id that is not the one of the proposal with "
                f"the same params (e.g. eval_id {mismatched[0][0]} for proposal {mismatched[0][1]}); matched by "
                "params. Proposals are numbered 0, 1, 2, ... in the order they are handed out.",
                UserWarning,
                stacklevel=3,
            )
        new_U = [i for i, e, moved, _ in actions if moved]
        U = _unit_from_values(self._space, rows[new_U], self._dtype) if new_U else None
        u_of = {i: U[j] for j, i in enumerate(new_U)}
        for i, e, moved, key in actions:
            y = float(ys[i])
            if e is not None:
                p = self._pending.pop(e)
                self._by_key.pop(p.key, None)
                if key is None:
                    key = p.key
                if not moved and p.batch is not None:
                    b = p.batch
                    b.y[p.row], b.rep[p.row] = y, True
                    b.n_rep += 1
                else:
                    if p.batch is not None:  # settled, but not at the proposed point
                        p.batch.moved[p.row] = True
                        p.batch.n_rep += 1
                    self._extra_X.append(u_of[i] if moved else p.u)
                    self._extra_y.append(y)
            else:  # a warm start: a new evaluation, counted against the budget
                self._extra_X.append(u_of[i])
                self._extra_y.append(y)
                self._n_extra += 1
            self._seen[key] = None
            self._known[key] = y
            self._n_results += 1
            if math.isfinite(y) and (self._best is None or y < self._best[0]):
                self._best = (y, tuple(float(k) for k in key), e)

    def __reduce__(self):
        # Pickling (Ray Tune pickles searchers, copy.deepcopy) goes through export(), so
        # a copy continues exactly like the original.
        return (ArqonSolver.from_state, (self.export(),))

    def __repr__(self) -> str:
        c = self._config
        return (
            f"ArqonSolver(budget={c['budget']}, dim={self._dim}, batch_size={c['batch_size']}, method={c['method']!r}, "
            f"proposed={self._n_handed}, results={self._n_results})"
        )


# --------------------------------------------------------------------- ArqonProbe
class ArqonProbe:
    """ArqonHPO's stateless probe: point ``i`` of a Kronecker sequence, from the index alone.

    Args:
        config: JSON text or dict with ``bounds`` (as for :class:`ArqonSolver`); other
            ArqonHPO fields (``seed``, ``budget``, ...) are accepted and ignored, as in
            ArqonHPO, and may be absent.
        seed: The sequence's seed, an integer in ``[0, 2**64)`` (ArqonHPO's
            ``frac(seed / pi)`` offset, computed in float64 as ArqonHPO does, so seeds
            above ``2**53`` that round to the same float share it; ``shift=True`` also
            uses all 64 bits exactly).
        shift: ``False`` (default) gives ArqonHPO 0.3.3's sequence, so a sharded sweep
            started with ``arqonhpo.ArqonProbe`` can be continued with this one.
            ``True`` adds our seed-derived Cranley-Patterson shift per dimension: with
            ArqonHPO's formula alone, seeds only move every dimension by the same
            ``frac(seed / pi)``, so their sequences are translates of each other.

    Values match ArqonHPO's to rounding: ours come from an exact fixed-point product, its
    from float64 arithmetic, which differ by about ``i * 1e-16`` relative (``~1e-10`` at
    ``i = 10**6``). Every call runs one kernel for its whole range.
    """

    def __init__(self, config: Any, seed: int = 42, *, shift: bool = False):
        cfg = _load_config(config)
        _warn_unknown(cfg, _PROBE_FIELDS, "ArqonProbe")
        if "bounds" not in cfg:
            raise ValueError("config: missing required field 'bounds'")
        self._space = _check_bounds(cfg["bounds"])
        self.seed = check_seed(seed)
        if not isinstance(shift, bool):
            raise TypeError(f"shift: expected a bool, got {shift!r}")
        self.shift = shift
        sp = self._space
        self._lo = np.asarray(sp.low, np.float64)
        self._hi = np.asarray(sp.high, np.float64)
        sc = np.asarray(sp.scales)
        self._is_log = sc == LOG
        self._is_disc = np.isin(sc, (INTEGER, CATEGORICAL))
        self._loglo = np.log(np.where(self._is_log, self._lo, 1.0))
        self._loghi = np.log(np.where(self._is_log, self._hi, 2.0))

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names in sorted order: the columns of :meth:`sample_array`."""
        return self._space.names

    @property
    def space(self) -> Space:
        return self._space

    def _unit(self, start: int, count: int) -> np.ndarray:
        for name, v in (("start", start), ("count", count)):
            if isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)) or v < 0:
                raise ValueError(f"{name}: expected an integer >= 0, got {v!r}")
        start, count = int(start), int(count)
        if start + count > 2**32 - 1:
            raise ValueError(f"start: indexes must lie in [0, 2**32 - 1), got [{start}, {start + count})")
        if count == 0:
            return np.zeros((0, self._space.dim), np.float64)
        # Pad the (static) count to a power of two so that ranges of any length share a
        # few compiled kernels; float64 so that values match ArqonHPO's.
        padded = _pow2(count) if start + _pow2(count) <= 2**32 - 1 else count
        with jax.enable_x64(True):
            U = kronecker(start, padded, self._space.dim, seed=self.seed, shift=self.shift, dtype=np.float64)
            return np.asarray(U)[:count]

    def sample_array(self, start: int, count: int, *, unit: bool = False) -> np.ndarray:
        """Points ``start .. start + count - 1`` as one array, for large ranges.

        Args:
            start: First index (``>= 0``).
            count: Number of points.
            unit: Return unit-cube coordinates instead of parameter values.

        Returns:
            float64 ``(count, dim)``, columns in :attr:`names` order (categorical
            parameters as choice indexes).
        """
        U = self._unit(start, count)
        if unit:
            return U
        # ArqonHPO's own formulas and operation order (not Space.from_unit's), so that
        # the values match its float64 results to the last bit wherever u does.
        lin = self._lo + U * (self._hi - self._lo)
        logv = np.exp(self._loglo + U * (self._loghi - self._loglo))
        k = self._hi - self._lo + 1.0
        disc = self._lo + np.minimum(np.floor(U * k), k - 1.0)
        out = np.where(self._is_log, logv, np.where(self._is_disc, disc, lin))
        # exp may round a hair past a bound; ArqonHPO would return that, we stay inside.
        return np.clip(out, self._lo, self._hi)

    def sample_range(self, start: int, count: int) -> list[dict]:
        """Points ``start .. start + count - 1`` as parameter dicts (``[j] == sample_at(start + j)``)."""
        return self._space.to_records(self.sample_array(start, count))

    def sample_at(self, index: int) -> dict:
        """Point ``index`` as a parameter dict."""
        if isinstance(index, bool) or not isinstance(index, (numbers.Integral, np.integer)) or index < 0:
            raise ValueError(f"index: expected an integer >= 0, got {index!r}")
        return self.sample_range(int(index), 1)[0]

    def __repr__(self) -> str:
        return f"ArqonProbe(names={list(self.names)}, seed={self.seed}, shift={self.shift})"
