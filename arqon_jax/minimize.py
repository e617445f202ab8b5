"""``minimize(f, bounds)``: the user-facing entry point.

Two execution paths share one solver:

* **Device path** (``f`` is JAX-traceable and vectorized): the whole loop, probe to
  the last batch, is one compiled program (``lax.scan`` over batches); no host round
  trip per step. Compiled once per (objective, problem shape) and cached.
* **Host path** (any Python/numpy callable): a Python loop calls one fused, jitted
  ``tell + ask`` per batch and evaluates ``f`` on the host.

The budget is exact on both: the last batch is cut to fit, and only its evaluated
rows are told.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import OrderedDict
from functools import partial
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .checkpoint import read_checkpoint, write_checkpoint
from .result import STATUS_CALLBACK, STATUS_ERROR, STATUS_NO_FINITE, STATUS_OK, OptimizeResult
from .solver import METHODS, NM_EVALS_PER_DIM, Solver, default_batch_size, make_solver
from .space import CATEGORICAL, Space

__all__ = ["minimize", "make_minimizer"]

_RUNNERS: "OrderedDict[tuple, Callable]" = OrderedDict()
_HOST_STEPS: "OrderedDict[int, tuple]" = OrderedDict()
_CACHE_SIZE = 32


def _cache_put(cache: OrderedDict, key, value):
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)
    return value


# --------------------------------------------------------------------- inputs
def _resolve_problem(f: Any, bounds: Any) -> tuple[Callable, Space]:
    """Accepts a plain callable with bounds, or a ``surfaces`` test function alone."""
    if bounds is None:
        from .surfaces_adapter import from_surfaces

        adapted = from_surfaces(f)
        if adapted is None:
            raise ValueError("bounds: required (only surfaces test functions carry their own bounds)")
        return adapted
    if not callable(f):
        raise TypeError(f"f: expected a callable objective, got {type(f).__name__}")
    return f, Space.from_bounds(bounds)


def _user_args_jax(space: Space, values: jax.Array) -> Any:
    return space.to_user(values)


def _user_args_host(space: Space, values: np.ndarray) -> Any:
    if space.names is None:
        return values
    out = {}
    for i, name in enumerate(space.names):
        col = values[:, i]
        if space.scales[i] == CATEGORICAL:
            opts = np.empty(len(space.choices[i]), dtype=object)
            opts[:] = list(space.choices[i])
            col = opts[np.rint(col).astype(np.int64)]
        out[name] = col
    return out


def _as_values(y: Any, n: int, where: str) -> np.ndarray:
    """Objective output to a float64 ``(n,)`` array; None counts as a failure (NaN)."""
    if isinstance(y, Mapping) or isinstance(y, (str, bytes)):
        raise TypeError(f"{where}: f must return numbers, got {type(y).__name__}")
    try:
        arr = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where}: f must return numbers, got {type(y).__name__} ({exc})") from None
    if arr.ndim == 0 and n == 1:
        arr = arr.reshape(1)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.shape != (n,):
        raise ValueError(f"{where}: f returned shape {arr.shape}, expected ({n},) (one value per row of the batch)")
    return arr


def _scalar(v: Any, where: str) -> float:
    if v is None:
        return math.nan
    if isinstance(v, (str, bytes, Mapping)):
        raise TypeError(f"{where}: f must return a number, got {type(v).__name__} {v!r}")
    try:
        arr = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: f must return a number, got {type(v).__name__} {v!r}") from None
    if arr.size != 1:
        raise ValueError(f"{where}: f returned shape {arr.shape} for one point, expected a scalar")
    return float(arr.reshape(()))


def _call_host(f: Callable, space: Space, values: np.ndarray, vectorized: bool) -> Any:
    """Calls ``f`` on a batch of values; what it returns is checked by :func:`_check_host`."""
    if vectorized:
        return f(_user_args_host(space, values))
    if space.names is None:
        return [f(row) for row in values]
    return [f(rec) for rec in space.to_records(values)]


def _check_host(raw: Any, n: int, vectorized: bool) -> np.ndarray:
    if vectorized:
        return _as_values(raw, n, "f")
    return np.array([_scalar(v, "f") for v in raw], dtype=np.float64)


def _traceable(f: Callable, space: Space, batch: int, dtype) -> tuple[bool, Any]:
    spec = jax.ShapeDtypeStruct((batch, space.dim), dtype)
    try:
        out = jax.eval_shape(lambda U: f(_user_args_jax(space, space.from_unit(U))), spec)
    except Exception:  # any failure to trace means: evaluate on the host
        return False, None
    return True, out


def _check_traced_output(out: Any, batch: int) -> None:
    shape = getattr(out, "shape", None)
    dtype = getattr(out, "dtype", None)
    if shape is None or not (jnp.issubdtype(dtype, jnp.number) or jnp.issubdtype(dtype, jnp.bool_)):
        raise TypeError(f"f: must return a numeric array of shape ({batch},), got {out!r}")
    if tuple(shape) not in ((batch,), (batch, 1)):
        raise ValueError(f"f: returned shape {tuple(shape)}, expected ({batch},) (one value per row of the batch)")


# ---------------------------------------------------------------- device path
def _device_body(f: Callable, solver: Solver):
    """The scan body of the device loop (ask, evaluate, tell) and the evaluation alone."""
    space, dtype = solver.space, solver.dtype

    def evaluate(U):
        y = f(_user_args_jax(space, space.from_unit(U)))
        return jnp.reshape(y, (U.shape[0],)).astype(dtype)

    def body(state, _):
        X, state = solver.ask(state)
        state = solver.tell(state, X, evaluate(X))
        return state, state.best_y

    return body, evaluate


def _device_runner(f: Callable, solver: Solver) -> Callable:
    """A pure ``run(key) -> (state, curve)`` doing the whole budget on the device."""
    key = (f, id(solver))
    if key in _RUNNERS:
        _RUNNERS.move_to_end(key)
        return _RUNNERS[key]
    batch, budget, dtype = solver.batch_size, solver.budget, solver.dtype
    n_full, rem = divmod(budget, batch)
    body, evaluate = _device_body(f, solver)

    def run(key):
        state = solver.init(key)
        state, curve = jax.lax.scan(body, state, None, length=n_full)
        if rem:
            X, state = solver.ask(state)
            # Only the first ``rem`` rows are evaluated: the budget is exact.
            y = jnp.concatenate([evaluate(X[:rem]), jnp.full((batch - rem,), jnp.nan, dtype)])
            state = solver.tell(state, X, y, jnp.arange(batch) < rem)
            curve = jnp.concatenate([curve, state.best_y[None]])
        return state, curve

    return _cache_put(_RUNNERS, key, jax.jit(run))


def make_minimizer(
    f: Callable,
    bounds: Any,
    *,
    budget: int,
    batch_size: int | None = None,
    method: str = "auto",
    probe_ratio: float = 0.2,
    capacity: int | None = None,
) -> Callable[[jax.Array], tuple[jax.Array, jax.Array, jax.Array]]:
    """A pure, jittable and vmappable ``run(key) -> (x_best, f_best, best_curve)``.

    For JAX-traceable vectorized ``f``. ``x_best`` is in parameter units ``(dim,)``
    (categorical dimensions as choice indexes), ``best_curve`` has one entry per batch.
    Use it to run many seeds at once: ``jax.vmap(run)(jax.random.split(key, 8))``.
    """
    f, space = _resolve_problem(f, bounds)
    budget_i = budget
    batch = default_batch_size(budget_i) if batch_size is None else batch_size
    solver = make_solver(space, budget, batch, method=method, probe_ratio=probe_ratio, capacity=capacity)
    ok, out = _traceable(f, space, solver.batch_size, solver.dtype)
    if not ok:
        raise TypeError("f: make_minimizer needs a JAX-traceable vectorized objective; use minimize() for host functions")
    _check_traced_output(out, solver.batch_size)
    runner = _device_runner(f, solver)

    def run(key):
        state, curve = runner(key)
        return space.from_unit(state.best_x[None, :])[0], state.best_y, curve

    return run


class _Checkpointing(NamedTuple):
    """Where to write checkpoints, how often (batches), and what to resume from."""

    path: Any
    every: int
    resume: Any

    @property
    def active(self) -> bool:
        return self.path is not None or self.resume is not None


def _run_device_chunked(f: Callable, solver: Solver, key, ckpt: _Checkpointing):
    """The device loop in compiled chunks of ``ckpt.every`` batches, checkpointing between them."""
    space, batch, budget, dtype = solver.space, solver.batch_size, solver.budget, solver.dtype
    n_full, rem = divmod(budget, batch)
    chunk, tail = _device_chunk_fns(f, solver)
    no_pending = np.zeros((batch, space.dim), np.dtype(dtype))
    if ckpt.resume is not None:
        state, _, done_curve, _ = read_checkpoint(ckpt.resume, solver, "device", ckpt.every)
        curves = [np.asarray(done_curve)]
    else:
        state, curves = jax.jit(solver.init)(key), []
    done = sum(len(c) for c in curves)
    while done < n_full:
        state, c = chunk(state, min(ckpt.every, n_full - done))
        curves.append(np.asarray(c))
        done += len(curves[-1])
        if ckpt.path is not None and (done < n_full or not rem):
            cat = np.concatenate(curves)
            write_checkpoint(ckpt.path, solver, state, no_pending, cat, _nfev(len(cat), batch, budget), "device", ckpt.every)
    if rem and done == n_full:
        state, best = tail(state)
        curves.append(np.asarray(best)[None])
        if ckpt.path is not None:
            cat = np.concatenate(curves)
            write_checkpoint(ckpt.path, solver, state, no_pending, cat, _nfev(len(cat), batch, budget), "device", ckpt.every)
    return state, np.concatenate(curves) if curves else np.zeros(0)


def _nfev(n_steps: int, batch: int, budget: int) -> np.ndarray:
    return np.minimum((np.arange(n_steps) + 1) * batch, budget)


def _device_chunk_fns(f: Callable, solver: Solver):
    """``chunk(state, length)`` and ``tail(state)``: the device loop's pieces, compiled once each."""
    key = ("chunks", f, id(solver))
    if key in _RUNNERS:
        _RUNNERS.move_to_end(key)
        return _RUNNERS[key]
    body, evaluate = _device_body(f, solver)
    batch, rem = solver.batch_size, solver.budget % solver.batch_size

    @partial(jax.jit, static_argnums=1)
    def chunk(state, length):
        return jax.lax.scan(body, state, None, length=length)

    @jax.jit
    def tail(state):
        X, state = solver.ask(state)
        y = jnp.concatenate([evaluate(X[:rem]), jnp.full((batch - rem,), jnp.nan, solver.dtype)])
        state = solver.tell(state, X, y, jnp.arange(batch) < rem)
        return state, state.best_y

    return _cache_put(_RUNNERS, key, (chunk, tail))


class _RecordingEvaluator:
    """Evaluates ``f`` on the host and records the points it raises on, as a pool does."""

    def __init__(self, f: Callable):
        self.f = f

    def evaluate(self, values: np.ndarray, *, space: Space, vectorized: bool) -> tuple[np.ndarray, dict]:
        n = values.shape[0]
        try:
            raw = _call_host(self.f, space, values, vectorized)
        except Exception:  # noqa: BLE001 - find the points that raise, one by one
            y, errors = np.full(n, np.nan), {}
            for i in range(n):
                try:
                    raw_i = _call_host(self.f, space, values[i : i + 1], vectorized)
                except Exception as exc:  # noqa: BLE001 - any exception of f is a failed evaluation here
                    errors[i] = f"{type(exc).__name__}: {exc}"
                    continue
                y[i] = _check_host(raw_i, 1, vectorized)[0]  # a wrong output shape is an error, not a failure
            return y, errors
        return _check_host(raw, n, vectorized), {}


# ------------------------------------------------------------------ host path
def _host_steps(solver: Solver) -> tuple[Callable, Callable, Callable]:
    key = id(solver)
    if key in _HOST_STEPS:
        return _HOST_STEPS[key]
    space = solver.space

    def first(key):
        # init inside the jit: run eagerly, its many small ops cost tens of milliseconds.
        X, state = solver.ask(solver.init(key))
        return state, X, space.from_unit(X)

    def step(state, X, y, valid):
        state = solver.tell(state, X, y, valid)
        X, state = solver.ask(state)
        return state, X, space.from_unit(X)

    fns = (jax.jit(first), jax.jit(step), jax.jit(solver.tell))
    return _cache_put(_HOST_STEPS, key, fns)


class _Progress:
    """A one-line progress display on stderr: evaluations, best value, evaluations per second."""

    def __init__(self, budget: int, enabled: bool):
        self.budget, self.enabled = budget, enabled
        self.t0 = time.perf_counter()
        self.last = 0.0

    def update(self, nfev: int, best: float, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self.last < 0.2:
            return
        self.last = now
        rate = nfev / max(now - self.t0, 1e-9)
        width = 30
        done = int(width * nfev / self.budget)
        bar = "#" * done + "-" * (width - done)
        sys.stderr.write(f"\r[{bar}] {nfev}/{self.budget} evals  best {best:.6g}  {rate:,.0f} evals/s")
        if force:
            sys.stderr.write("\n")
        sys.stderr.flush()


# --------------------------------------------------------------------- result
def _build_result(solver: Solver, state, curve, nfev_curve, status: int, message: str | None, info: dict) -> OptimizeResult:
    space = solver.space
    best_y = float(state.best_y)
    x_unit = np.asarray(state.best_x)
    values = np.asarray(space.from_unit(jnp.asarray(x_unit)[None, :]), dtype=np.float64)
    x: Any = space.to_records(values)[0] if space.names is not None else values[0]
    nfev = int(state.history.count)
    finite = math.isfinite(best_y)
    if status == STATUS_OK and not finite:
        status = STATUS_NO_FINITE
    if message is None:
        message = {
            STATUS_OK: "Budget used up.",
            STATUS_NO_FINITE: "No evaluation returned a finite value.",
        }.get(status, "")
    choice = int(state.choice)
    decision = {}
    if solver.probe_count:
        stat = float(state.statistic)
        decision = {
            "strategy": solver.strategy_names[choice] if choice >= 0 else None,
            "statistic": stat,
            "statistic_name": "rank fitness-distance correlation of the probe",
            "threshold": solver.threshold,
            "rule": _rule(solver),
        }
    return OptimizeResult(
        x=x,
        fun=best_y,
        nfev=nfev,
        nit=len(curve),
        success=status == STATUS_OK and finite,
        status=status,
        message=message,
        n_failed=int(state.history.n_failed),
        best_curve=np.asarray(curve, dtype=np.float64),
        nfev_curve=np.asarray(nfev_curve, dtype=np.int64),
        trace=solver.phase_trace(choice),
        decision=decision,
        method=solver.method,
        x_unit=x_unit,
        info=info,
    )


def _rule(solver: Solver) -> str:
    if solver.method != "auto":
        return f"forced by method={solver.method!r}"
    if solver.strategy_names == ("cmaes",):  # the large-budget rule (solver.CMAES_EVALS_PER_DIM)
        from .solver import CMAES_EVALS_PER_DIM, CMAES_MIN_REFINE

        return (f"cmaes: the refine budget ({solver.budget - solver.probe_count}) reaches max({CMAES_EVALS_PER_DIM} "
                f"per dimension, {CMAES_MIN_REFINE}) and a batch holds a CMA-ES population")
    if len(solver.strategy_names) > 1:
        return f"nelder-mead if statistic > {solver.threshold} else tpe"
    return (f"tpe: the refine budget ({solver.budget - solver.probe_count}) is below {NM_EVALS_PER_DIM} evaluations per "
            f"dimension, where batched Nelder-Mead does not pay off")


# ------------------------------------------------------------------- minimize
def minimize(
    f: Callable,
    bounds: Any = None,
    *,
    budget: int,
    batch_size: int | None = None,
    seed: int = 0,
    key: jax.Array | None = None,
    method: str = "auto",
    vectorized: bool = True,
    jit: bool | None = None,
    x64: bool = False,
    probe_ratio: float = 0.2,
    capacity: int | None = None,
    callback: Callable[[OptimizeResult], Any] | None = None,
    progress: bool = False,
    pool: Any = None,
    polish: bool = True,
    errors: str = "raise",
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 10,
    resume: bool | str | os.PathLike = False,
) -> OptimizeResult:
    """Minimizes ``f`` over a box with probe, classify, refine.

    Args:
        f: The objective. Vectorized (default): takes ``(batch, dim)`` values (array
            bounds) or a dict of ``(batch,)`` arrays (dict bounds) and returns
            ``(batch,)`` values. With ``vectorized=False``: takes one point (a ``(dim,)``
            array or a dict of scalars) and returns one number. NaN, inf or None are
            recorded as failed evaluations. A ``surfaces`` test function may be passed
            without bounds.
        bounds: See :meth:`arqon_jax.Space.from_bounds`.
        budget: Exact number of evaluations.
        batch_size: Points per batch; defaults to :func:`default_batch_size`.
        seed: Integer seed (ignored when ``key`` is given).
        key: A JAX PRNG key.
        method: ``"auto"`` (probe, classify, refine), ``"tpe"``, ``"nelder-mead"``,
            ``"cmaes"`` or ``"random"`` (uniform search, the baseline).
        vectorized: Whether ``f`` takes a whole batch.
        jit: ``True`` forces the device path (``f`` must be JAX-traceable), ``False`` the
            host path; ``None`` detects traceability.
        x64: Run in float64 (needed for ``f - f* < 1e-8`` when ``|f*|`` is large).
        probe_ratio: Share of the budget spent probing, in ``(0, 1]``.
        capacity: History rows kept (default ``min(budget, 2048)``); see
            :mod:`arqon_jax.history` for what happens when it is full.
        callback: Host path only: called after each batch with an intermediate
            :class:`OptimizeResult`; returning ``True`` stops the run.
        progress: Show a progress line on stderr.
        pool: Evaluate each batch on a pool of workers, e.g.
            :class:`arqon_jax.distributed.RayPool`: any object with
            ``evaluate(values, *, space, vectorized) -> (y (n,), errors {row: message})``.
            The pool carries its own objective (``pool.f``): pass ``f=None`` (or
            ``pool.f`` itself; another ``f`` is a ValueError). Forces the host path
            (``jit=True`` is refused); ``bounds`` are required. Rows that raised on a
            worker count as failed evaluations (NaN); ``info["errors"]`` maps their
            evaluation index to the message (first 100; ``info["n_errors"]`` counts
            them) and ``info["retries"]`` counts chunks re-run after a worker died.
        polish: Gradient polish (:mod:`arqon_jax.polish`): on the device path, when
            ``f`` is differentiable with ``jax.grad`` and the budget is at least 1000,
            a reserve of at most 5% of the budget (at most 3200 evaluations) refines
            the best points with projected L-BFGS after the main loop; one
            ``value_and_grad`` at one point counts as 2 evaluations, and the budget
            stays exact. ``info["polish"]`` reports ``evaluations``, ``before`` and
            ``after`` (or ``skipped`` with the reason). ``False`` turns it off.

    Returns:
        An :class:`OptimizeResult`.

        errors: Host path: ``"raise"`` (default) lets an exception in ``f`` propagate;
            ``"record"`` records the points it raised on as failed evaluations (a
            vectorized batch that raises is re-evaluated point by point to find them),
            with the messages in ``info["errors"]``, and the run goes on.
        checkpoint: A file to write the run's state to, atomically, every
            ``checkpoint_every`` batches and at the end (:mod:`arqon_jax.checkpoint`).
            On the device path the loop then runs in compiled chunks of
            ``checkpoint_every`` batches.
        checkpoint_every: Batches between checkpoints.
        resume: A checkpoint file to continue from (it must exist), or ``True`` to
            continue from ``checkpoint`` if that file exists. The final result equals
            that of an uninterrupted run with the same arguments.

    Raises:
        TypeError, ValueError: For invalid arguments, before any evaluation, or when
            ``f`` returns the wrong shape or type; for a checkpoint of another problem.
        Exception: Whatever ``f`` raises on the host path, with the run so far attached
            as ``exc.partial_result``.
    """
    if not isinstance(x64, bool):
        raise TypeError(f"x64: expected a bool, got {x64!r}")
    if x64:
        with jax.enable_x64(True):
            return minimize(
                f, bounds, budget=budget, batch_size=batch_size, seed=seed, key=key, method=method, vectorized=vectorized,
                jit=jit, x64=False, probe_ratio=probe_ratio, capacity=capacity, callback=callback, progress=progress,
                pool=pool, polish=polish, errors=errors, checkpoint=checkpoint, checkpoint_every=checkpoint_every,
                resume=resume,
            )
    if pool is not None:
        if not callable(getattr(pool, "evaluate", None)):
            raise TypeError(f"pool: expected an object with evaluate(values, *, space, vectorized), got {type(pool).__name__}")
        pool_f = getattr(pool, "f", None)
        if f is None:
            f = pool_f
            if f is None:
                raise TypeError("f: None needs a pool that carries its objective (pool.f)")
        elif pool_f is not None and f is not pool_f:
            raise ValueError("f: the pool evaluates pool.f, which is not this f; pass f=None (or pool.f)")
        if bounds is None:
            raise ValueError("bounds: required when evaluating on a pool")
        if jit:
            raise ValueError("jit: a pool evaluates on the host path; jit=True cannot be combined with pool")
    f, space = _resolve_problem(f, bounds)
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method: unknown method {method!r}; expected one of {list(METHODS)}")
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise TypeError(f"budget: expected an integer, got {type(budget).__name__} {budget!r}")
    if budget < 1:
        raise ValueError(f"budget: expected an integer >= 1, got {budget}")
    if batch_size is None:
        batch_size = default_batch_size(int(budget))
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"batch_size: expected an integer, got {type(batch_size).__name__} {batch_size!r}")
    if not 1 <= batch_size <= budget:
        raise ValueError(f"batch_size: expected an integer in [1, budget={budget}], got {batch_size}")
    if key is None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed: expected an integer, got {type(seed).__name__} {seed!r}")
        key = jax.random.key(int(seed) & 0xFFFFFFFF)
    if callback is not None and not callable(callback):
        raise TypeError("callback: expected a callable")
    if jit not in (None, True, False):
        raise TypeError(f"jit: expected None, True or False, got {jit!r}")
    if jit and not vectorized:
        raise ValueError("jit: the device path needs a vectorized f (vectorized=True)")
    if not isinstance(polish, bool):
        raise TypeError(f"polish: expected a bool, got {polish!r}")
    if errors not in ("raise", "record"):
        raise ValueError(f"errors: expected 'raise' or 'record', got {errors!r}")
    if errors == "record" and pool is not None:
        raise ValueError("errors: a pool already records failures per point; leave errors='raise'")
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, (int, np.integer)) or checkpoint_every < 1:
        raise ValueError(f"checkpoint_every: expected an integer >= 1, got {checkpoint_every!r}")
    if resume is True:
        if checkpoint is None:
            raise ValueError("resume: True needs checkpoint=path (resume=path names a file directly)")
        resume = checkpoint if os.path.exists(checkpoint) else None
    elif resume is False:
        resume = None
    elif not isinstance(resume, (str, os.PathLike)):
        raise TypeError(f"resume: expected a bool or a path, got {resume!r}")
    elif not os.path.exists(resume):
        raise FileNotFoundError(f"resume: no checkpoint at {str(resume)!r}")
    ckpt = _Checkpointing(checkpoint, int(checkpoint_every), resume)

    solver = make_solver(space, int(budget), int(batch_size), method=method, probe_ratio=probe_ratio, capacity=capacity)

    use_device = False
    if vectorized and jit is not False and callback is None and pool is None and errors == "raise":
        ok, out = _traceable(f, space, solver.batch_size, solver.dtype)
        if ok:
            _check_traced_output(out, solver.batch_size)
            use_device = True
        elif jit:
            raise TypeError("f: jit=True needs a JAX-traceable objective (jax.numpy only, no conversion to numpy)")

    # --- gradient polish (arqon_jax/polish.py): its reserve comes off the main loop's budget.
    from .polish import decide_polish, run_polish

    host_reason = None if use_device else (
        "a pool evaluates f" if pool is not None else "a callback runs on the host path" if callback is not None
        else "errors='record' runs on the host path" if errors == "record"
        else "jit=False" if jit is False else "vectorized=False" if not vectorized else "f is not JAX-traceable")
    polish_plan, polish_info = decide_polish(polish, f, space, int(budget), solver, host_reason)
    if polish_plan is not None:
        solver = make_solver(space, int(budget) - polish_plan.evaluations, int(batch_size), method=method,
                             probe_ratio=probe_ratio, capacity=capacity)
    # --- end gradient polish

    prog = _Progress(solver.budget, progress)
    if use_device:
        t0 = time.perf_counter()
        if ckpt.active:
            state, curve = _run_device_chunked(f, solver, key, ckpt)
        else:
            state, curve = _device_runner(f, solver)(key)
        curve = np.asarray(curve)
        n_steps = len(curve)
        nfev_curve = np.minimum((np.arange(n_steps) + 1) * solver.batch_size, solver.budget)
        if polish_plan is not None:
            state, curve, nfev_curve, polish_info = run_polish(f, solver, polish_plan, state, curve, nfev_curve)
        prog.update(solver.budget, float(state.best_y), force=True)
        info = {"path": "device", "wall_time_s": time.perf_counter() - t0, "polish": polish_info}
        result = _build_result(solver, state, curve, nfev_curve, STATUS_OK, None, info)
        if polish_plan is not None:
            result.trace.append((solver.budget, "polish"))
        return result
    if errors == "record":
        pool = _RecordingEvaluator(f)
    result = _run_host(f, solver, key, vectorized, callback, prog, pool, ckpt)
    result.info["polish"] = polish_info
    return result


def _run_host(f, solver: Solver, key, vectorized: bool, callback, prog: _Progress, pool: Any = None,
              ckpt: "_Checkpointing | None" = None) -> OptimizeResult:
    first, step, tell = _host_steps(solver)
    space, batch, budget = solver.space, solver.batch_size, solver.budget
    n_steps = -(-budget // batch)
    curve = np.empty(n_steps, np.float64)
    nfev_curve = np.empty(n_steps, np.int64)
    info: dict = {"path": "host"}
    if pool is not None:
        info.update(pool=type(pool).__name__, retries=0, n_errors=0, errors={})
        retries0 = getattr(pool, "retries", 0)
    t0 = time.perf_counter()
    nfev, it = 0, 0
    if ckpt is not None and ckpt.resume:
        state, X, done_curve, done_nfev = read_checkpoint(ckpt.resume, solver, "host", ckpt.every)
        it = len(done_curve)
        curve[:it], nfev_curve[:it] = done_curve, done_nfev
        nfev = int(done_nfev[-1]) if it else 0
        V = space.from_unit(jnp.asarray(X))
        info["resumed_from"] = str(ckpt.resume)
    else:
        state, X, V = first(key)
    status, message = STATUS_OK, None
    while nfev < budget:
        n = min(batch, budget - nfev)
        values = np.asarray(V, dtype=np.float64)[:n]
        try:
            if pool is None:
                raw = _call_host(f, space, values, vectorized)
            else:
                raw, errors = pool.evaluate(values, space=space, vectorized=vectorized)
        except Exception as exc:
            info["error"] = f"{type(exc).__name__}: {exc}"
            partial = _build_result(solver, state, curve[:it], nfev_curve[:it], STATUS_ERROR,
                                    f"f raised {type(exc).__name__} after {nfev} evaluations.", info)
            exc.partial_result = partial
            exc.add_note(f"arqon_jax: the run so far is attached as exc.partial_result ({nfev} evaluations).")
            raise
        if pool is None:
            y = _check_host(raw, n, vectorized)
        else:
            y = _as_values(raw, n, "pool.evaluate").copy()
            if errors:
                y[np.fromiter(errors, np.int64)] = np.nan  # a row that raised is a failure
                info["n_errors"] += len(errors)
                for row, msg in sorted(errors.items()):
                    if len(info["errors"]) < 100:
                        info["errors"][nfev + int(row)] = msg
            info["retries"] = getattr(pool, "retries", 0) - retries0
        nfev += n
        y_full = np.full(batch, np.nan, np.float64)
        y_full[:n] = y
        valid = np.arange(batch) < n
        if nfev >= budget:
            state = tell(state, X, y_full, valid)
        else:
            state, X, V = step(state, X, y_full, valid)
        best = float(state.best_y)
        curve[it], nfev_curve[it] = best, nfev
        it += 1
        if ckpt is not None and ckpt.path is not None and (it % ckpt.every == 0 or nfev >= budget):
            write_checkpoint(ckpt.path, solver, state, X, curve[:it], nfev_curve[:it], "host", ckpt.every)
        prog.update(nfev, best)
        if callback is not None:
            interim = _build_result(solver, state, curve[:it], nfev_curve[:it], STATUS_OK, "In progress.", dict(info))
            if callback(interim) is True and nfev < budget:
                status, message = STATUS_CALLBACK, f"Stopped by the callback after {nfev} evaluations."
                break
    prog.update(nfev, float(state.best_y), force=True)
    info["wall_time_s"] = time.perf_counter() - t0
    return _build_result(solver, state, curve[:it], nfev_curve[:it], status, message, info)
