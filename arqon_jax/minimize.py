"""``minimize(f, bounds)`` and ``make_minimizer``: the user-facing entry points.

This module checks and translates the arguments (the problem, the budget and batch, the
path, float64, the polish, checkpoints) and hands the run to the host layer. Two
execution paths share one solver:

* **Device path** (``f`` is JAX-traceable and vectorized): the whole loop, probe to
  the last batch, is one compiled program (``lax.fori_loop`` over batches); no host round
  trip per step. Compiled once per (objective, problem shape) and cached
  (:mod:`arqon_jax.host.device`); :func:`arqon_jax.host.run.run_device` drives it.
* **Host path** (any Python/numpy callable): a Python loop calls one fused, jitted
  ``tell + ask`` per batch and evaluates ``f`` on the host
  (:func:`arqon_jax.host.run.run_host`).

The budget is exact on both: the last batch is cut to fit, and only its evaluated
rows are told; the host path ends a finite space's run once each of its points was
evaluated.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from .host.config import check_key, seed_key
from .host.device import bind_budget, build_device_runner
from .host.evaluate import RecordingEvaluator, pool_objective
from .host.objective import check_device_objective, traceable
from .host.progress import Progress
from .host.polish import decide_polish
from .host.run import Checkpointing, run_device, run_host
from .result import OptimizeResult
from .core.solver import PROBE_RATIO, SMALL_BATCH, check_method, default_batch_size, make_solver
from .core.validate import check_int
from .core.space import Space
from .surfaces_adapter import from_surfaces

__all__ = ["minimize", "make_minimizer"]


# --------------------------------------------------------------------- inputs
def _resolve_problem(f: Any, bounds: Any) -> tuple[Callable, Space]:
    """Accepts a plain callable with bounds, or a ``surfaces`` test function alone."""
    if bounds is None:
        adapted = from_surfaces(f)
        if adapted is None:
            raise ValueError("bounds: required (only surfaces test functions carry their own bounds)")
        return adapted
    if not callable(f):
        raise TypeError(f"f: expected a callable objective, got {type(f).__name__}")
    return f, Space.from_bounds(bounds)


# ---------------------------------------------------------------- device path
def make_minimizer(
    f: Callable,
    bounds: Any,
    *,
    budget: int,
    batch_size: int | None = None,
    method: str = "auto",
    probe_ratio: float = PROBE_RATIO,
    capacity: int | None = None,
) -> Callable[[jax.Array], tuple[jax.Array, jax.Array, jax.Array]]:
    """A pure, jittable and vmappable ``run(key) -> (x_best, f_best, best_curve)``.

    For JAX-traceable vectorized ``f``. ``x_best`` is in parameter units ``(dim,)``
    (categorical dimensions as choice indexes), ``best_curve`` has one entry per batch.
    Use it to run many seeds at once: ``jax.vmap(run)(jax.random.split(key, 8))``.
    ``f`` receives numeric categorical choices as their values, other (e.g. string)
    choices as their index ``0..k-1``. ``batch_size=None`` takes
    :func:`default_batch_size` for the backend: wide on a GPU/TPU, sized for
    generations on the CPU. The whole budget goes to the search: there is no gradient
    polish (``minimize``'s device path keeps a reserve for one), so ``f_best`` may be
    a little above ``minimize``'s on smooth problems.

    Raises:
        TypeError: If ``f`` is not JAX-traceable or returns the wrong type; ``run``
            raises it for a ``key`` that is not a JAX PRNG key.
        ValueError: For invalid arguments, or bounds the current default float type
            cannot represent or resolve (enable x64 with
            ``jax.config.update("jax_enable_x64", True)``).
    """
    f, space = _resolve_problem(f, bounds)
    issues = space.float32_issues(jnp.zeros((), float).dtype)
    if issues:
        raise ValueError("bounds: " + "; ".join(issues) + '; enable float64 with jax.config.update("jax_enable_x64", True)')
    budget_i = budget
    wide = jax.default_backend() != "cpu"
    batch = default_batch_size(budget_i, space.dim, wide=wide) if batch_size is None else batch_size
    solver = make_solver(space, budget, batch, method=method, probe_ratio=probe_ratio, capacity=capacity)
    ok, out = traceable(f, space, solver.batch_size, solver.dtype, indexes=True)
    if not ok:
        raise TypeError("f: make_minimizer needs a JAX-traceable vectorized objective; use minimize() for host functions")
    check_device_objective(f, space, out, solver.batch_size, solver.dtype)
    # Built here, not taken from the weak cache: the returned function must keep f alive.
    runner = bind_budget(build_device_runner(lambda: f, solver), solver)
    consts = space.unit_constants(solver.dtype)
    steps = solver.n_batches

    def run(key):
        state, curve = runner(check_key(key), consts)  # works on traced keys too (jit, vmap)
        return space.from_unit(state.best_x[None, :])[0], state.best_y, curve[:steps]

    return run


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
    vectorized: bool | None = None,
    jit: bool | None = None,
    x64: bool | None = None,
    probe_ratio: float = PROBE_RATIO,
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
            ``(batch,)`` values (a ``(batch, 1)`` column is taken as the same). With
            ``vectorized=False``: takes one point (a ``(dim,)`` array or a dict of
            scalars) and returns one number. Integer parameters arrive as whole
            numbers and categorical ones as the choices themselves, on both paths. A
            JAX objective gets numeric choices as their values; string or object
            choices cannot be JAX values, so such a space runs on the host path
            (with ``jit=True`` it runs on the device and ``f`` gets the choice index).
            NaN, +-inf or None are recorded as failed evaluations; finite values are
            never failures (the host path tracks the best in float64, exactly as ``f``
            returned it). Complex values are refused. A ``surfaces`` test function may
            be passed without bounds.
        bounds: See :meth:`arqon_jax.Space.from_bounds`.
        budget: Exact number of evaluations; on the host path a finite space (every
            dimension integer or categorical) stops earlier, once each of its
            ``Space.n_points`` points was evaluated (``info["exhausted"]``).
        batch_size: Points per batch; defaults to :func:`default_batch_size`: wide
            (``budget // 50``) on the device path with a GPU/TPU and with a pool,
            where wide batches cost little; sized for generations
            (``budget // (50 dim)``) on the host path and on the CPU, where every row
            costs the same; within ``[10, 4096]``, except 5 on the host path and the
            CPU below ``auto``'s switch to CMA-ES (up to 10-D; 11-D to 16-D up to
            ``budget = 25 dim``; with a polish, where the solver's budget after the
            polish reserve is below that switch); ``info["batch_size"]`` says which.
        seed: Integer seed in ``[0, 2**64)``, all bits used (ignored when ``key`` is
            given).
        key: A JAX PRNG key.
        method: ``"auto"`` (probe, classify, refine; ``result.decision["rule"]`` says
            which strategy refines and why), ``"tpe"``, ``"nelder-mead"``,
            ``"cmaes"``, ``"gp"`` (Gaussian-process model, for small budgets of expensive
            evaluations; slow to compile) or ``"random"`` (uniform search, the baseline).
        vectorized: Whether ``f`` takes a whole batch. ``None``: yes, or with a ``pool``
            that has a ``vectorized`` attribute (a :class:`~arqon_jax.distributed.RayPool`),
            the pool's setting.
        jit: ``True`` forces the device path (``f`` must be JAX-traceable), ``False`` the
            host path; ``None`` detects traceability (``result.info["path"]`` says
            which ran; a numpy objective may trace and run on the device).
        x64: Run the solver in float64 (``True``) or float32 (``False``). ``None``
            (default): float64 on the host path, where ``f`` returns float64 values
            and an evaluation costs far more than the solver's step (float32 ranking
            cannot resolve ``f - f* < 1e-8`` when ``|f*|`` is ~100: on BBOB 10-D it
            turned 13 solved problems of 72 into 4); float32 where ``f`` is compiled
            in the solver's dtype for throughput: on the device path and on a
            ``pool``'s workers.
            Bounds float32 cannot represent or resolve (fewer than 4096 float32
            values between them, or a subnormal bound) switch float64 on, with a
            warning unless ``x64=None`` chose it anyway; ``info["x64"]`` says why
            float64 ran. A float32 solver warns (``info["precision"]``) when values
            of ``f`` beyond its range had to be clipped, so that it could not rank them.
        probe_ratio: Share of the budget spent probing, in ``(0, 1]``, rounded up to
            whole batches, and at least 2 points per dimension up to half the budget
            (:func:`~arqon_jax.core.solver.probe_size`; default 5%).
        capacity: History rows kept (default: the power of two ``>= budget`` within ``[512, 2048]``; 64
            when CMA-ES refines alone, which reads only the best few; for ``method="gp"`` the power of two
            ``>= budget`` within ``[64, 256]``, the rows its model reads, so budgets 65-128 and 129-256 compile
            apart; values above ``max(512, the power of two >= budget)`` are reduced to it); see
            :mod:`arqon_jax.core.history` for what happens when it is full.
        callback: Host path only: called after each batch with an intermediate
            :class:`OptimizeResult`; returning ``True`` stops the run.
        progress: Show a progress line on stderr.
        pool: Evaluate each batch on a pool of workers, e.g.
            :class:`arqon_jax.distributed.RayPool`: any object with
            ``evaluate(values, *, space, vectorized) -> (y (n,), errors {row: message})``.
            The pool carries its own objective (``pool.f``): pass ``f=None`` (or
            ``pool.f`` itself; another ``f`` is a ValueError). Forces the host path
            (``jit=True`` is refused), so there is no gradient polish; ``bounds`` are
            required. Rows that raised on a worker count as failed evaluations (NaN);
            ``info["errors"]`` maps their evaluation index to the message (first 100;
            ``info["n_errors"]`` counts them) and ``info["retries"]`` counts chunks
            re-run after a worker died.
        polish: Gradient polish (:mod:`arqon_jax.host.polish`): on the device path, when
            ``f`` is differentiable with ``jax.grad`` and the budget is at least 1000,
            a reserve of at most 5% of the budget (at most 3200 evaluations) refines
            the best points with projected L-BFGS after the main loop; one
            ``value_and_grad`` at one point counts as 2 evaluations, and the budget
            stays exact, except that a run whose every evaluation failed skips the
            polish and leaves its reserve unspent (no finite point to start from).
            ``info["polish"]`` reports ``evaluations``, ``before`` and ``after`` (or
            ``skipped`` with the reason). ``False`` turns it off.
        errors: Host path: ``"raise"`` (default) stops the run on an exception in
            ``f`` (see Raises); ``"record"`` records the points it raised on as failed
            evaluations (a vectorized batch that raises is re-evaluated point by point
            to find them), with the messages in ``info["errors"]``, and the run goes on.
        checkpoint: A file to write the run's state to, atomically, before the first
            evaluation (so a folder that does not exist, or a space JSON cannot hold,
            fails at once), every ``checkpoint_every`` batches, at the end and when
            ``callback`` stops the run (:mod:`arqon_jax.host.checkpoint`). On the device path the loop then runs in
            compiled chunks of ``checkpoint_every`` batches.
        checkpoint_every: Batches between checkpoints; it does not change the result,
            so a run may resume with another value.
        resume: A checkpoint file to continue from (it must exist), or ``True`` to
            continue from ``checkpoint`` if that file exists. The final result equals
            that of an uninterrupted run with the same arguments.

    Returns:
        An :class:`OptimizeResult`.

    Raises:
        TypeError, ValueError: For invalid arguments, before any evaluation; when ``f``
            returns the wrong shape or type on its first batch (the message says when
            it looks like a function of one point, or of a batch with
            ``vectorized=False``); for a checkpoint of another problem
            (naming the argument that differs, e.g. ``budget`` or ``method``).
        OSError: If the checkpoint cannot be written before the first evaluation.
        OptimizationError: An exception of ``f`` (or a wrong output after its first
            batch), the pool, ``callback`` or a later checkpoint write stopped the run; the original exception is its
            ``__cause__`` and the run so far is ``exc.partial_result``. On the device
            path this needs ``checkpoint`` (the loop then runs in chunks; the partial
            result holds the chunks finished).
        OptimizationInterrupted: Ctrl-C (a ``KeyboardInterrupt`` subclass), with the
            run so far as ``exc.partial_result``; same paths as above.
    """
    args = dict(locals())
    if x64 is not None and not isinstance(x64, bool):
        raise TypeError(f"x64: expected None or a bool, got {x64!r}")
    if x64:
        with jax.enable_x64(True):
            result = minimize(**{**args, "x64": False})
        result.info.setdefault("x64", "on: x64=True")
        return result
    if pool is not None:
        f = pool_objective(pool, f, bounds, jit)
    f, space = _resolve_problem(f, bounds)
    in_x64 = jnp.zeros((), float).dtype == jnp.float64
    issues = [] if in_x64 else space.float32_issues(jnp.float32)
    check_method(method)
    budget = check_int("budget", budget, 1)
    batch_given = batch_size is not None
    if not batch_given:
        # On a CPU both paths size the batch for generations; the check of a traceable f
        # below must see the batch the run will use (its shape errors name it).
        on_cpu = pool is None and jax.default_backend() == "cpu"
        batch_size = default_batch_size(int(budget), space.dim, wide=False) if on_cpu else default_batch_size(int(budget))
    batch_size = check_int("batch_size", batch_size, 1, budget)
    if key is None:
        key = seed_key(seed)
    else:
        key = check_key(key)
    if vectorized is None:
        # RayPool(f, n, vectorized=False) says how f is called once; a True here would override it.
        vectorized = getattr(pool, "vectorized", True) if pool is not None else True
        if not isinstance(vectorized, (bool, np.bool_)):
            raise TypeError(f"pool.vectorized: expected a bool, got {vectorized!r}")
    if not isinstance(vectorized, (bool, np.bool_)):
        raise TypeError(f"vectorized: expected None or a bool, got {vectorized!r}")
    if callback is not None and not callable(callback):
        raise TypeError("callback: expected a callable")
    if jit not in (None, True, False):
        raise TypeError(f"jit: expected None, True or False, got {jit!r}")
    if jit and not vectorized:
        raise ValueError("jit: the device path needs a vectorized f (vectorized=True)")
    if not isinstance(polish, bool):
        raise TypeError(f"polish: expected a bool, got {polish!r}")
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress: expected a bool, got {type(progress).__name__} {progress!r}")
    if not isinstance(errors, str):
        raise TypeError(f"errors: expected 'raise' or 'record', got {type(errors).__name__} {errors!r}")
    if errors not in ("raise", "record"):
        raise ValueError(f"errors: expected 'raise' or 'record', got {errors!r}")
    if errors == "record" and pool is not None:
        raise ValueError("errors: a pool already records failures per point; leave errors='raise'")
    if jit and (callback is not None or errors == "record"):
        what = "a callback" if callback is not None else "errors='record'"
        raise ValueError(f"jit: {what} runs on the host path; jit=True (the device path) cannot be combined with it")
    ckpt = Checkpointing.from_args(checkpoint, checkpoint_every, resume, key)

    solver = make_solver(space, int(budget), int(batch_size), method=method, probe_ratio=probe_ratio, capacity=capacity)

    use_device = False
    if vectorized and jit is not False and callback is None and pool is None and errors == "raise":
        # jit=True is the documented opt-in for string choices as indexes.
        ok, out = traceable(f, space, solver.batch_size, solver.dtype, indexes=bool(jit))
        if ok:
            check_device_objective(f, space, out, solver.batch_size, solver.dtype)
            use_device = True
        elif jit:
            raise TypeError("f: jit=True needs a JAX-traceable objective (jax.numpy only, no conversion to numpy)")
    # f evaluated in this process on the host: float64 and batches sized for generations.
    # f compiled by us (device path, or a pool's workers) keeps float32 and wide batches.
    host_f = not use_device and pool is None
    if not in_x64 and (issues or (x64 is None and host_f)):
        reason = "; ".join(issues)
        if issues and not (x64 is None and host_f):
            # The run would search a coarse grid (or step outside the box) without a word.
            warnings.warn(f"bounds: {reason}; running in float64 (pass x64=True to say so)", UserWarning, stacklevel=2)
        with jax.enable_x64(True):
            result = minimize(**{**args, "x64": False})
        result.info["x64"] = f"switched on: {reason}" if issues else "on: the host path ranks in float64 (x64=None)"
        return result
    # Wide batches cost little only on an accelerator or across a pool's workers; on a CPU
    # every row costs the same, so the batch is sized for generations.
    # (On a CPU the batch above is already this one; on an accelerator the host path gets it here.)
    wide = pool is not None or (use_device and jax.default_backend() != "cpu")
    if not wide and not batch_given and batch_size != (narrow := default_batch_size(int(budget), space.dim, wide=False)):
        batch_size = narrow
        solver = make_solver(space, int(budget), int(batch_size), method=method, probe_ratio=probe_ratio,
                             capacity=capacity)

    # The gradient polish's reserve comes off the main loop's budget.
    host_reason = None if use_device else (
        "a pool evaluates f" if pool is not None else "a callback runs on the host path" if callback is not None
        else "errors='record' runs on the host path" if errors == "record"
        else "jit=False" if jit is False else "vectorized=False" if not vectorized else "f is not JAX-traceable")
    polish_plan, polish_info = decide_polish(polish, f, space, int(budget), solver, host_reason)
    if polish_plan is not None:
        if not wide and not batch_given:
            # Batch 5 lasts until auto's CMA-ES switch, which the solver's budget decides: sized
            # on the whole budget it ended before the switch had come. Wider batches stay as
            # sized on the whole budget (as measured at large budgets).
            narrow = default_batch_size(int(budget) - polish_plan.evaluations, space.dim, wide=False)
            if narrow == SMALL_BATCH:
                batch_size = narrow
        solver = make_solver(space, int(budget) - polish_plan.evaluations, int(batch_size), method=method,
                             probe_ratio=probe_ratio, capacity=capacity)

    prog = Progress(solver.budget, progress)
    if use_device:
        return run_device(f, solver, key, ckpt, prog, polish_plan, polish_info)
    if errors == "record":
        pool = RecordingEvaluator(f)
    result = run_host(f, solver, key, vectorized, callback, prog, pool, ckpt)
    result.info["polish"] = polish_info
    return result
