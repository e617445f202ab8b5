"""Gaussian-process Bayesian optimization (log-EI, trust region, Kriging believer).

Each ``ask`` fits a Gaussian process to the best ``n_model`` stored points, scores
``n_candidates`` candidate points by the logarithm of the expected improvement and
returns ``batch_size`` distinct proposals chosen one after the other under the
Kriging believer. Everything is a fixed-size masked computation, so an ``ask`` is one
traced program whatever the number of stored points.

Model (Rasmussen & Williams 2006, *Gaussian Processes for Machine Learning*):

* kernel: ARD Matern-5/2, ``k(r) = s^2 (1 + sqrt5 r + 5 r^2 / 3) exp(-sqrt5 r)`` with
  ``r^2 = sum_i (d_i / l_i)^2`` (R&W eq. 4.17); ``d_i`` is the difference of the inputs
  in the unit cube, the short way round on periodic dimensions, ``0``/``1`` (overlap,
  i.e. Hamming) on categorical dimensions; integer and categorical inputs are snapped
  to their bin centres inside the kernel, so one value is one input;
* outputs: failed points take the worst stored value, or a value above it while the
  finite values are all equal (left out, a failing region looks unexplored and draws
  the acquisition); the values are warped by ``log1p((y - y_min) / s)``
  with ``s`` the upper quartile of ``y - y_min`` (so a 1e6-scale tail does not dominate
  and the region near the best point keeps its resolution), then standardized. The
  quartile, not the median: a warp that strong made the GP settle in a fair category
  (SVC on digits in Tune, the poly kernel on 11 of 40 seeds; the upper quartile: 1 of
  40, with 39 at or below the rbf plateau against 28), while no warp lost CoCaBO's
  Func3C (median -0.37 over 10 seeds against -0.72; the quartile -0.7218 over 20
  seeds against the median's -0.7215) and BBOB's 5-D functions at budget 100 moved
  either way (3 instances: lower on 34 runs, higher on 29);
* hyperparameters (log lengthscales, log signal and log noise variance) by the
  maximum a posteriori of the log marginal likelihood (R&W eq. 5.8) with
  ``optax.adam`` in a ``lax.scan``, from a few starts in one ``vmap`` (the previous
  ask's fit, warm, is one of them); the lengthscale prior is BoTorch's
  dimension-scaled log-normal ``log l ~ N(sqrt2 + log(dim) / 2, 3)`` (Hvarfner et al.
  2024, "Vanilla Bayesian optimization performs great in high dimensions"), the noise
  prior ``log sn^2 ~ N(-4, 1)`` with a floor of ``1e-4`` for float32 Choleskys;
* posterior: Cholesky factor ``L`` of ``K + sn^2 I`` (R&W Algorithm 2.1) with
  ``jax.scipy.linalg.solve_triangular``; masked rows are identity rows, which leaves
  the likelihood and posterior of the stored points exact.

Acquisition: log expected improvement over the best stored value, computed without
cancellation (Ament et al. 2023, "Unexpected improvements to expected improvement for
Bayesian optimization", NeurIPS; their ``log_h`` with an asymptotic branch for
``z < -5``), so candidates far below the incumbent keep finite, ordered scores.

Candidates: ``1 - local_share`` of them uniform in the cube, the rest in a trust
region around the best point (TuRBO, Eriksson et al. 2019, "Scalable global
optimization via local Bayesian optimization", NeurIPS): a box of side ``length *
w_i`` with ``w_i`` the lengthscales over their geometric mean, perturbing each
dimension with probability ``min(1, 20 / dim)``. The length doubles after
``succ_tol`` batches that improve the best value, halves after ``fail_tol`` batches
that do not, and restarts at ``length_init`` below ``length_min``. The best
``n_polish`` candidates then take ``grad_steps`` Adam steps up the log-EI.

Quadratic step: a share ``quadratic`` of the proposals (the last 3 of a batch of 10)
are steps towards the stationary point of a quadratic least-squares fit to the best
``2 p`` stored points (``p = 1 + d + d (d + 1) / 2`` coefficients), at 1, 1/2 and 2
times the Newton step (:mod:`.quadratic`, shared with TPE). This is what reaches
``1e-12`` on a 5-D sphere in 100 evaluations (the GP alone: ~1e-2, limited by its
float32 noise floor).

Batch: the Kriging believer (Ginsbourger, Le Riche & Carraro 2010, "Kriging is
well-suited to parallelize optimization"): after each pick the GP is conditioned on
its own mean at the picked point. The mean does not change under that fantasy, and
the variances are updated by one rank-one downdate per pick (the incremental
Cholesky column of the new point), so a batch costs ``O(batch * m * n)``, not ``batch``
new factorizations. With integer or categorical dimensions, candidates snap onto few
points: a candidate that repeats a stored point (in a finite space, any point of the
history, not only the model's rows) ranks below every new one, a pick uses up its
copies among the candidates, and a finite space adds a reserve of uniform candidates
(4 per point, at most 8192: :func:`~.base.finite_reserve`, as TPE), so a batch holds
new points while the space has them.

Shapes and cost, with ``n = n_model``, ``m = n_candidates``, ``d = dim``, ``S =
n_starts``, ``T = fit_steps``: the state holds ``d + 6`` scalars. An ``ask`` holds
``O(n^2 (S + d) + n m + m d)`` floats (the fit forms the ``n^2 d`` per-dimension
differences once; continuous spaces weigh the inputs at every step instead above
``2**22`` of them), plus ``O(m n d)`` for spaces with periodic, integer or
categorical dimensions, whose distances or repeat tests are formed per dimension (in
a finite space ``m`` grows by the reserve and the repeat test reads all ``c`` rows of
the history: ``O(m c d)`` time, in blocks of at most ``2**24`` floats,
:func:`~.base.repeats`), and takes ``O(S T (n^3 + n^2 d))`` for the fit,
``O(m n (n + d))`` for the posterior, ``O(grad_steps n_polish n^2)`` for the polish,
``O(batch m n)`` for the batch and ``O(p^2 min(n, 2 p))`` for the quadratic step.
``n`` counts the model's rows, filled or not (masked rows cost as much), except in the
fit, most of an ask's time: its ``n`` is the smallest of :func:`model_sizes`
(quarters of ``n_model`` from 64 rows) that holds the stored rows, so its cost follows the
history (each size is one more compiled copy of the fit: a first 4-D ask at ``n =
128`` compiles for ~4 s instead of ~2.6 s). A GP solver's default history is the
budget's power of two up to ``n_model`` rows (``core.solver.make_solver``). Measured
on a shared 2-core CPU, whole runs of ``minimize(method="gp")`` on a quadratic with
the default batch, after a first run: 5-D at budget 100, 4.3 ms per evaluation (``n
= 128``; 14.8 ms with one fit size and the differences formed at every fit step);
10-D at 200, 22 ms (74 ms; ``n = 256``). Optuna's GPSampler takes 28-45 ms per trial
on BBOB at these sizes (``benchmarks/results/bbob_small_with_gp.md``).
"""

from __future__ import annotations

import math
from functools import partial
from types import SimpleNamespace
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.custom_batching import custom_vmap
from jax.scipy.linalg import solve_triangular

from ..history import EMPTY, OK, History
from .base import Geometry, Strategy, finite_reserve, repeat_tol, repeats, wrap_diff
from .base import snap as snap_to_bins  # the model's closures call theirs `snap`
from .quadratic import make_quadratic_rows

__all__ = ["make_gp", "fit_predict", "log_h", "GPState"]

#: Default ``n_model``: the most stored points in the model (``strategies.history_rows``).
N_MODEL = 256
_SQRT5 = math.sqrt(5.0)
_NOISE_FLOOR = 1e-4
_JITTER = 1e-6


class GPState(NamedTuple):
    """What the GP keeps between asks.

    Attributes:
        theta: Hyperparameters of the last fit ``(dim + 2,)``: log lengthscales, log
            signal variance, log noise variance (the warm start of the next fit).
        length: Trust-region side (unit-cube units).
        succ: Consecutive improving batches.
        fail: Consecutive batches without improvement.
        best: Best value when the last batch was told.
        steps: Number of asks.
    """

    theta: jax.Array
    length: jax.Array
    succ: jax.Array
    fail: jax.Array
    best: jax.Array
    steps: jax.Array


def log_h(z: jax.Array) -> jax.Array:
    """``log(phi(z) + z Phi(z))``, stable for all ``z`` (Ament et al. 2023, eq. 9 ff.).

    ``EI = sigma h((best - mu) / sigma)``. For ``z > -5`` the direct form loses at most
    a factor ~30 of relative precision to cancellation; below, the asymptotic series
    ``h(z) = phi(z) (1/z^2 - 3/z^4 + 15/z^6 - 105/z^8 + ...)`` is accurate to ~1e-4.
    """
    c = 0.5 * math.log(2 * math.pi)
    direct_z = jnp.maximum(z, -5.0)
    direct = jnp.log(jnp.maximum(
        jnp.exp(-0.5 * direct_z**2 - c) + direct_z * jax.scipy.special.ndtr(direct_z), 1e-30))
    zs = jnp.minimum(z, -5.0)
    iz2 = 1.0 / zs**2
    series = -0.5 * zs**2 - c + jnp.log(iz2 * (1.0 - iz2 * (3.0 - iz2 * (15.0 - 105.0 * iz2))))
    return jnp.where(z > -5.0, direct, series)


def make_gp(
    geometry: Geometry,
    batch_size: int,
    capacity: int,
    dtype=jnp.float32,
    *,
    n_model: int = N_MODEL,
    n_candidates: int | None = None,
    local_share: float = 0.75,
    fit_steps: int = 40,
    n_starts: int = 3,
    learning_rate: float = 0.1,
    grad_steps: int = 10,
    n_polish: int = 16,
    warp: bool = True,
    quadratic: float = 0.3,
    length_init: float = 0.8,
    length_min: float = 2.0**-7,
    length_max: float = 1.6,
    succ_tol: int = 3,
    fail_tol: int | None = None,
) -> Strategy:
    """Builds the GP strategy.

    Args:
        geometry: The unit cube's static facts.
        batch_size: Rows per ``ask``.
        capacity: The history capacity (rows).
        dtype: Floating dtype of the model (the solver's).
        n_model: Most stored points in the model (the best ones); the Cholesky is
            ``O(n_model^3)``. Capped at ``capacity``.
        n_candidates: Candidates scored per ``ask``; defaults to
            ``clip(256 * dim, 1024, 4096)`` and at least ``4 * batch_size``.
        local_share: Share of the candidates drawn in the trust region.
        fit_steps: Adam steps of the hyperparameter fit.
        n_starts: Starts of the fit (the first is the previous fit).
        learning_rate: Adam step size of the fit (log-parameter units).
        grad_steps: Adam steps of the best candidates up the log-EI (0: none).
        n_polish: Candidates that take those steps.
        warp: Warp the values by ``log1p((y - y_min) / s)``, ``s`` the upper quartile
            of ``y - y_min``, before standardizing.
        quadratic: Share of the proposals taken from the quadratic step
            (:func:`~.quadratic.schedule`: 3 of a batch of 10; 0: none; off with
            categorical dimensions).
        length_init, length_min, length_max: Trust-region side: start, restart
            threshold, largest.
        succ_tol: Improving batches before the side doubles.
        fail_tol: Batches without improvement before it halves; defaults to TuRBO's
            ``ceil(max(4 / batch, dim / batch))``.

    Returns:
        A :class:`Strategy` named ``"gp"``.
    """
    dim = geometry.dim
    n = int(max(1, min(capacity, n_model)))
    m = int(n_candidates or min(4096, max(1024, 256 * dim)))
    m = max(m, 4 * batch_size)
    n_pol = int(max(0, min(n_polish, m)))
    fail_tol = int(fail_tol if fail_tol is not None else math.ceil(max(4.0 / batch_size, dim / batch_size)))
    levels = np.asarray(geometry.levels, np.float64)
    is_disc = levels > 0
    any_disc = bool(is_disc.any())
    finite = bool(is_disc.all())
    # In a finite space the last points not evaluated are often missing from the
    # candidates (a quarter uniform): a reserve of uniform ones finds them, as TPE's does.
    reserve = finite_reserve(geometry)
    # The GP's own trust region bounds its candidates; its quadratic rows keep the
    # spread-based cap only (the step's trust region was measured with TPE).
    quadratic_rows = make_quadratic_rows(geometry, n, batch_size, quadratic, trust_region=False)
    ls_mu = math.sqrt(2.0) + 0.5 * math.log(dim)
    n_local = int(round(local_share * m))
    p_perturb = min(1.0, 20.0 / dim)

    # The hyperparameter fit, most of an ask's time, once per size: an ask fits on the
    # smallest that holds every stored row, so its cost follows the history, not the
    # capacity (the posterior keeps all ``n`` rows: cheap, and one compiled copy).
    fitters = [_model(geometry, k, fit_steps, n_starts, learning_rate, warp) for k in model_sizes(n)]
    model = fitters[-1]  # all n rows
    snap, sqdist, matern, unpack = model.snap, model.sqdist, model.matern, model.unpack

    def fit_rows(mdl, theta0, history: History):
        Xk, zk, mask_k, _ = mdl.transform(history)
        return mdl.fit(theta0, Xk, zk, mask_k)

    @custom_vmap
    def fit(theta0, history: History):
        # History rows are sorted ok, failed, empty, and the fit reads the stored ones: a
        # model with at least that many rows sees exactly what the largest would (its
        # extra rows are masked identity rows).
        which = jnp.searchsorted(jnp.asarray([f.n for f in fitters[:-1]], jnp.int32), history.size, side="left")
        return jax.lax.switch(which, [partial(fit_rows, f) for f in fitters], theta0, history)

    @fit.def_vmap
    def _fit_batched(axis_size, in_batched, theta0, history):
        # Under vmap a switch becomes a select that runs every branch, and XLA's CPU
        # runtime runs their batched Choleskys side by side on its thread pool, where
        # LAPACK's batch map waits for work queued behind itself: 3 of 6 vmapped runs
        # hung on a loaded 2-core machine. One fit of all the rows, as the largest
        # branch would run, is exact for every lane.
        def batched(x, b):
            return x if b else jnp.broadcast_to(x, (axis_size,) + jnp.shape(x))

        args = jax.tree_util.tree_map(batched, (theta0, history), tuple(in_batched))
        return jax.vmap(partial(fit_rows, fitters[-1]))(*args), True

    def init(key, history: History):
        del key
        dt = history.X.dtype
        theta = jnp.concatenate([jnp.full((dim,), ls_mu), jnp.array([0.0, -4.0])]).astype(dt)
        return GPState(
            theta=theta,
            length=jnp.asarray(length_init, dt),
            succ=jnp.zeros((), jnp.int32),
            fail=jnp.zeros((), jnp.int32),
            best=history.y[0].astype(dt),
            steps=jnp.zeros((), jnp.int32),
        )

    def ask(state: GPState, key, history: History):
        Xm, z, mask, z_best = model.transform(history)
        dt = Xm.dtype
        theta = fit(state.theta.astype(dt), history)
        ls, sf2, sn2 = unpack(theta)
        post = model.posterior(theta, Xm, z, mask)

        def acq(mu, var, best):
            s = jnp.sqrt(var)
            return jnp.log(s) + log_h((best - mu) / s)

        # Candidates: uniform in the cube and in the trust region around the best point.
        k_uni, k_box, k_mask, k_dim = jax.random.split(key, 4)
        uni = jax.random.uniform(k_uni, (m, dim), dt)
        w = ls / jnp.exp(jnp.mean(jnp.log(ls)))
        w = jnp.clip(w, 0.1, 10.0)
        w = w / jnp.exp(jnp.mean(jnp.log(w)))
        centre = history.X[0]
        box = centre + (jax.random.uniform(k_box, (n_local, dim), dt) - 0.5) * state.length * w
        pert = jax.random.uniform(k_mask, (n_local, dim)) < p_perturb
        one = jax.random.randint(k_dim, (n_local,), 0, dim)
        pert = pert | (jnp.arange(dim)[None, :] == one[:, None])
        local = jnp.where(pert, box, centre)
        per = jnp.asarray(geometry.periodic)
        local = jnp.where(per, local - jnp.floor(local), jnp.clip(local, 0.0, 1.0))
        cand = jnp.concatenate([local, uni[: m - n_local]])

        mu, var, _ = post(cand)
        score = acq(mu, var, z_best)
        if n_pol and grad_steps:
            _, top = jax.lax.top_k(score, n_pol)

            def neg_acq(x):
                mu1, var1, _ = post(x[None, :])
                return -acq(mu1, var1, z_best)[0]

            opt = optax.adam(0.02)
            g_fn = jax.vmap(jax.grad(neg_acq))

            def gstep(carry, _):
                x, os = carry
                g = g_fn(x)
                g = jnp.where(jnp.isfinite(g), g, 0.0)
                upd, os = opt.update(g, os, x)
                x = optax.apply_updates(x, upd)
                x = jnp.where(per, x - jnp.floor(x), jnp.clip(x, 0.0, 1.0))
                return (x, os), None

            x0 = cand[top]
            (x1, _), _ = jax.lax.scan(gstep, (x0, opt.init(x0)), None, length=grad_steps)
            cand = jnp.concatenate([cand, x1])
        if reserve:
            cand = jnp.concatenate([cand, jax.random.uniform(jax.random.fold_in(key, 2), (reserve, dim), dt)])
        cand = snap(cand)
        mu, var, V = post(cand)
        pen = jnp.zeros(cand.shape[:1], dt)
        if any_disc:
            # Candidates that repeat a stored point (likely only with discrete dimensions).
            # In a finite space against the whole history, as TPE does: a point evicted
            # from the model's rows is still one the budget already paid for.
            Xd, st = (snap(history.X), history.status != EMPTY) if finite else (Xm, history.status[:n] != EMPTY)
            dup = repeats(geometry, cand, Xd, st, repeat_tol(dt))
            pen = jnp.where(dup, pen - 1e6, pen)

        def pick(carry, j):
            var_c, best, Cf, used = carry
            sc = jnp.where(used, -jnp.inf, jnp.nan_to_num(acq(mu, var_c, best), nan=-1e30) + pen)
            i = jnp.argmax(sc)
            xi = cand[i]
            # Covariance with the picked point, conditioned on the data and earlier picks.
            kx = matern(sqdist(cand, xi[None, :], ls)[:, 0], sf2)
            c = kx - V.T @ V[:, i] - Cf @ Cf[i]
            col = c / jnp.sqrt(var_c[i] + sn2)
            Cf = Cf.at[:, j].set(col)
            var_c = jnp.maximum(var_c - col**2, 1e-12)
            if any_disc:
                # Snapped candidates can be copies of each other: all of a pick's copies
                # are used with it, or the batch would hold the same point twice.
                used = used | repeats(geometry, cand, xi[None, :], jnp.ones((1,), bool), repeat_tol(dt))
            return (var_c, jnp.minimum(best, mu[i]), Cf, used.at[i].set(True)), xi

        n_c = cand.shape[0]
        carry0 = (var, z_best, jnp.zeros((n_c, batch_size), dt), jnp.zeros((n_c,), bool))
        _, X = jax.lax.scan(pick, carry0, jnp.arange(batch_size))
        X, _ = quadratic_rows.rows(X, history, state.steps, quadratic_rows.init(X.dtype))
        return X, state._replace(theta=theta, steps=state.steps + 1)

    def tell(state: GPState, key, X, y, valid, history: History):
        del key, X
        new_best = jnp.min(jnp.where(valid, y, jnp.inf))
        improved = new_best < state.best - 1e-3 * jnp.abs(state.best)
        succ = jnp.where(improved, state.succ + 1, 0)
        fail = jnp.where(improved, 0, state.fail + 1)
        length = state.length
        length = jnp.where(succ >= succ_tol, jnp.minimum(2.0 * length, length_max), length)
        succ = jnp.where(succ >= succ_tol, 0, succ)
        length = jnp.where(fail >= fail_tol, length / 2.0, length)
        fail = jnp.where(fail >= fail_tol, 0, fail)
        length = jnp.where(length < length_min, length_init, length)
        return state._replace(length=length.astype(state.length.dtype), succ=succ.astype(jnp.int32),
                              fail=fail.astype(jnp.int32), best=jnp.minimum(state.best, history.y[0]))

    return Strategy(name="gp", init=init, ask=ask, tell=tell)


def model_sizes(n: int) -> tuple[int, ...]:
    """Model sizes (rows) compiled for an ask of at most ``n`` rows: quarters of ``n`` from 64 rows.

    The fit's time grows about as ``n^2.3`` (4-D, ``n`` 32 to 256, 2-core CPU: 1.6, 9,
    35, 180 ms), so a history a quarter full costs ~1/20 of a full one; each size is one
    more compiled branch of the ask, not worth it below 64 rows.
    """
    return (n,) if n < 64 else tuple(-(-n * q // 4) for q in (1, 2, 3, 4))


def _model(geometry: Geometry, n: int, fit_steps: int, n_starts: int, learning_rate: float, warp: bool):
    """The GP's pieces over ``n`` model rows, as closures over the static geometry."""
    dim = geometry.dim
    levels = np.asarray(geometry.levels, np.float64)
    is_cat = np.asarray(geometry.categorical, bool)
    k_lev = np.maximum(levels, 1)
    plain = not (any(geometry.periodic) or is_cat.any())
    # Continuous spaces need no per-dimension differences elsewhere: form them for the
    # fit only while they stay small (2**22 floats), else weigh the inputs at every step.
    pairwise = not plain or n * n * dim <= 2**22
    ls_mu = math.sqrt(2.0) + 0.5 * math.log(dim)
    snap = partial(snap_to_bins, geometry)  # discrete dimensions to bin centres, in the kernel and proposals

    def differences(A, B):
        """Per-dimension differences ``(a, b, d)``: wrapped on periodic dimensions, 0/1 on categorical ones."""
        diff = wrap_diff(geometry, A[:, None, :], B[None, :, :])
        if is_cat.any():
            diff = jnp.where(jnp.asarray(is_cat), (jnp.abs(diff) > 0.25 / jnp.asarray(k_lev, A.dtype)).astype(A.dtype), diff)
        return diff

    def sqdist(A, B, ls):
        """Scaled squared distances ``(a, b)`` between snapped points ``A (a, d)``, ``B (b, d)``."""
        if plain:
            As, Bs = A / ls, B / ls
            d2 = jnp.sum(As**2, -1)[:, None] - 2.0 * As @ Bs.T + jnp.sum(Bs**2, -1)[None, :]
            return jnp.maximum(d2, 0.0)
        return jnp.sum((differences(A, B) / ls) ** 2, -1)

    def pair_terms(A):
        """What the Gram matrix of the rows of ``A (n, d)`` needs besides the hyperparameters.

        The per-dimension squared differences ``(n, n, d)`` do not depend on the
        hyperparameters, so the fit forms them once and each of its steps only weighs
        them by the lengthscales (a matrix-vector product; half the time of a fit in
        a 4-D mixed space at ``n = 128``). Without ``pairwise``, the rows themselves.
        """
        return differences(A, A) ** 2 if pairwise else A

    def matern(d2, sf2):
        r = jnp.sqrt(d2 + 1e-12)
        return sf2 * (1.0 + _SQRT5 * r + (5.0 / 3.0) * d2) * jnp.exp(-_SQRT5 * r)

    def unpack(theta):
        ls = jnp.exp(theta[:dim])
        sf2 = jnp.exp(theta[dim])
        sn2 = _NOISE_FLOOR + jnp.exp(theta[dim + 1])
        return ls, sf2, sn2

    def gram(theta, P, mask):
        """``K + sn^2 I`` from the rows' :func:`pair_terms` ``P``, masked rows identity rows."""
        ls, sf2, sn2 = unpack(theta)
        K = matern(P @ (1.0 / ls**2) if pairwise else sqdist(P, P, ls), sf2)
        both = mask[:, None] & mask[None, :]
        eye = jnp.eye(n, dtype=P.dtype)
        return jnp.where(both, K, 0.0) + eye * jnp.where(mask, sn2 + _JITTER * sf2, 1.0)

    def neg_log_post(theta, P, z, mask):
        """Negative log marginal likelihood (R&W eq. 5.8) plus the log priors."""
        L = jnp.linalg.cholesky(gram(theta, P, mask))
        a = solve_triangular(L, z, lower=True)
        nll = 0.5 * jnp.sum(a**2) + jnp.sum(jnp.log(jnp.diagonal(L)))
        prior = (jnp.sum((theta[:dim] - ls_mu) ** 2) / 6.0 + 0.5 * theta[dim] ** 2
                 + 0.5 * (theta[dim + 1] + 4.0) ** 2)
        out = nll + prior
        return jnp.where(jnp.isfinite(out), out, 1e10)

    def fit(theta0, Xm, z, mask):
        starts = jnp.stack([
            theta0,
            jnp.concatenate([jnp.full((dim,), ls_mu), jnp.array([0.0, -4.0])]).astype(Xm.dtype),
            jnp.concatenate([jnp.full((dim,), ls_mu - 1.5), jnp.array([0.0, -6.0])]).astype(Xm.dtype),
            jnp.concatenate([jnp.full((dim,), ls_mu + 1.0), jnp.array([0.5, -2.0])]).astype(Xm.dtype),
        ])[: max(1, n_starts)]
        opt = optax.adam(learning_rate)
        loss_grad = jax.value_and_grad(neg_log_post)
        P = pair_terms(Xm)

        def run(th):
            def step(carry, _):
                th, os = carry
                _, g = loss_grad(th, P, z, mask)
                g = jnp.where(jnp.isfinite(g), g, 0.0)
                upd, os = opt.update(g, os, th)
                th = jnp.clip(optax.apply_updates(th, upd), -12.0, 8.0)
                return (th, os), None

            (th, _), _ = jax.lax.scan(step, (th, opt.init(th)), None, length=fit_steps)
            return th, neg_log_post(th, P, z, mask)

        ths, losses = jax.vmap(run)(starts)
        return ths[jnp.argmin(losses)]

    def transform(history: History):
        """Model inputs, standardized (warped) outputs, mask and the incumbent ``(Xm, z, mask, z_best)``."""
        Xm = snap(history.X[:n])
        y = history.y[:n]
        ok = history.status[:n] == OK
        n_ok = jnp.sum(ok)
        # Failed points take the worst value seen: left out, they leave a failing region
        # looking unexplored, and the GP kept proposing it (a mixed 5-D space failing on
        # a sixth of one dimension: 74 of 129 evaluations failed, 227 of 300).
        mask = jnp.where(n_ok > 0, history.status[:n] != EMPTY, ok)
        cnt = jnp.maximum(jnp.sum(mask), 1)
        y_min = y[0]  # sorted best first: ok rows by value, then failed, then empty
        y_max = y[jnp.clip(n_ok - 1, 0, n - 1)]
        # The model reads halved differences from the best value (the standardization below
        # makes it shift-invariant), so a spread beyond the largest float does not overflow.
        # Failures take the worst difference; while the finite values are all equal it is 0,
        # and failures there made the model flat (one success in 64 evaluations on a 4-D
        # objective failing off a box around it, where TPE failed 32): any positive value
        # will do, as the warp and the standardization make two distinct values scale-free.
        spread = jnp.where(y_max > y_min, 0.5 * y_max - 0.5 * y_min, 0.5 * jnp.maximum(jnp.abs(y_min), 1.0))
        y = jnp.where(ok, 0.5 * y - 0.5 * y_min, jnp.where(mask, spread, 0.0))
        if warp:
            # The floor is relative to the spread (an absolute one flattened values 1e-20
            # apart), and at least the smallest normal float, whose reciprocal is finite.
            floor = jnp.maximum(1e-12 * spread, jnp.finfo(y.dtype).tiny)
            scale = jnp.maximum(y[jnp.clip(3 * cnt // 4, 0, n - 1)], floor)
            # XLA on the CPU divides by a scalar as a product with its reciprocal, which is
            # flushed to zero beyond ~8.5e37 in float32: both sides are scaled down first.
            c = jnp.where(scale > 2.0**100, 2.0**-32, 1.0).astype(y.dtype)
            y = jnp.log1p((y * c) / (scale * c))
        mean = jnp.sum(jnp.where(mask, y, 0.0)) / cnt
        var = jnp.sum(jnp.where(mask, (y - mean) ** 2, 0.0)) / cnt
        z = jnp.where(mask, (y - mean) / jnp.sqrt(jnp.maximum(var, 1e-12)), 0.0)
        z_best = jnp.where(mask[0], z[0], 0.0)
        return Xm, z, mask, z_best

    def posterior(theta, Xm, z, mask):
        """``post(C) -> (mean, variance, L^-1 k(X, C))`` at points ``C (c, d)``, and ``L``."""
        ls, sf2, _ = unpack(theta)
        L = jnp.linalg.cholesky(gram(theta, pair_terms(Xm), mask))
        alpha = solve_triangular(L.T, solve_triangular(L, z, lower=True), lower=False)

        def post(C):
            Ks = jnp.where(mask[:, None], matern(sqdist(Xm, snap(C), ls), sf2), 0.0)
            V = solve_triangular(L, Ks, lower=True)
            var = jnp.maximum(sf2 - jnp.sum(V**2, 0), 1e-12)
            return Ks.T @ alpha, var, V

        return post

    return SimpleNamespace(n=n, snap=snap, sqdist=sqdist, matern=matern, unpack=unpack, gram=gram, fit=fit,
                           transform=transform, posterior=posterior, ls_mu=ls_mu)


def fit_predict(geometry: Geometry, history: History, C: jax.Array, *, n_model: int = N_MODEL, fit_steps: int = 40,
                n_starts: int = 3, learning_rate: float = 0.1, warp: bool = True):
    """Fits the GP to ``history`` as ``ask`` does and predicts at ``C (c, dim)``.

    Returns:
        ``(mean (c,), variance (c,), z (n,), mask (n,))``: the posterior in standardized
        output units, and the model's training targets and mask (for inspection/tests).
    """
    n = int(max(1, min(history.y.shape[0], n_model)))
    mdl = _model(geometry, n, fit_steps, n_starts, learning_rate, warp)
    Xm, z, mask, _ = mdl.transform(history)
    theta0 = jnp.concatenate([jnp.full((geometry.dim,), mdl.ls_mu), jnp.array([0.0, -4.0])]).astype(Xm.dtype)
    theta = mdl.fit(theta0, Xm, z, mask)
    mu, var, _ = mdl.posterior(theta, Xm, z, mask)(C)
    return mu, var, z, mask
