"""Gradient polish: a final projected L-BFGS stage for differentiable objectives.

When ``f`` is JAX-traceable and differentiable, :func:`arqon_jax.minimize` keeps a
small share of the budget (see :func:`plan_polish`) for this stage: after the main
loop, the ``k`` best stored points are refined with L-BFGS directions
(:func:`optax.scale_by_lbfgs`) in the unit cube, each point independently (``vmap``).

Design (all static sizes, one compiled program per problem, deterministic):

* **What moves**: linear, log and periodic dimensions (through
  ``space.from_unit``, so a log dimension is polished in log space). Integer and
  categorical dimensions keep their value (their gradient is masked to zero).
* **Bounds**: after every step the point is projected back onto ``[0, 1]``
  (periodic dimensions wrap), and gradient components that push into an active
  bound are dropped, so the L-BFGS memory only sees feasible moves.
* **Step control**: exactly one ``value_and_grad`` of the ``k`` points per step. A
  trial point ``project(u + t d)`` (``d`` the L-BFGS direction, its length capped
  by a per-point trust radius) is accepted only if its value is finite and lower;
  an accepted step doubles the radius, a rejected one shrinks it below the step
  just tried. The L-BFGS memory is updated at accepted points only, and a
  direction that is not a descent direction (possible on non-convex functions)
  is replaced by the steepest descent. A point whose gradient is not finite does
  not move.
* **Accounting**: one ``value_and_grad`` at one point counts as
  :data:`GRAD_EVAL_COST` = 2 evaluations (a forward and a backward pass). Every
  polish evaluation is recorded in the solver's history (``observe``), so
  ``history.count`` (``nfev``) stays exact: main loop + polish = budget.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..core.history import OK
from .cache import ObjectiveCache
from .device import shape_key
from ..core.space import CATEGORICAL, INTEGER, Space, from_unit_with

__all__ = [
    "PolishPlan",
    "plan_polish",
    "polish_skip_reason",
    "polish_runner",
    "decide_polish",
    "run_polish",
    "GRAD_EVAL_COST",
    "POLISH_SHARE",
    "POLISH_MAX_POINTS",
    "POLISH_MIN_STEPS",
    "POLISH_MAX_STEPS",
]

#: Evaluations charged for one ``value_and_grad`` at one point.
GRAD_EVAL_COST = 2
#: Largest share of the budget the polish may take.
POLISH_SHARE = 0.05
#: Most points polished side by side (the best stored ones).
POLISH_MAX_POINTS = 8
#: Fewest L-BFGS steps worth running; below that the polish is skipped.
POLISH_MIN_STEPS = 25
#: Most steps: L-BFGS converges in far fewer on a smooth basin, and the steps run
#: one after the other, so more would only add latency for very large budgets.
POLISH_MAX_STEPS = 200
#: Initial trust radius of a step, in unit-cube units.
_RADIUS0 = 0.05
_MEMORY = 10

_POLISHERS = ObjectiveCache()


class PolishPlan(NamedTuple):
    """Static size of a polish stage.

    Attributes:
        points: Points polished side by side (``k``).
        steps: ``value_and_grad`` calls per point (the first one at the start point).
        cost: Evaluations charged per point and step (:data:`GRAD_EVAL_COST`).
    """

    points: int
    steps: int
    cost: int = GRAD_EVAL_COST

    @property
    def evaluations(self) -> int:
        """Evaluations the stage uses, exactly."""
        return self.points * self.steps * self.cost


def plan_polish(budget: int, batch_size: int) -> tuple[PolishPlan | None, str | None]:
    """Sizes the polish for a budget: ``(plan, None)`` or ``(None, reason skipped)``.

    The share is ``floor(POLISH_SHARE * budget)`` evaluations (at most
    ``POLISH_MAX_POINTS * POLISH_MAX_STEPS * GRAD_EVAL_COST`` = 3200 are used): as
    many points as get ``POLISH_MIN_STEPS`` steps each (at most 8), then as many
    steps as fit (at most 200). E.g. budget 1000: 1 point x 25 steps (50
    evaluations); 10^4: 8 x 31 (496); 10^5 and more: 8 x 200 (3200).
    """
    share = int(math.floor(POLISH_SHARE * budget))
    per_point_min = POLISH_MIN_STEPS * GRAD_EVAL_COST
    k = min(POLISH_MAX_POINTS, share // per_point_min)
    if k < 1:
        return None, (f"budget too small: {POLISH_SHARE:.0%} of {budget} evaluations is below "
                      f"{per_point_min} (one point x {POLISH_MIN_STEPS} gradient steps x {GRAD_EVAL_COST})")
    steps = min(POLISH_MAX_STEPS, share // (k * GRAD_EVAL_COST))
    plan = PolishPlan(k, steps)
    if budget - plan.evaluations < batch_size:
        return None, f"batch_size={batch_size} leaves no room for a polish reserve of {plan.evaluations} evaluations"
    return plan, None


def _value_and_grad(get_f: Callable[[], Callable], space: Space, k: int, dtype):
    """``(U (k, dim), consts) -> (y (k,), G (k, dim))``: values and per-row gradients in the
    unit cube; ``consts`` are the bounds as data (:meth:`Space.unit_constants`).

    ``get_f()`` returns the objective at trace time (compiled code does not hold it).
    """

    def values(U, consts):
        y = get_f()(space.to_user(from_unit_with(space.scales, consts, U)))
        return jnp.reshape(y, (k,)).astype(dtype)

    def loss(U, consts):
        y = values(U, consts)
        # Rows are independent for a vectorized f, so the gradient of the sum is the
        # per-row gradient. A failed row contributes 0 (its own gradient is not used).
        return jnp.sum(jnp.where(jnp.isfinite(y), y, 0.0)), y

    vg = jax.value_and_grad(loss, has_aux=True)

    def evaluate(U, consts):
        (_, y), G = vg(U, consts)
        return y, G

    return evaluate


def polish_skip_reason(f: Callable, space: Space, plan: PolishPlan, dtype) -> str | None:
    """Why ``f`` cannot be polished (``None`` if it can), without evaluating it.

    Traces ``value_and_grad`` with :func:`jax.eval_shape`: a function that cannot be
    differentiated (e.g. a ``while_loop``, a callback, integer-valued output) is
    skipped here; non-finite gradients are caught at run time.
    """
    if not any(s not in (INTEGER, CATEGORICAL) for s in space.scales):
        return "no continuous dimension to polish (integer and categorical dimensions stay fixed)"
    spec = jax.ShapeDtypeStruct((plan.points, space.dim), dtype)
    try:
        raw = jax.eval_shape(lambda U: f(space.to_user(space.from_unit(U))), spec)
    except Exception as exc:  # noqa: BLE001 - any failure means: do not polish
        return f"f cannot be traced for {plan.points} points ({type(exc).__name__})"
    if not jnp.issubdtype(getattr(raw, "dtype", np.dtype(bool)), jnp.floating):
        return f"f returns {getattr(raw, 'dtype', type(raw).__name__)} values, which have no gradient"
    try:
        jax.eval_shape(_value_and_grad(lambda: f, space, plan.points, dtype), spec, space.unit_constants(dtype))
    except Exception as exc:  # noqa: BLE001
        return f"f is not differentiable with jax.grad ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
    return None


class _PState(NamedTuple):
    U: jax.Array  # (k, dim) current accepted points
    fU: jax.Array  # (k,) their values (+inf if failed)
    D: jax.Array  # (k, dim) search directions
    radius: jax.Array  # (k,) trust radii
    opt: Any  # vmapped optax L-BFGS state
    nonfinite: jax.Array  # int32: points whose gradient was not finite at the start


def polish_runner(f: Callable, solver, plan: PolishPlan) -> Callable:
    """``run(state) -> (state, curve (steps,), n_nonfinite)``.

    ``state`` is the solver's state after the main loop; the returned state has
    every polish evaluation recorded (``history.count`` grows by
    ``plan.evaluations``) and its best point updated. ``curve`` is the best value
    after each step. The compiled program is cached per objective, solver shape and
    number of points: the bound values and the steps are data, so other bounds and
    budgets reuse it.
    """
    program = _POLISHERS.get(f, (shape_key(solver), plan.points, plan.cost),
                             lambda get_f: _build_polisher(get_f, solver, plan.points, plan.cost))
    consts = jax.device_put(solver.space.unit_constants(solver.dtype))

    def run(state):
        state, curve, nonfinite = program(state, consts, plan.steps)
        return state, np.asarray(curve)[:plan.steps], nonfinite

    return run


def _build_polisher(get_f: Callable[[], Callable], solver, k: int, cost: int) -> Callable:
    space, dtype = solver.space, solver.dtype
    scales = np.asarray(space.scales)
    move = jnp.asarray(~np.isin(scales, (INTEGER, CATEGORICAL)))
    per = jnp.asarray(np.asarray(space.periodic, bool))
    evaluate = _value_and_grad(get_f, space, k, dtype)
    tx = optax.scale_by_lbfgs(memory_size=_MEMORY)

    def project(U):
        return jnp.where(per, U - jnp.floor(U), jnp.clip(U, 0.0, 1.0))

    def feasible_grad(U, G):
        # Fixed dimensions and components pushing into an active bound do not move.
        G = jnp.where(move, G, 0.0)
        blocked = ~per & (((U <= 0.0) & (G > 0.0)) | ((U >= 1.0) & (G < 0.0)))
        return jnp.where(blocked, 0.0, G)

    def direction(G, opt, U):
        upd, opt = jax.vmap(tx.update)(G, opt, U)
        D = -upd
        descent = jnp.sum(D * G, axis=1) < 0.0
        good = descent & jnp.all(jnp.isfinite(D), axis=1)
        D = jnp.where(good[:, None], D, -G)
        return jnp.where(move, D, 0.0), opt

    def record(state, U, y):
        state = solver.observe(state, U, y)
        # observe counts one evaluation (and one failure) per row; a value_and_grad
        # counts ``cost`` of each, so that n_failed == nfev when every value failed.
        h = state.history
        bad = jnp.sum(~jnp.isfinite(y)).astype(h.n_failed.dtype)
        return state._replace(history=h._replace(count=h.count + (cost - 1) * k,
                                                 n_failed=h.n_failed + (cost - 1) * bad))

    def run(state, consts, steps):
        hist = state.history
        ok = hist.status[:k] == OK
        # Start from the k best stored points (the best one where fewer are stored).
        U0 = jnp.where(ok[:, None], hist.X[:k], hist.X[0]).astype(dtype)
        y0, G0 = evaluate(U0, consts)
        state = record(state, U0, y0)
        G0 = feasible_grad(U0, G0)
        fin = jnp.isfinite(y0) & jnp.all(jnp.isfinite(G0), axis=1)
        G0 = jnp.where(fin[:, None], G0, 0.0)
        opt0 = jax.vmap(tx.init)(U0)
        D0, opt0 = direction(G0, opt0, U0)
        ps = _PState(
            U=U0,
            fU=jnp.where(jnp.isfinite(y0), y0, jnp.inf),
            D=D0,
            radius=jnp.full((k,), _RADIUS0, dtype),
            opt=opt0,
            nonfinite=jnp.sum(~fin).astype(jnp.int32),
        )

        def body(i, carry):
            state, ps, curve = carry
            dn = jnp.sqrt(jnp.sum(ps.D * ps.D, axis=1))
            t = jnp.minimum(1.0, ps.radius / jnp.maximum(dn, jnp.finfo(dtype).tiny))
            cand = project(ps.U + t[:, None] * ps.D)
            y, G = evaluate(cand, consts)
            state = record(state, cand, y)
            G = feasible_grad(cand, G)
            accept = jnp.isfinite(y) & (y < ps.fU) & jnp.all(jnp.isfinite(G), axis=1)
            D_new, opt_new = direction(G, ps.opt, cand)
            step_len = t * dn

            def pick(new, old):
                a = accept.reshape((k,) + (1,) * (new.ndim - 1))
                return jnp.where(a, new, old)

            # The L-BFGS state of a point advances only when its step was accepted.
            opt = jax.tree_util.tree_map(pick, opt_new, ps.opt)
            radius = jnp.where(accept, jnp.minimum(jnp.maximum(2.0 * step_len, ps.radius), 1.0),
                               0.25 * step_len)
            ps = _PState(U=pick(cand, ps.U), fU=jnp.where(accept, y, ps.fU), D=pick(D_new, ps.D),
                         radius=radius.astype(dtype), opt=opt, nonfinite=ps.nonfinite)
            return state, ps, curve.at[i].set(state.best_y)

        # The steps are data (a loop of the budget's length into a buffer of the most
        # steps), so every budget with the same number of points shares the program.
        curve = jnp.full((POLISH_MAX_STEPS,), jnp.inf, state.best_y.dtype).at[0].set(state.best_y)
        state, ps, curve = jax.lax.fori_loop(1, steps, body, (state, ps, curve))
        return state, curve, ps.nonfinite

    return jax.jit(run)


def decide_polish(polish: bool, f: Callable, space: Space, budget: int, solver, host_reason: str | None
                  ) -> tuple[PolishPlan | None, dict]:
    """Whether and how :func:`arqon_jax.minimize` polishes: ``(plan or None, info)``.

    ``info`` is what ``result.info["polish"]`` reports when the polish does not run:
    ``{"skipped": reason, "evaluations": 0}``.

    Args:
        polish: The user's ``polish`` argument.
        f: The objective.
        space: The search space.
        budget: The user's whole budget.
        solver: The solver built for the whole budget (its batch size, method, dtype).
        host_reason: Why the run is on the host path, or ``None`` on the device path.
    """
    def skipped(reason):
        return None, {"skipped": reason, "evaluations": 0}

    if not polish:
        return skipped("polish=False")
    if host_reason is not None:
        return skipped(f"{host_reason}: the polish runs only on the device path "
                       "(a JAX f, in-process, without callback or errors='record')")
    if solver.method == "random":
        return skipped("method='random' is the uniform-search baseline")
    plan, reason = plan_polish(budget, solver.batch_size)
    if plan is None:
        return skipped(reason)
    reason = polish_skip_reason(f, space, plan, solver.dtype)
    if reason is not None:
        return skipped(reason)
    return plan, {}


def run_polish(f: Callable, solver, plan: PolishPlan, state, curve: np.ndarray, nfev_curve: np.ndarray):
    """Runs the polish after the main loop of ``solver`` (whose budget excludes it).

    Returns:
        ``(state, curve, nfev_curve, info)``: the curves extended by one entry per
        polish step, and ``info`` = ``{"evaluations", "before", "after", ...}``.
    """
    before = float(state.best_y)
    if not math.isfinite(before):
        # Every evaluation failed: a gradient step from a failed point has nothing to
        # follow, and its evaluations would only fail again.
        return state, curve, nfev_curve, {"skipped": "every evaluation of the main loop failed: no finite point "
                                                     "to polish", "evaluations": 0}
    state, pcurve, nonfinite = polish_runner(f, solver, plan)(state)
    after = float(state.best_y)
    pn = solver.budget + (np.arange(plan.steps) + 1) * plan.points * plan.cost
    info = {
        "evaluations": plan.evaluations,
        "before": before,
        "after": after,
        "improvement": before - after if math.isfinite(before) else math.nan,
        "points": plan.points,
        "steps": plan.steps,
        "evaluations_per_gradient": plan.cost,
        "nonfinite_gradients": int(nonfinite),
        "optimizer": "projected L-BFGS (optax.scale_by_lbfgs) with a trust radius",
    }
    return (state, np.concatenate([np.asarray(curve), np.asarray(pcurve)]),
            np.concatenate([np.asarray(nfev_curve), pn]), info)
