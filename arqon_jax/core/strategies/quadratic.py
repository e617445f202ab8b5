"""Local quadratic model step, shared by the model-based strategies.

A full quadratic in the unit cube, ``p = 1 + d + d (d + 1) / 2`` coefficients, is fit
by least squares (optionally weighted towards the best points) to the best ``2 p``
stored points (centred on the best point, scaled per dimension by their spread), and
the proposals are steps from the best point towards its stationary point: the
response-surface step of Box & Wilson 1951, as in Nevergrad's quadratic meta-model
(``MetaModel``, picked by NGOpt at small budgets) and Powell's NEWUOA. The
eigenvalues of the fitted Hessian enter by absolute value (saddle-free Newton,
Dauphin et al. 2014, "Identifying and attacking the saddle point problem in
high-dimensional non-convex optimization"), so an indefinite fit still gives a
descent direction; within a trust region the first step solves the trust-region
subproblem instead (:func:`trust_region_step`). Beside the steps, a strategy can take
model-screened samples of the trust region (``make_quadratic_rows``' ``screened``).

Cost per call: ``O(p^2 min(capacity, 2 p))`` for the least squares, ``O(d^3)`` for
each of two eigendecompositions of the Hessian (the Newton step's and, with a trust
region, the subproblem's, plus its 80 bisection steps of ``O(d)``); memory
``O(p min(capacity, 2 p))``; screened rows add ``O(n_screen (d^2 + k))`` for ``k``
rows (scoring ``n_screen`` samples, picking in turn).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..history import EMPTY, FAILED, OK, History
from .base import Geometry, project, repeat_tol, snap, spread_picks, wrap_diff

__all__ = ["MAX_DIM", "STEP_SIZES", "QuadState", "QuadraticRows", "n_coefficients", "make_quadratic_step",
           "make_quadratic_rows", "schedule", "admissible", "models", "trust_region_step"]

# Multiples of the Newton step proposed, in order: a batch that takes k quadratic
# proposals takes the first k (the full step, then a shorter and a longer one, for
# fits whose curvature is off by a factor of about two).
STEP_SIZES = (1.0, 0.5, 2.0)

# Above this dimension the step is off: its least squares costs O(p^3) with p ~ d^2/2
# (float64, one CPU core: 0.14 ms at 5-D, 0.8 ms at 10-D, 3.8 ms at 15-D, 13 ms at
# 20-D, 63 ms at 30-D, against ~1 ms for a TPE ask), and its gains were measured at 5-D
# and 10-D only.
MAX_DIM = 16

# The step's trust region (cube units, Euclidean): starts at RADIUS0, grows by EXPAND
# after a batch whose step rows found a new best, shrinks by SHRINK after one whose did
# not, within [RADIUS_MIN, RADIUS_MAX]: the success/failure rule of TuRBO (Eriksson et
# al. 2019, "Scalable global optimization via local Bayesian optimization"), applied
# per batch. Measured on BBOB with TPE (default arguments, instances 1-5, mean rank
# among NGOpt, Optuna TPE, ArqonHPO and random, 5-D / budget 100 and 10-D / budget
# 200; benchmarks/results/bbob_small.md): without a trust region (the step capped at 3
# spreads of the fit points only) 2.06 / 2.15; start 0.25, x2 / x0.5: 2.06 / 1.79;
# start 0.1: 1.94 / 1.75; start 0.5: 2.27 / 1.67; start 0.25, x1.5: 1.94 / 1.75;
# start 0.25, shrink x0.7: 2.06 / 1.73. On instances 6-10 (a check against selection
# noise; NGOpt, Optuna TPE and random only): no trust region 1.92 / 2.00, start 0.1
# 1.88 / 1.88, start 0.25 with x1.5 1.92 / 1.79. On instances 1-10: no trust region
# 1.92 / 1.92, start 0.1 1.88 / 1.96, and with one free step of three (below) 1.88 /
# 1.75 (NGOpt 1.83 / 1.54-1.58): the free step is kept.
RADIUS0 = 0.1
EXPAND = 2.0
SHRINK = 0.5
RADIUS_MIN = 1e-4
RADIUS_MAX = 1.0


class QuadState(NamedTuple):
    """The quadratic step's trust region, carried in a strategy's state.

    Attributes:
        radius: Scalar, the longest step in cube units (Euclidean).
        ref: Scalar, the best stored value when the last step rows were proposed.
        used: ``(n,)`` bool, which of the last batch's final ``n`` rows are step rows.
    """

    radius: jax.Array
    ref: jax.Array
    used: jax.Array


class QuadraticRows(NamedTuple):
    """What :func:`make_quadratic_rows` builds: ``init``, ``rows`` and ``tell``.

    * ``init(dtype) -> QuadState``
    * ``rows(X, history, steps, qs) -> (X, qs)``: ``X (batch, dim)`` with its last
      rows replaced by admissible steps; ``steps`` counts the strategy's asks.
    * ``tell(qs, y, valid) -> qs``: the batch's values ``(batch,)`` update the trust
      region.
    """

    init: Callable
    rows: Callable
    tell: Callable


def n_coefficients(dim: int) -> int:
    """Coefficients of a full quadratic in ``dim`` variables."""
    return 1 + dim + dim * (dim + 1) // 2


def make_quadratic_step(geometry: Geometry, capacity: int, n_steps: int, *, min_points: int | None = None,
                        max_step: float = 3.0, fit_points: int | None = None,
                        rank_weight: float = 0.0, fit_width: float = 0.0) -> Callable[[History], tuple]:
    """Builds ``step(history) -> (X (n_steps, dim), ok ())``.

    Args:
        geometry: The unit cube's static facts.
        capacity: History rows (the fit reads the best ``min(capacity, 2 p)``).
        n_steps: Proposals per call, 1 to 3: the first ``n_steps`` of
            :data:`STEP_SIZES` times the Newton step.
        min_points: Evaluated rows needed before the step is used; default ``2 d + 1``,
            NEWUOA's number of interpolation points (Powell 2006): below ``p`` rows
            the fit is the minimum-norm least-squares solution, as NEWUOA's
            minimum-norm Hessian updates are. Measured against ``p + 1`` on BBOB with
            TPE (5-D, budget 100 / 10-D, budget 200, 3 instances): mean rank among
            the peers 2.19 / 2.27 against 2.19 / 2.40.
        max_step: Longest Newton step, in units of the fit points' spread per
            dimension (a trust region: a fit from few points extrapolates badly).
        fit_points: Best rows the least squares reads; default ``2 p`` (``1.2 p``
            measured 2.35 / 2.15 in the runs above).
        rank_weight: The ``i``-th best of the ``n`` evaluated rows read weighs
            ``exp(-rank_weight * i / n)`` in the least squares, so the fit is local
            to the best points (a locally weighted regression, Cleveland 1979, by
            rank instead of distance) while the rest still pin down the directions
            the best points do not span. 0 (the default) weighs all alike.
            Measured as above (mean rank 5-D / 10-D), 3 instances: 0: 2.19 / 2.27;
            2: 2.19 / 1.98; 4: 2.23 / 2.10; 8: 2.02 / 2.02; 16: 2.19 / 2.19; but
            on 5 instances 8 gave 2.23 / 2.10 against 2.06 / 2.15 for 0: no
            difference beyond the noise, so the simpler fit is the default.

        fit_width: With a trust radius ``r`` given to the step, a point at distance
            ``d`` (cube units) from the best one weighs ``exp(-d^2 / (2 (fit_width
            r)^2))``, at least ``1e-3``, in the least squares: a locally weighted
            regression (Cleveland 1979) whose window follows the trust region, as
            the trust-region model methods fit their models to the points near the
            current iterate (Conn, Scheinberg, Vicente 2009, "Introduction to
            Derivative-Free Optimization", ch. 10). A strongly non-quadratic
            function (BBOB's asymmetric transforms) fits badly over the whole
            domain. 0 (the default) weighs all alike, and so does a step without
            a radius.

    The step function takes the history and, optionally, a trust-region radius (cube
    units, Euclidean). With a radius the first step is the model's minimum within it
    (:func:`trust_region_step`), the others the Newton step scaled by
    :data:`STEP_SIZES` and capped at the radius; with 3 steps the third is the free
    (uncapped) full Newton step instead of twice the capped one, and with fewer steps
    ``free=True`` asks for the free step. ``step.fit(history, radius=None)`` returns
    the fitted model and ``step.propose(model, radius=None, free=False)`` the steps
    from it, so that a caller which also screens samples (:func:`make_quadratic_rows`)
    fits once.

    Returns:
        The step function; ``X`` lies in the cube, discrete dimensions at their bin
        centres. ``ok`` is False (and ``X`` not to be used) until
        ``min_points`` of the rows read are evaluated, or when the fit is not finite.
    """
    if not 0.0 <= fit_width < float("inf"):
        raise ValueError(f"quadratic: expected a fit_width >= 0 (trust radii), got {fit_width}")
    dim = geometry.dim
    n_coef = n_coefficients(dim)
    n_quad = int(min(capacity, fit_points or 2 * n_coef))
    need = 2 * dim + 1 if min_points is None else int(min_points)
    sizes = np.asarray(STEP_SIZES[: max(1, min(n_steps, len(STEP_SIZES)))])
    iu, ju = np.triu_indices(dim)

    def fit(history: History, radius=None):
        """The fit: ``(centre (dim,), scale (dim,), g (dim,), H (dim, dim), count ())``:
        the model ``q(z) = g.z + z^T H z / 2`` in units ``z = (x - centre) / scale``
        (values relative to the best and normalized), fit to ``count`` rows."""
        Xq = history.X[:n_quad]
        mq = history.status[:n_quad] == OK
        yq = history.y[:n_quad]
        centre = Xq[0]
        cnt = jnp.maximum(jnp.sum(mq), 1)
        D = wrap_diff(geometry, Xq, centre[None, :])
        scale = jnp.sqrt(jnp.sum(jnp.where(mq[:, None], D**2, 0.0), 0) / cnt)
        scale = jnp.maximum(scale, 1e-6)
        Z = D / scale
        yb = jnp.where(mq, yq - yq[0], 0.0)
        # Values whose differences overflow (beyond ~3e38 in float32) stay out of the fit;
        # the rest are divided by their largest before squaring, so the norm cannot overflow.
        mq = mq & jnp.isfinite(yb)
        cnt = jnp.maximum(jnp.sum(mq), 1)
        yb = jnp.where(mq, yb, 0.0)
        yb = yb / jnp.maximum(jnp.max(jnp.abs(yb)), jnp.finfo(yb.dtype).tiny)
        ys = jnp.maximum(jnp.sqrt(jnp.sum(yb**2) / cnt), 1e-30)
        Phi = jnp.concatenate([jnp.ones((n_quad, 1), Z.dtype), Z, Z[:, iu] * Z[:, ju]], 1)
        Phi = jnp.where(mq[:, None], Phi, 0.0)
        if rank_weight:
            w = jnp.exp(-rank_weight * jnp.arange(n_quad) / cnt)
            Phi, yb = Phi * w[:, None], yb * w
        if fit_width and radius is not None:
            d2 = jnp.sum(D**2, -1) / (fit_width * radius) ** 2
            w = jnp.maximum(jnp.exp(-0.5 * d2), 1e-3)
            Phi, yb = Phi * w[:, None], yb * w
        coef, *_ = jnp.linalg.lstsq(Phi, yb / ys)
        g = coef[1 : dim + 1]
        c2 = coef[dim + 1 :]
        H = jnp.zeros((dim, dim), Z.dtype).at[iu, ju].add(c2).at[ju, iu].add(c2)  # diagonal gets 2 c_ii
        return centre, scale, g, H, jnp.sum(mq)

    def propose(model, radius: jax.Array | None = None, free: jax.Array | bool = False):
        centre, scale, g, H, count = model
        lam, Q = jnp.linalg.eigh(H)
        lam_abs = jnp.maximum(jnp.abs(lam), 1e-6 * jnp.max(jnp.abs(lam)) + 1e-30)
        newton = -Q @ ((Q.T @ g) / lam_abs)
        norm = jnp.sqrt(jnp.sum(newton**2))
        newton = newton * jnp.minimum(1.0, max_step / jnp.maximum(norm, 1e-30))
        moves = jnp.asarray(sizes, g.dtype)[:, None] * (scale * newton)[None, :]
        if radius is not None:
            length = jnp.sqrt(jnp.sum((scale * newton) ** 2))
            inside = moves * jnp.minimum(1.0, radius / jnp.maximum(length, 1e-30))
            # The first row is the model's minimum within the radius (see
            # trust_region_step); the shorter row stays the capped Newton step, a
            # different direction where the radius binds.
            inside = inside.at[0].set(trust_region_step(g, H, scale, radius))
            if len(sizes) >= 3:  # the last row stays free (see make_quadratic_rows)
                moves = inside.at[-1].set(scale * newton)
            else:
                moves = jnp.where(free, moves, inside)
        X = snap(geometry, project(geometry, centre[None, :] + moves))
        ok = (count >= need) & jnp.all(jnp.isfinite(X))
        return X, ok

    def step(history: History, radius: jax.Array | None = None, free: jax.Array | bool = False):
        return propose(fit(history, radius), radius, free)

    step.fit, step.propose = fit, propose
    return step


def trust_region_step(g: jax.Array, H: jax.Array, scale: jax.Array, radius: jax.Array) -> jax.Array:
    """The minimizer of ``q(z) = g.z + z^T H z / 2`` over ``|scale * z| <= radius``.

    The trust-region subproblem, solved exactly (More & Sorensen 1983, "Computing a
    trust region step"; Conn, Gould & Toint 2000, "Trust-Region Methods", ch. 7.3):
    in cube units ``u = scale * z`` the step is ``u(mu) = -(H_u + mu I)^-1 g_u``
    with ``mu = 0`` when ``H_u`` is positive definite and its Newton step lies
    inside, else the ``mu > max(0, -lambda_min)`` at which ``|u(mu)| = radius``,
    found by bisection on ``log mu`` over the eigendecomposition of ``H_u``. Where
    the radius binds on an ill-conditioned fit this steps along the stiff
    directions in full and along the flat ones as far as the radius allows, where
    the capped Newton step shortens all of them alike; an indefinite fit steps
    along its negative curvature. The "hard case" (``g`` orthogonal to the lowest
    eigenvector) gives the shorter step of ``mu`` just above ``-lambda_min``.

    Measured on BBOB against the capped Newton step as the first step row (TPE,
    default arguments, instances 1-30, paired by instance, Wilcoxon p < 0.05 per
    function): 10-D at budget 200 better on f2, f9, f10, f13 and f20, worse on none;
    5-D at budget 100 no function apart (``benchmarks/results/bbob_small_10inst.md``).

    Args:
        g: ``(dim,)`` gradient of the model in ``z`` units.
        H: ``(dim, dim)`` symmetric Hessian in ``z`` units.
        scale: ``(dim,)`` positive cube units per ``z`` unit.
        radius: Scalar, the trust radius in cube units (Euclidean).

    Returns:
        ``(dim,)``: the step in cube units, of length at most ``radius``; not finite
        where the fit is not.
    """
    gu = g / scale
    Hu = H / scale[:, None] / scale[None, :]
    # Scaling g and H alike leaves the minimizer where it is; at most 1 in size, the
    # squares below neither overflow nor underflow in float32 (a gradient of 1e30 gave
    # a zero step, a flat model a 0/0).
    c = jnp.maximum(jnp.max(jnp.abs(gu)), jnp.max(jnp.abs(Hu)))
    c = jnp.where(c > 0, c, 1.0)
    gu, Hu = gu / c, Hu / c
    lam, Q = jnp.linalg.eigh(Hu)
    a = Q.T @ gu
    g_norm = jnp.sqrt(jnp.sum(a**2))
    info = jnp.finfo(lam.dtype)
    # mu stays above -lambda_min by more than its rounding: in the hard case lam + mu
    # would otherwise round to 0 and the step be 0/0.
    tiny = 8 * info.eps * (jnp.max(jnp.abs(lam)) + g_norm / radius) + jnp.sqrt(info.tiny)

    def coords(mu):
        return jnp.where(a == 0, 0.0, a / (lam + mu))

    def length(mu):
        return jnp.sqrt(jnp.sum(coords(mu) ** 2))

    # |u(mu)| falls with mu on (-lambda_min, inf): at hi it is at most the radius.
    lo = jnp.maximum(0.0, -lam[0]) + tiny
    hi = lo + g_norm / radius + jnp.max(jnp.abs(lam)) + tiny

    def bisect(_, bracket):
        l, h = bracket
        m = jnp.sqrt(l) * jnp.sqrt(h)  # the geometric mean, without underflow of l * h
        outside = length(m) > radius
        return jnp.where(outside, m, l), jnp.where(outside, h, m)

    _, hi = jax.lax.fori_loop(0, 80, bisect, (lo, hi))
    mu = jnp.where((lam[0] > 0) & (length(0.0) <= radius), 0.0, hi)
    return -Q @ coords(mu)


def admissible(geometry: Geometry, X: jax.Array, history: History, others: jax.Array) -> jax.Array:
    """Which proposals ``X (k, dim)`` (snapped) are worth an evaluation, ``(k,)`` bool.

    Not one that repeats a stored point, a row of ``others (m, dim)`` (the rest of the
    batch) or an earlier row of ``X`` (the step is deterministic: on a flat or linear
    fit, or with discrete dimensions, it would propose the same point again), and not
    one whose nearest stored point failed (the fit leaves failures out, so its
    minimum may lie in a region where ``f`` fails).
    """
    tol = repeat_tol(X.dtype)  # closer points carry no information
    k, cap, m = X.shape[0], history.X.shape[0], others.shape[0]
    stored = history.status != EMPTY
    # One distance pass over everything X must not repeat: stored rows, the rest of the
    # batch, and X's own earlier rows.
    D = wrap_diff(geometry, X[:, None, :], jnp.concatenate([history.X, others, X])[None, :, :])
    counted = jnp.concatenate([jnp.broadcast_to(stored, (k, cap)), jnp.ones((k, m), bool),
                               jnp.tril(jnp.ones((k, k), bool), -1)], axis=1)
    repeat = jnp.any((jnp.max(jnp.abs(D), -1) <= tol) & counted, axis=1)
    near = jnp.argmin(jnp.where(stored[None, :], jnp.sum(D[:, :cap] ** 2, -1), jnp.inf), axis=1)
    failed_near = jnp.any(stored) & (history.status[near] == FAILED)
    return ~(repeat | failed_near)


def make_quadratic_rows(geometry: Geometry, capacity: int, batch_size: int, share: float, *,
                        trust_region: bool = True, screened: float = 0.0, n_screen: int = 512,
                        **options) -> QuadraticRows:
    """Builds the quadratic rows of a strategy's batches, with their trust region.

    ``rows`` replaces the last rows of a batch ``X (batch, dim)`` with quadratic steps,
    as :func:`schedule` plans for ``share``; a step row that is not :func:`admissible`
    (or a fit that is not usable) keeps the strategy's own proposal. With
    ``trust_region`` the Newton step is capped at a radius that grows after a batch
    whose step rows found a new best and shrinks after one whose did not (see
    :data:`RADIUS0`), except one step in three: the last of a batch's three step rows,
    or every other step when a batch holds fewer, is the free step, capped only by
    the fit points' spread. Where the global trend is a bowl under local minima
    (Rastrigin) the free step jumps to its centre, which a small trust region reaches
    only after many batches. Without ``trust_region`` ``tell`` leaves the state as it
    is. ``options`` go to
    :func:`make_quadratic_step`. Without a quadratic step (see :func:`schedule`)
    ``rows`` returns ``X`` unchanged.

    ``screened``: share of a batch (``round(screened * batch)`` rows, before the step rows;
    only with ``trust_region`` and batches that take step rows every time) filled by
    model-screened samples: ``n_screen`` points drawn around the best point (normal,
    ``radius / sqrt(dim)`` per dimension, so about ``radius`` long), scored by the
    fitted quadratic, and the best taken one by one, each pushing down the candidates
    within ``radius / 2`` of it. They sample the trust region where the model
    predicts low values, as the pre-screening of surrogate-assisted evolution
    strategies does (Emmerich et al. 2002, "Metamodel-assisted evolution
    strategies"), and they give the next fit points around the best one. ``rows``
    then needs its ``key``.

    Raises:
        ValueError: For ``share`` or ``screened`` outside ``[0, 1]``, ``n_screen``
            below 1, or a negative ``fit_width``.
    """
    if not 0.0 <= screened <= 1.0:
        raise ValueError(f"quadratic: expected a screened share of the proposals in [0, 1], got {screened}")
    if int(n_screen) < 1:
        raise ValueError(f"quadratic: expected n_screen >= 1 samples, got {n_screen}")
    n, period = schedule(share, batch_size, geometry, capacity)
    n_local = int(round(screened * batch_size)) if (n and period == 1 and trust_region) else 0
    n_local = max(0, min(n_local, batch_size - n - 1))
    dim = geometry.dim

    def init(dtype) -> QuadState:
        return QuadState(jnp.asarray(RADIUS0, dtype), jnp.asarray(jnp.inf, dtype), jnp.zeros((n + n_local,), bool))

    if not n:
        return QuadraticRows(init, lambda X, history, steps, qs, key=None: (X, qs), lambda qs, y, valid: qs)
    step = make_quadratic_step(geometry, capacity, n, **options)
    k = n + n_local

    def screen(model, radius, key):
        centre, scale, g, H, _ = model
        z = jax.random.normal(key, (n_screen, dim), centre.dtype) * (radius / np.sqrt(dim))
        cand = snap(geometry, project(geometry, centre[None, :] + z))
        zs = wrap_diff(geometry, cand, centre[None, :]) / scale
        pred = zs @ g + 0.5 * jnp.sum((zs @ H) * zs, -1)
        low = jnp.where(jnp.isfinite(pred), -pred, -jnp.inf)
        return spread_picks(geometry, cand, low, n_local, scale=1.0, limit=(0.5 * radius) ** 2, penalty=1e30)

    def rows(X, history, steps, qs: QuadState, key=None):
        free = (steps // period) % 2 == 1
        radius = qs.radius.astype(history.X.dtype)
        tr = radius if trust_region else None
        model = step.fit(history, tr)
        xq, ok = step.propose(model, tr, free)
        if n_local:
            xq = jnp.concatenate([screen(model, radius, key), xq])
        # Against the whole batch, the rows a step row may replace included: a row kept
        # where its step is not used must not be proposed again by another step row.
        use = ok & (steps % period == period - 1) & admissible(geometry, xq, history, X)
        ref = jnp.where(history.status[0] == OK, history.y[0], jnp.inf).astype(qs.ref.dtype)
        return X.at[batch_size - k:].set(jnp.where(use[:, None], xq, X[batch_size - k:])), qs._replace(ref=ref, used=use)

    def tell(qs: QuadState, y, valid) -> QuadState:
        if not trust_region:
            return qs
        yq = jnp.asarray(y[batch_size - k:], qs.ref.dtype)
        yq = jnp.where(qs.used & jnp.asarray(valid[batch_size - k:], bool) & jnp.isfinite(yq), yq, jnp.inf)
        win = jnp.min(yq) < qs.ref
        radius = jnp.clip(qs.radius * jnp.where(win, EXPAND, SHRINK), RADIUS_MIN, RADIUS_MAX)
        return qs._replace(radius=jnp.where(jnp.any(qs.used), radius, qs.radius).astype(qs.radius.dtype))

    return QuadraticRows(init, rows, tell)


def models(geometry: Geometry) -> bool:
    """Whether the quadratic step models this space: no categorical dimension (no order
    to fit a quadratic over) and at most :data:`MAX_DIM` dimensions."""
    return not any(geometry.categorical) and geometry.dim <= MAX_DIM


def schedule(share: float, batch_size: int, geometry: Geometry, capacity: int) -> tuple[int, int]:
    """How a strategy hands ``share`` of its proposals to the quadratic step.

    Returns ``(n, period)``: the last ``n`` rows of every ``period``-th batch. A batch
    of ``b`` rows with ``share * b >= 1`` gives ``n = min(3, round(share * b))`` rows
    of every batch (never all of them); smaller batches (one point per ``ask``, as
    in ask/tell loops) give one row of every ``round(1 / (share * b))``-th batch.
    ``(0, 1)`` (no quadratic step) with categorical dimensions (no order to fit a
    quadratic over), above :data:`MAX_DIM` dimensions, for ``share <= 0``, or when
    the history cannot hold ``p + 1`` points.

    Raises:
        ValueError: For ``share`` outside ``[0, 1]``.
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"quadratic: expected a share of the proposals in [0, 1], got {share}")
    p = n_coefficients(geometry.dim)
    if share <= 0 or not models(geometry) or capacity <= p:
        return 0, 1
    target = share * batch_size
    if target >= 1:
        return int(max(1, min(len(STEP_SIZES), round(target), batch_size - 1))), 1
    return 1, int(min(round(1.0 / target), 2**30))  # a period beyond int32 means never
