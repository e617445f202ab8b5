"""Batched Nelder-Mead: many simplices advanced in parallel, a full batch per step.

Each of the ``S = batch_size // 4`` simplices owns four rows of every batch. A simplex
in normal mode proposes all four candidates of one Nelder-Mead iteration at once
(reflection, expansion, outside and inside contraction), so the decision logic of
the classic method runs on their values in ``tell`` without further round trips.
Vertices that still need a value (the initial simplex, or a shrink) are proposed
four at a time first ("pending" mode). The simplex is kept, not rebuilt, between
steps, so it converges like the textbook method.

A simplex restarts, with a fresh simplex around a point drawn from the best stored
points, when it collapses (diameter below ``30 eps`` of the dtype) or stalls (no
improvement of its best vertex for ``stall_limit`` iterations). Rows left over when
``batch_size`` is not a multiple of 4 sample around the best point found.

Everything happens in the unit cube: candidates are projected onto it (periodic
dimensions wrap), so bounds and scales are always respected.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..history import OK, History
from .base import Geometry, Strategy, project, wrap_diff

__all__ = ["make_nelder_mead", "NMState"]

_SLOTS = 4  # reflection, expansion, outside contraction, inside contraction


class NMState(NamedTuple):
    """State of ``S`` simplices in ``dim`` dimensions.

    Attributes:
        V: Vertices ``(S, dim + 1, dim)``, sorted best first where values are known.
        F: Vertex values ``(S, dim + 1)``; ``+inf`` while pending.
        pending: ``(S, dim + 1)`` bool, vertices still to be evaluated.
        slot_vertex: ``(S, 4)`` int32, the vertex each row proposed in pending mode (-1: none).
        nm_mode: ``(S,)`` bool, whether the last ask proposed a Nelder-Mead iteration.
        best: ``(S,)`` best value each simplex has seen since its (re)start.
        stall: ``(S,)`` int32 iterations without improving ``best``.
        step: ``(S,)`` initial edge length used for (re)starts.
        restarts: Total restarts (int32 scalar).
        iterations: Total Nelder-Mead iterations (int32 scalar).
    """

    V: jax.Array
    F: jax.Array
    pending: jax.Array
    slot_vertex: jax.Array
    nm_mode: jax.Array
    best: jax.Array
    stall: jax.Array
    step: jax.Array
    restarts: jax.Array
    iterations: jax.Array


def make_nelder_mead(
    geometry: Geometry,
    batch_size: int,
    *,
    initial_step: float = 0.1,
    stall_limit: int | None = None,
    restart_top: int = 8,
) -> Strategy:
    """Builds batched Nelder-Mead.

    Args:
        geometry: The unit cube's static facts.
        batch_size: Rows per ``ask``; must be at least 4.
        initial_step: Edge length of a fresh simplex, in unit-cube units.
        stall_limit: Iterations without improvement before a restart;
            defaults to ``10 * (dim + 1)``.
        restart_top: Restart centres are drawn from this many best stored points.

    Returns:
        A :class:`Strategy`.

    Memory: the state holds ``batch_size // 4`` simplices of ``dim + 1`` vertices,
    ``O(batch dim^2 / 4)`` numbers; an ``ask`` or ``tell`` adds ``O(batch dim)``. The
    history (``capacity`` rows) is only read. Time per step: ``O(batch dim^2)``.

    Raises:
        ValueError: If ``batch_size < 4``.
    """
    if batch_size < _SLOTS:
        raise ValueError(f"batch_size: Nelder-Mead needs at least {_SLOTS} rows per batch, got {batch_size}")
    dim = geometry.dim
    n_simplex = batch_size // _SLOTS
    n_rows = n_simplex * _SLOTS
    n_extra = batch_size - n_rows
    nv = dim + 1
    stall_max = int(stall_limit or 10 * nv)

    def _fresh(centre, f_centre, known, step):
        """A simplex around ``centre``: vertex 0 is the centre, then one step along each axis."""
        eye = jnp.eye(dim, dtype=centre.dtype) * step
        # Step inwards where an outward step would leave the cube.
        direction = jnp.where(centre + step > 1.0, -1.0, 1.0).astype(centre.dtype)
        V = jnp.concatenate([centre[None, :], centre[None, :] + eye * direction[None, :]], 0)
        V = project(geometry, V)
        F = jnp.full((nv,), jnp.inf, centre.dtype).at[0].set(jnp.where(known, f_centre, jnp.inf))
        pending = jnp.ones((nv,), bool).at[0].set(~known)
        return V, F, pending

    def _sort(V, F, pending):
        order = jnp.argsort(F, stable=True)
        return V[order], F[order], pending[order]

    def init(key, history: History):
        del key
        dtype = history.X.dtype
        n_stored = jnp.sum(history.status == OK)
        top = min(history.X.shape[0], max(4 * n_simplex, restart_top))
        Xt = history.X[:top]
        ok = (jnp.arange(top) < n_stored)

        def choose(carry, _):
            chosen_d = carry
            # Greedy maximin over the best stored points: the best first, then the most distant.
            score = jnp.where(ok, chosen_d, -1.0)
            i = jnp.argmax(score)
            d = jnp.sqrt(jnp.sum(wrap_diff(geometry, Xt, Xt[i][None, :]) ** 2, -1))
            return jnp.minimum(chosen_d, d).at[i].set(-1.0), i

        init_d = jnp.full((top,), jnp.inf, dtype).at[0].set(1e30)
        _, picks = jax.lax.scan(choose, init_d, None, length=n_simplex)
        have = picks < n_stored
        centres = jnp.where(have[:, None], Xt[picks], 0.5)
        f0 = history.y[:top][picks]
        step = jnp.full((n_simplex,), initial_step, dtype)
        V, F, pending = jax.vmap(_fresh)(centres, f0, have, step)
        return NMState(
            V=V,
            F=F,
            pending=pending,
            slot_vertex=jnp.full((n_simplex, _SLOTS), -1, jnp.int32),
            nm_mode=jnp.zeros((n_simplex,), bool),
            best=jnp.min(F, axis=1),
            stall=jnp.zeros((n_simplex,), jnp.int32),
            step=step,
            restarts=jnp.zeros((), jnp.int32),
            iterations=jnp.zeros((), jnp.int32),
        )

    def _candidates(V):
        c = jnp.mean(V[:-1], axis=0)
        d = wrap_diff(geometry, c, V[-1])
        coef = jnp.asarray([1.0, 2.0, 0.5, -0.5], V.dtype)
        return project(geometry, c[None, :] + coef[:, None] * d[None, :])

    def _ask_one(V, pending, step, key):
        any_pending = jnp.any(pending)
        # The first four pending vertices, in order; -1 where there are fewer.
        order = jnp.argsort(~pending, stable=True)[:_SLOTS]
        has = pending[order]
        if nv < _SLOTS:  # fewer vertices than rows (1-D and 2-D problems)
            order = jnp.concatenate([order, jnp.zeros((_SLOTS - nv,), order.dtype)])
            has = jnp.concatenate([has, jnp.zeros((_SLOTS - nv,), bool)])
        slot_vertex = jnp.where(has, order, -1).astype(jnp.int32)
        # Rows with no pending vertex explore around the best vertex instead of
        # evaluating it again.
        explore = project(geometry, V[0][None, :] + 0.5 * step * jax.random.normal(key, (_SLOTS, dim), V.dtype))
        pend_rows = jnp.where(has[:, None], V[order], explore)
        nm_rows = _candidates(V)
        rows = jnp.where(any_pending, pend_rows, nm_rows)
        slot_vertex = jnp.where(any_pending, slot_vertex, -1)
        return rows, slot_vertex, ~any_pending

    def ask(state: NMState, key, history: History):
        k_rows, key = jax.random.split(key)
        rows, slot_vertex, nm_mode = jax.vmap(_ask_one)(state.V, state.pending, state.step, jax.random.split(k_rows, n_simplex))
        X = rows.reshape(n_rows, dim)
        if n_extra:
            centre = history.X[0]
            scale = jnp.mean(state.step) * 0.5
            extra = project(geometry, centre[None, :] + scale * jax.random.normal(key, (n_extra, dim), X.dtype))
            X = jnp.concatenate([X, extra], 0)
        return X, state._replace(slot_vertex=slot_vertex, nm_mode=nm_mode)

    def _tell_one(V, F, pending, slot_vertex, nm_mode, rows, vals):
        # Pending mode: store the values of the vertices that were evaluated.
        def store(carry, j):
            F, pending = carry
            v = slot_vertex[j]
            ok = (v >= 0) & jnp.isfinite(vals[j]) | (v >= 0) & (vals[j] == jnp.inf) & ~jnp.isnan(vals[j])
            vv = jnp.maximum(v, 0)
            F = jnp.where(ok, F.at[vv].set(vals[j]), F)
            pending = jnp.where(ok, pending.at[vv].set(False), pending)
            return (F, pending), None

        (F_p, pend_p), _ = jax.lax.scan(store, (F, pending), jnp.arange(_SLOTS))

        # Nelder-Mead mode: the classic decision, on all four values at once.
        fr, fe, foc, fic = vals[0], vals[1], vals[2], vals[3]
        f_best, f_second, f_worst = F[0], F[-2], F[-1]
        take_e = (fr < f_best) & (fe < fr)
        take_r = ((fr < f_best) & ~(fe < fr)) | ((fr >= f_best) & (fr < f_second))
        outside = (fr >= f_second) & (fr < f_worst)
        take_oc = outside & (foc <= fr)
        take_ic = (fr >= f_worst) & (fic < f_worst)
        accept = take_e | take_r | take_oc | take_ic
        new_x = jnp.where(take_e, rows[1], jnp.where(take_r, rows[0], jnp.where(take_oc, rows[2], rows[3])))
        new_f = jnp.where(take_e, fe, jnp.where(take_r, fr, jnp.where(take_oc, foc, fic)))
        V_a = V.at[-1].set(new_x)
        F_a = F.at[-1].set(new_f)
        # Shrink towards the best vertex; the moved vertices become pending.
        V_s = project(geometry, V[0][None, :] + 0.5 * wrap_diff(geometry, V, V[0][None, :]))
        F_s = jnp.full_like(F, jnp.inf).at[0].set(F[0])
        pend_s = jnp.ones_like(pending).at[0].set(False)
        V_n = jnp.where(accept, V_a, V_s)
        F_n = jnp.where(accept, F_a, F_s)
        pend_n = jnp.where(accept, pending, pend_s)

        V2 = jnp.where(nm_mode, V_n, V)
        F2 = jnp.where(nm_mode, F_n, F_p)
        pend2 = jnp.where(nm_mode, pend_n, pend_p)
        return _sort(V2, F2, pend2)

    def tell(state: NMState, key, X, y, valid, history: History):
        rows = X[:n_rows].reshape(n_simplex, _SLOTS, dim)
        vals = jnp.where(valid[:n_rows], y[:n_rows], jnp.nan).reshape(n_simplex, _SLOTS)
        # A row that was not evaluated (budget cut) keeps its vertex pending; in
        # Nelder-Mead mode it counts as a failure (+inf).
        vals_nm = jnp.where(jnp.isnan(vals), jnp.inf, vals)
        any_missing = jnp.any(jnp.isnan(vals), axis=1)
        tell_vals = jnp.where(state.nm_mode[:, None], vals_nm, vals)
        V, F, pending = jax.vmap(_tell_one)(state.V, state.F, state.pending, state.slot_vertex, state.nm_mode, rows, tell_vals)
        # A Nelder-Mead step with missing rows is undone rather than half applied.
        skip = state.nm_mode & any_missing
        V = jnp.where(skip[:, None, None], state.V, V)
        F = jnp.where(skip[:, None], state.F, F)
        pending = jnp.where(skip[:, None], state.pending, pending)

        new_best = jnp.min(F, axis=1)
        improved = new_best < state.best
        stall = jnp.where(improved, 0, state.stall + state.nm_mode.astype(jnp.int32))
        best = jnp.minimum(state.best, new_best)
        diam = jnp.max(jnp.abs(wrap_diff(geometry, V, V[:, :1, :])), axis=(1, 2))
        eps = jnp.finfo(V.dtype).eps
        restart = (~jnp.any(pending, axis=1)) & ((diam < 30 * eps) | (stall > stall_max))

        # Restart around one of the best stored points, chosen per simplex.
        n_ok = jnp.maximum(jnp.sum(history.status == OK), 1)
        top = min(history.X.shape[0], restart_top)
        pick = jax.random.randint(key, (n_simplex,), 0, jnp.minimum(n_ok, top))
        centres = history.X[pick]
        f0 = history.y[pick]
        known = history.status[pick] == OK
        Vr, Fr, Pr = jax.vmap(_fresh)(centres, f0, known, state.step)
        V = jnp.where(restart[:, None, None], Vr, V)
        F = jnp.where(restart[:, None], Fr, F)
        pending = jnp.where(restart[:, None], Pr, pending)
        best = jnp.where(restart, jnp.min(Fr, axis=1), best)
        stall = jnp.where(restart, 0, stall)
        return state._replace(
            V=V,
            F=F,
            pending=pending,
            best=best,
            stall=stall,
            restarts=state.restarts + jnp.sum(restart).astype(jnp.int32),
            iterations=state.iterations + jnp.sum(state.nm_mode & ~skip).astype(jnp.int32),
        )

    return Strategy("nelder-mead", init, ask, tell, whole_batch=True)
