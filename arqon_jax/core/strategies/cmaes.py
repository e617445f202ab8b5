"""A batched CMA-ES portfolio with restarts, as pure init/ask/tell functions.

``K`` CMA-ES instances run side by side inside one fixed batch. Instance ``k`` owns a
static, contiguous slice of ``lambda_k`` rows of every batch (``lambda_k = lambda_default
* 2**k``, IPOP/BIPOP style, the rows left over going to the largest instance, so that
``sum(lambda_k) == batch_size``). Each instance has its own mean, step size, evolution
paths and covariance: full (``dim x dim``) or diagonal (sep-CMA-ES, chosen automatically
for large dimensions).

Cost: the row-level work (sampling, selection, the rank-mu sums) runs on each instance's
own slice, so it is proportional to the batch, not to ``K`` times the largest
population; ``tell`` only reads the ``mu`` best rows of each instance (``lax.top_k``),
not a full sort. The small per-instance updates (paths, covariance, step size) are one
``vmap`` over ``K``. Samples are ``y = A z`` with ``A`` a factor of the covariance
(``C = A A^T``). The factor is recomputed lazily (Hansen's tutorial, 2016, section B.2,
with the gap of his reference implementation purecma): instance ``k`` refactors ``C``
once more than ``0.5 / (dim (c1 + cmu))`` generations have passed, behind a
``lax.cond``, and samples from the last factor in between. An instance whose gap is
below :data:`CHOLESKY_GAP` generations (a population large against the dimension: the
whole batch's instance in wide device batches) refactors every generation with a
Cholesky factorization and its triangular inverse, and its conjugate evolution path
reads ``A^{-1} y`` in place of ``C^{-1/2} y``: the Cholesky-CMA-ES of Krause, Arbones
and Igel (2016, "CMA-ES with optimal covariance update and storage complexity",
NeurIPS), whose factor also changes every generation and who report the performance of
the symmetric root. On this 2-core CPU (jitted, float32, 100-D) the two cost 0.18 ms
against 0.53 ms for an eigendecomposition. The other instances keep the
eigendecomposition ``C = B D^2 B^T`` (``A = B D``), whose path ``B D^{-1} B^T y`` lives
in the original coordinates, however stale the factor.

Populations grow as in IPOP-CMA-ES (Auger and Hansen 2005): the largest instance's
generation may span ``2**l`` batches (a population of ``2**l`` slices, pooled before one
update), and each of its global restarts doubles it; a local restart (BIPOP's small
regime) starts it again from one slice. The side-by-side sizes cover the small
populations at once, the pooled one the large populations that multimodal functions
need, in generations instead of batch rows.

Everything is in the unit cube: samples are reflected into ``[0, 1]`` (periodic
dimensions wrap) and the update uses the *repaired* points, the step of a repaired
point being shortened to a typical Mahalanobis length (Hansen's rule for injected
solutions), so bounds do not bias the covariance.

An instance restarts, without any recompilation (all decisions are ``jnp.where``), when
it stagnates (no new best since its last restart for ``10 + ceil(30 dim / lambda_k)``
generations while its ``mu`` best values are within ``tol_fun``, Hansen's TolFun; or no
new best for three times as long), its step size collapses
(``sigma * sqrt(max eig C) < tol_x``; ``sigma * sqrt(max diag C)``, pycma's TolX,
for a Cholesky factor), its covariance is ill conditioned (``cond C > 1e14``, from the
eigenvalues; for a Cholesky factor ``(max a_ii / min a_ii)^2``, a lower bound) or its
state is not finite. A restart draws a new mean (uniform in
the cube, or one of the best stored points with a smaller step size, BIPOP's local
regime) and resets the paths and the covariance; :attr:`CMAState.restarts` and
:attr:`CMAState.n_restarts` count them.

The formulas follow N. Hansen, "The CMA Evolution Strategy: A Tutorial" (2016), with
positive recombination weights only.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .base import Geometry, Strategy, reflect, wrap_diff
from ..history import History, OK

__all__ = ["CMAState", "make_cmaes", "portfolio_lambdas", "default_lambda"]

#: Dimensions above which ``separable=None`` picks the diagonal variant.
SEPARABLE_ABOVE = 100
#: Defaults of :func:`make_cmaes`'s ``max_instances`` and ``restart_top``: together they
#: bound the history rows the strategy reads (``strategies.history_rows``).
MAX_INSTANCES = 4
RESTART_TOP = 10
#: Default bounds on the largest instance's population growth (IPOP): at most
#: ``2**MAX_LEVELS`` times its slice, and a pool of at most ``POOL_ELEMENTS`` numbers
#: (512 KiB in float64): a host-path state crosses the ``jit`` boundary every batch and
#: goes into every checkpoint. With the host path's default batch of 200 (budget
#: 10^4 dim) that allows 16 slices up to 20-D, 8 in 30-D and 40-D, 4 in 100-D; wide
#: device batches are large populations already.
MAX_LEVELS = 4
POOL_ELEMENTS = 2 ** 16
#: Largest pool an explicit ``population_levels`` may ask for (128 MiB in float64).
MAX_POOL_ELEMENTS = 2 ** 24
#: An instance whose purecma gap is below this many generations (a population large
#: against the dimension: the whole-batch instance of a wide device batch, 0.03 at
#: 100-D/4096, 0.05 at 10-D/4096) is factored by Cholesky (see the module notes). Not
#: every instance refactored each generation: with the Cholesky factor for all gaps
#: below one (host batches of 200: populations 20-130 in 10-D and 20-D, gaps 0.13-0.98)
#: BBOB 20-D with default arguments solved 41 of 72 instead of 44 (40 with it for every
#: instance; benchmarks/results/large_budget_throughput.md), and those batches gain
#: nothing measurable from the cheaper factorization.
CHOLESKY_GAP = 0.1


class CMAState(NamedTuple):
    """State of the ``K`` instances (leading axis ``K`` everywhere but the scalars).

    Attributes:
        mean: ``(K, dim)`` means in the unit cube.
        sigma: ``(K,)`` step sizes (unit-cube units).
        C: ``(K, dim, dim)`` covariances, or ``(K, dim)`` diagonals when separable.
        A: ``(K, dim, dim)`` factors of ``C`` at their last factorization (``C = A
            A^T``): ``B D`` from the eigendecomposition, or the lower Cholesky factor
            for the instances whose gap is below :data:`CHOLESKY_GAP` (``(K, 1, 1)``
            placeholder when separable).
        Ainv: ``(K, dim, dim)`` their inverses (placeholder when separable).
        D: ``(K, dim)`` square roots of the eigenvalues of ``C`` (the Cholesky factor's
            diagonal for those instances; ``sqrt(C)`` when separable).
        ps: ``(K, dim)`` conjugate evolution paths (step size).
        pc: ``(K, dim)`` evolution paths (covariance).
        gen: ``(K,)`` int32 generations since the instance's last (re)start.
        best: ``(K,)`` best value seen by the instance since its last (re)start.
        best_gen: ``(K,)`` int32 value of ``gen`` when ``best`` last improved.
        restarts: ``(K,)`` int32 restarts of each instance.
        n_restarts: int32 scalar, total restarts (``restarts.sum()``).
        generation: int32 scalar, number of ``tell`` calls.
        best_y: scalar, best value told to this strategy (``+inf`` before any).
        eig_age: ``(K,)`` int32 generations since ``A``, ``Ainv`` and ``D`` were last
            computed from ``C`` (lazy factorization).
        level: int32 scalar, the largest instance's population level ``l``: its
            generation spans ``2**l`` batches (population ``lambda_{K-1} 2**l``).
        large_level: int32 scalar, the level of its last global restart (IPOP's
            doubling continues from it after a local restart).
        pool_X: ``(R, dim)`` the current generation's rows of the largest instance
            when it spans several batches (``R = lambda_{K-1} 2**L``; 0 rows when
            ``L = 0``).
        pool_y: ``(R,)`` their values (``+inf`` for failed or invalid rows).
        pool_n: int32 scalar, rows of the current generation in the pool.
    """

    mean: jax.Array
    sigma: jax.Array
    C: jax.Array
    A: jax.Array
    Ainv: jax.Array
    D: jax.Array
    ps: jax.Array
    pc: jax.Array
    gen: jax.Array
    best: jax.Array
    best_gen: jax.Array
    restarts: jax.Array
    n_restarts: jax.Array
    generation: jax.Array
    best_y: jax.Array
    eig_age: jax.Array
    level: jax.Array
    large_level: jax.Array
    pool_X: jax.Array
    pool_y: jax.Array
    pool_n: jax.Array


def default_lambda(dim: int) -> int:
    """Hansen's default population size ``4 + floor(3 ln dim)``."""
    return 4 + int(math.floor(3.0 * math.log(max(dim, 1))))


def portfolio_lambdas(dim: int, batch_size: int, n_instances: int | None = None,
                      max_instances: int = MAX_INSTANCES) -> tuple[int, ...]:
    """Splits a batch into population sizes, one per instance (static).

    With ``n_instances=None``: as many instances ``K <= max_instances`` as fit with
    ``lambda_k = lambda_default * 2**k``; the rows left over go to the largest one, so
    the sizes always add up to ``batch_size``. With ``n_instances`` given: the same
    doubling sizes when they fit, else an (almost) even split.

    Returns:
        ``(lambda_0, ..., lambda_{K-1})``, each ``>= 1``, summing to ``batch_size``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    lam0 = default_lambda(dim)
    if n_instances is None:
        k = 1
        while k < max_instances and lam0 * (2 ** (k + 1) - 1) <= batch_size:
            k += 1
        if lam0 > batch_size:
            return (batch_size,)
    else:
        k = int(n_instances)
        if k < 1 or k > batch_size:
            raise ValueError(f"n_instances must be in [1, batch_size], got {n_instances}")
        if lam0 * (2 ** k - 1) > batch_size:
            sizes = [batch_size // k] * k
            for i in range(batch_size - sum(sizes)):
                sizes[k - 1 - i] += 1
            return tuple(sizes)
    sizes = [lam0 * 2 ** i for i in range(k)]
    sizes[-1] += batch_size - sum(sizes)
    return tuple(sizes)


def _params(dim: int, lam: int, separable: bool) -> dict:
    """Hansen's default strategy parameters for one population size (numpy)."""
    n = float(dim)
    mu = max(1, lam // 2)
    w = np.log((lam + 1) / 2.0) - np.log(np.arange(1, mu + 1))
    if lam < 2:
        w = np.ones(1)
    w = np.maximum(w, 1e-12)
    w = w / w.sum()
    mueff = 1.0 / np.sum(w ** 2)
    cc = (4 + mueff / n) / (n + 4 + 2 * mueff / n)
    cs = (mueff + 2) / (n + mueff + 5)
    c1 = 2 / ((n + 1.3) ** 2 + mueff)
    cmu = min(1 - c1, 2 * (mueff - 2 + 1 / mueff) / ((n + 2) ** 2 + mueff))
    if separable:
        c1 = min(1.0, c1 * (n + 2) / 3)
        cmu = min(1 - c1, cmu * (n + 2) / 3)
    damps = 1 + 2 * max(0.0, math.sqrt((mueff - 1) / (n + 1)) - 1) + cs
    # Lazy factorization: factor C once more than 0.5 / (n (c1 + cmu))
    # generations have passed since the last one, the gap of Hansen's reference
    # implementation purecma (``lazy_gap_evals = 0.5 n lambda / ((c1 + cmu) n^2)``
    # evaluations, "chosen such that eig takes 2 times the time of tell in >= 20-D").
    # pycma's full implementation and the tutorial (B.2) use a 5x shorter gap,
    # 1 / (10 n (c1 + cmu)): measured with it, the 100-D portfolio at batch 4096
    # decomposed 3.5 covariances per generation, 2 with this one
    # (benchmarks/results/large_budget_throughput.md).
    lazy_gap = 0.5 / (n * (c1 + max(cmu, 0.0)))
    eig_gap = int(math.floor(lazy_gap)) + 1
    return dict(mu=mu, w=w, mueff=mueff, cc=cc, cs=cs, c1=c1, cmu=max(cmu, 0.0), damps=damps, eig_gap=eig_gap,
                lazy_gap=lazy_gap,
                flat_gens=10 + int(math.ceil(30 * n / lam)),
                flat=min(lam - 1, int(math.ceil(0.1 + lam / 4.0))))  # 0-based; 0: off


def make_cmaes(
    geometry: Geometry,
    batch_size: int,
    *,
    n_instances: int | None = None,
    separable: bool | None = None,
    sigma0: float = 0.3,
    max_instances: int = MAX_INSTANCES,
    stagnation_gens: int | None = None,
    tol_x: float | None = None,
    max_condition: float = 1e14,
    tol_fun: float = 1e-12,
    local_restart_prob: float = 0.5,
    restart_top: int = RESTART_TOP,
    population_levels: int | None = None,
) -> Strategy:
    """A portfolio of ``K`` CMA-ES instances sharing one batch.

    Args:
        geometry: The unit cube's static facts.
        batch_size: Rows per ``ask``.
        n_instances: Number of instances ``K`` (default: as many doubling populations
            as fit, at most ``max_instances``; see :func:`portfolio_lambdas`).
        separable: Diagonal covariance (sep-CMA-ES); ``None`` picks it when
            ``dim > 100``.
        sigma0: Initial (and global-restart) step size in unit-cube units.
        max_instances: Cap on ``K`` when ``n_instances`` is ``None``.
        stagnation_gens: Generations without a new best before a restart (default
            ``3 (10 + ceil(30 dim / lambda_k))`` per instance).
        tol_fun: Restart after ``10 + ceil(30 dim / lambda_k)`` generations without a
            new best if the ``mu`` best values of the last generation lie within
            ``tol_fun (1 + |best|)`` (Hansen's TolFun).
        tol_x: Restart when ``sigma * sqrt(max eig C)`` falls below it (default
            ``max(1e-12, 10 eps)`` of the state's dtype); ``sigma * sqrt(max diag C)``
            for an instance with a Cholesky factor (see the module notes).
        max_condition: Restart when the condition number of ``C`` exceeds it (for a
            Cholesky factor ``A``, its lower bound ``(max a_ii / min a_ii)^2``).
        local_restart_prob: Probability that a restart starts at one of the
            ``restart_top`` best stored points with step ``sigma0 * 10**(-2u)``
            (BIPOP's local regime) instead of a uniform point with ``sigma0``.
        restart_top: Number of best stored points a local restart picks from.
        population_levels: How often the largest instance may double its population
            (IPOP, Auger and Hansen 2005): ``L``, so that its population ranges over
            ``lambda_{K-1} 2**l`` for ``l = 0 .. L``. A population of ``2**l``
            slices is gathered over ``2**l`` batches, all sampled from the same
            distribution, before one update: a larger population costs generations,
            not a larger batch, so nothing recompiles and no row is wasted. Each
            global restart of that instance doubles it (up to ``2**L``); a local
            restart (BIPOP's small regime, Hansen 2009) starts it again from one
            slice, and the next global restart continues the doubling. Default:
            the largest ``L <= MAX_LEVELS`` whose pool holds at most
            ``POOL_ELEMENTS`` numbers (``L = 4`` for the host path's default batches
            in 10-D and 20-D, 0 at batch 4096); 0 turns growth off.

    Returns:
        A :class:`Strategy` named ``"cmaes"``; its state is a :class:`CMAState`.

    Memory: ``K`` instances (at most ``max_instances``) of ``dim x dim`` covariance,
    factor, its inverse and paths, ``O(K dim^2)`` (``O(K dim)`` separable), and the pool of
    ``lambda_{K-1} 2**L`` rows; an ``ask`` adds the ``(batch, dim)`` samples. Time per
    batch: ``O(batch dim^2)`` for sampling and the rank-mu update (``O(batch dim)``
    separable), plus ``O(dim^3)`` for each instance whose lazy factorization is
    due; a pooled generation's update reads ``O(lambda_{K-1} 2**l dim^2)`` once per
    ``2**l`` batches.
    """
    n = geometry.dim
    if separable is None:
        separable = n > SEPARABLE_ABOVE
    separable = bool(separable)
    lams = portfolio_lambdas(n, batch_size, n_instances, max_instances)
    K = len(lams)
    ps_ = [_params(n, lam, separable) for lam in lams]

    # Instance k owns the rows starts[k] : starts[k] + lams[k] of every batch. Its tell
    # reads only its m_k best rows: the mu_k that carry weights and the flat-fitness one.
    starts = np.concatenate([[0], np.cumsum(lams)[:-1]]).astype(int)
    top_m = [min(lam, max(p["mu"], p["flat"] + 1)) for lam, p in zip(lams, ps_)]
    cols = {name: np.array([p[name] for p in ps_], np.float64)
            for name in ("mueff", "cc", "cs", "c1", "cmu", "damps")}
    flat_gens = np.array([p["flat_gens"] for p in ps_], np.int32)
    stag = np.array([stagnation_gens if stagnation_gens is not None else 3 * p["flat_gens"]
                     for p in ps_], np.int32)
    eig_gap = np.array([p["eig_gap"] for p in ps_], np.int32)
    chol = np.array([not separable and p["lazy_gap"] < CHOLESKY_GAP for p in ps_])

    # The largest instance's population levels (IPOP): parameters per level, indexed
    # by the traced level, so that growing the population recompiles nothing.
    big, lam_b = K - 1, lams[-1]
    if population_levels is None:
        L = 0
        while L < MAX_LEVELS and lam_b * 2 ** (L + 1) * n <= POOL_ELEMENTS:
            L += 1
    else:
        if isinstance(population_levels, bool) or not isinstance(population_levels, (int, np.integer)):
            raise TypeError(f"population_levels: expected an int, got {type(population_levels).__name__}")
        L = int(population_levels)
        if not 0 <= L <= 16:
            raise ValueError(f"population_levels: expected 0 <= population_levels <= 16, got {L}")
        if L and lam_b * 2 ** L * n > MAX_POOL_ELEMENTS:
            raise ValueError(
                f"population_levels: {L} needs a pool of {lam_b * 2 ** L} rows x {n} dimensions "
                f"(more than {MAX_POOL_ELEMENTS} numbers); the largest that fits is "
                f"{max(0, int(math.floor(math.log2(MAX_POOL_ELEMENTS / (lam_b * n)))))}")
    lev = [_params(n, lam_b * 2 ** l, separable) for l in range(L + 1)]
    pool_rows = lam_b * 2 ** L if L else 0
    pool_top = min(pool_rows, max(lev[-1]["mu"], lev[-1]["flat"] + 1)) if L else 0
    level_w = np.zeros((L + 1, pool_top))
    for l, p in enumerate(lev if L else ()):
        level_w[l, : p["mu"]] = p["w"]
    level_cols = {name: np.array([p[name] for p in lev], np.float64)
                  for name in ("mueff", "cc", "cs", "c1", "cmu", "damps")}
    level_ints = {"mu": np.array([p["mu"] for p in lev], np.int32),
                  "flat": np.array([p["flat"] for p in lev], np.int32),
                  "eig_gap": np.array([p["eig_gap"] for p in lev], np.int32),
                  "flat_gens": np.array([p["flat_gens"] for p in lev], np.int32),
                  "stag": np.array([stagnation_gens if stagnation_gens is not None else 3 * p["flat_gens"]
                                    for p in lev], np.int32)}
    chi_n = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n))
    clip_len = math.sqrt(n) + 2 * n / (n + 2)
    periodic = np.asarray(geometry.periodic, bool)

    def consts(dtype, level):
        """Per-instance constants, the largest instance's at its population ``level``."""
        c = {name: jnp.asarray(v, dtype) for name, v in cols.items()}
        c["stag"] = jnp.asarray(stag)
        c["flat_gens"] = jnp.asarray(flat_gens)
        c["eig_gap"] = jnp.asarray(eig_gap)
        if L:
            for name, v in level_cols.items():
                c[name] = c[name].at[big].set(jnp.asarray(v, dtype)[level])
            for name in ("stag", "flat_gens", "eig_gap"):
                c[name] = c[name].at[big].set(jnp.asarray(level_ints[name])[level])
        return c

    def _tol_x(dtype):
        if tol_x is not None:
            return tol_x
        return max(1e-12, 10 * float(jnp.finfo(dtype).eps))

    def _fresh_cov(dtype):
        if separable:
            C = jnp.ones((K, n), dtype)
            A = jnp.ones((K, 1, 1), dtype)
        else:
            C = jnp.broadcast_to(jnp.eye(n, dtype=dtype), (K, n, n))
            A = C
        return C, A, A, jnp.ones((K, n), dtype)

    def _pick_points(key, history: History, count: int, top: int):
        """``count`` points: rows of the ``top`` best stored ones, or uniform if none."""
        dtype = history.X.dtype
        size = jnp.sum(history.status == OK)
        ku, ki = jax.random.split(key)
        uni = jax.random.uniform(ku, (count, n), dtype)
        j = jax.random.randint(ki, (count,), 0, jnp.maximum(jnp.minimum(size, top), 1))
        return jnp.where((size > 0), history.X[j], uni), size > 0

    def init(key, history: History) -> CMAState:
        dtype = history.X.dtype
        size = jnp.sum(history.status == OK)
        # Instance k starts at the k-th best stored point (the best if fewer).
        j = jnp.clip(jnp.minimum(jnp.arange(K), size - 1), 0, history.X.shape[0] - 1)
        uni = jax.random.uniform(key, (K, n), dtype)
        mean = jnp.where(size > 0, history.X[j], uni)
        C, A, Ainv, D = _fresh_cov(dtype)
        zk = jnp.zeros((K,), jnp.int32)
        return CMAState(
            mean=mean,
            sigma=jnp.full((K,), sigma0, dtype),
            C=C, A=A, Ainv=Ainv, D=D,
            ps=jnp.zeros((K, n), dtype),
            pc=jnp.zeros((K, n), dtype),
            gen=zk,
            best=jnp.full((K,), jnp.inf, dtype),
            best_gen=zk,
            restarts=zk,
            n_restarts=jnp.zeros((), jnp.int32),
            generation=jnp.zeros((), jnp.int32),
            best_y=jnp.asarray(jnp.inf, dtype),
            eig_age=zk,
            level=jnp.zeros((), jnp.int32),
            large_level=jnp.zeros((), jnp.int32),
            pool_X=jnp.zeros((pool_rows, n), dtype),
            pool_y=jnp.full((pool_rows,), jnp.inf, dtype),
            pool_n=jnp.zeros((), jnp.int32),
        )

    def ask(state: CMAState, key, history: History):
        del history
        dtype = state.mean.dtype
        # One draw for the whole batch; each instance transforms its own rows.
        z = jax.random.normal(key, (batch_size, n), dtype)
        parts = []
        for k, (s0, lam) in enumerate(zip(starts, lams)):
            zk = z[s0:s0 + lam]
            yk = zk * state.D[k] if separable else zk @ state.A[k].T
            parts.append(state.mean[k] + state.sigma[k] * yk)
        X = parts[0] if K == 1 else jnp.concatenate(parts)
        return reflect(geometry, X), state

    def _sums(rows, key_, m, w, mu, flat, mueff0, mean, sigma, Ainv, D):
        """Weighted sums over the ``m`` best of ``rows`` by ``key_`` (``+inf``: left out).

        ``w`` holds the ``m`` rank weights (zero beyond ``mu``); ``mu``, ``flat`` and
        ``mueff0`` may be traced (the pooled population's level picks them).
        """
        dtype = mean.dtype
        neg, idx = jax.lax.top_k(-key_, m)  # ascending values, ties by row (stable)
        ys = -neg
        ok = jnp.isfinite(ys)
        # Steps of the repaired points, shortened to a typical Mahalanobis length.
        Y = wrap_diff(geometry, rows[idx], mean[None, :]) / sigma
        Y = jnp.where(ok[:, None], Y, 0.0)
        Z = Y / D if separable else Y @ Ainv.T  # A^{-1} y
        zn = jnp.sqrt(jnp.sum(Z * Z, axis=1))
        scale = jnp.minimum(1.0, clip_len / jnp.maximum(zn, 1e-30))
        Y = Y * scale[:, None]
        Z = Z * scale[:, None]
        # Rank weights, zero for failed/invalid rows, renormalized.
        ws = jnp.where(ok, jnp.asarray(w, dtype), 0.0)
        wsum = jnp.sum(ws)
        any_ok = wsum > 0
        ws = ws / jnp.where(any_ok, wsum, 1.0)
        mueff = jnp.where(any_ok, 1.0 / jnp.maximum(jnp.sum(ws * ws), 1e-30), mueff0).astype(dtype)
        rank_mu = ws @ (Y * Y) if separable else (Y.T * ws) @ Y
        flat_f = jnp.asarray(flat > 0) & jnp.isfinite(ys[flat]) & (ys[0] == ys[flat])
        return ws @ Y, ws @ Z, rank_mu, mueff, any_ok, flat_f, ys[0], ys[mu - 1] - ys[0]

    def _select(X, y, valid, mean, sigma, Ainv, D, k):
        """Instance ``k``'s weighted sums over its ``m_k`` best rows of the batch (static slice)."""
        s0, lam, m, p = starts[k], lams[k], top_m[k], ps_[k]
        yk = y[s0:s0 + lam]
        key_ = jnp.where(valid[s0:s0 + lam] & jnp.isfinite(yk), yk, jnp.inf)
        w = np.zeros(m)
        w[: p["mu"]] = p["w"]
        return _sums(X[s0:s0 + lam], key_, m, w, p["mu"], p["flat"], p["mueff"], mean, sigma, Ainv, D)

    def _select_pool(pool_X, pool_y, pool_n, level, mean, sigma, Ainv, D):
        """The largest instance's sums over its pooled generation (``level > 0``)."""
        key_ = jnp.where(jnp.arange(pool_rows) < pool_n, pool_y, jnp.inf)
        mu, flat = (jnp.asarray(level_ints[name])[level] for name in ("mu", "flat"))
        return _sums(pool_X, key_, pool_top, jnp.asarray(level_w, mean.dtype)[level], mu, flat,
                     jnp.asarray(level_cols["mueff"], mean.dtype)[level], mean, sigma, Ainv, D)

    def _update_one(mean, sigma, C, ps, pc, gen, A, D, chol_k, yw, zw, rank_mu, mueff, any_ok, flat_f,
                    cc, cs, c1, cmu, damps):
        """One instance's path, covariance and step-size update from its weighted sums."""
        dtype = mean.dtype
        new_mean = mean + sigma * yw
        per = jnp.asarray(periodic)
        new_mean = jnp.where(per, new_mean - jnp.floor(new_mean), jnp.clip(new_mean, 0.0, 1.0))
        csw = jnp.sqrt(cs * (2 - cs) * mueff)
        # C^{-1/2} y_w = B z_w for an eigendecomposition (A = B D); A^{-1} y_w = z_w for a
        # Cholesky factor (Krause et al. 2016).
        invsqrt_yw = zw if separable else jnp.where(chol_k, zw, A @ (zw / D))
        new_ps = (1 - cs) * ps + csw * invsqrt_yw
        ps_norm = jnp.sqrt(jnp.sum(new_ps * new_ps))
        g1 = (gen + 1).astype(dtype)
        hsig = (ps_norm / jnp.sqrt(1 - (1 - cs) ** (2 * g1)) / chi_n) < (1.4 + 2 / (n + 1))
        hsig = hsig.astype(dtype)
        new_pc = (1 - cc) * pc + hsig * jnp.sqrt(cc * (2 - cc) * mueff) * yw
        decay = 1 - c1 - cmu + (1 - hsig) * c1 * cc * (2 - cc)
        if separable:
            new_C = jnp.maximum(decay * C + c1 * new_pc ** 2 + cmu * rank_mu, jnp.finfo(dtype).tiny)
        else:
            new_C = decay * C + c1 * jnp.outer(new_pc, new_pc) + cmu * rank_mu
            new_C = 0.5 * (new_C + new_C.T)
        log_step = (cs / damps) * (ps_norm / chi_n - 1)
        # Flat fitness: the best and the ~lambda/4-th values are equal -> widen.
        log_step = jnp.minimum(log_step, 1.0) + jnp.where(flat_f, 0.2 + cs / damps, 0.0)
        new_sigma = jnp.minimum(sigma * jnp.exp(log_step), 10.0)

        def keep(a, b):
            return jnp.where(any_ok, a, b)

        return keep(new_mean, mean), keep(new_sigma, sigma), keep(new_C, C), keep(new_ps, ps), keep(new_pc, pc)

    def _eigen(C):
        ev, B = jnp.linalg.eigh(C)
        D = jnp.sqrt(jnp.maximum(ev, jnp.finfo(C.dtype).tiny))
        return B * D[None, :], (B / D[None, :]).T, D  # A = B D, A^{-1} = D^{-1} B^T

    def _cholesky(C):
        eye = jnp.eye(n, dtype=C.dtype)
        A = jnp.linalg.cholesky(C)
        # Rounding can leave a C whose condition nears 1/eps indefinite (_eigen clips
        # such eigenvalues): factor it again with a ridge of n eps max(diag C) then; a
        # factor that still is not finite restarts the instance.
        ridge = n * jnp.finfo(C.dtype).eps * jnp.max(jnp.diagonal(C))
        A = jax.lax.cond(jnp.all(jnp.isfinite(A)), lambda: A, lambda: jnp.linalg.cholesky(C + ridge * eye))
        Ainv = jax.scipy.linalg.solve_triangular(A, eye, lower=True)
        return A, Ainv, jnp.diagonal(A)

    def tell(state: CMAState, key, X, y, valid, history: History) -> CMAState:
        dtype = state.mean.dtype
        c = consts(dtype, state.level)
        X = X.astype(dtype)
        y = jnp.where(jnp.isfinite(y), jnp.asarray(y, dtype), jnp.inf)
        valid = jnp.asarray(valid, bool)
        sums = [_select(X, y, valid, state.mean[k], state.sigma[k], state.Ainv[k], state.D[k], k) for k in range(K)]
        pool_X, pool_y, pool_n = state.pool_X, state.pool_y, state.pool_n
        complete = jnp.ones((K,), bool)
        if L:
            # The largest instance's rows join its pooled generation; at level 0 the
            # pool holds one slice and its update is the plain one above.
            s0 = starts[big]
            yb = jnp.where(valid[s0:] & jnp.isfinite(y[s0:]), y[s0:], jnp.inf)
            pool_X = jax.lax.dynamic_update_slice(pool_X, X[s0:], (pool_n, jnp.zeros((), pool_n.dtype)))
            pool_y = jax.lax.dynamic_update_slice(pool_y, yb, (pool_n,))
            pool_n = pool_n + lam_b
            done = pool_n >= lam_b * 2 ** state.level
            m_b, s_b, Ai_b, D_b = state.mean[big], state.sigma[big], state.Ainv[big], state.D[big]
            sums[big] = jax.lax.cond(
                done & (state.level > 0),
                lambda: _select_pool(pool_X, pool_y, pool_n, state.level, m_b, s_b, Ai_b, D_b),
                lambda: sums[big])
            complete = complete.at[big].set(done)
            pool_n = jnp.where(done, 0, pool_n)
        yw, zw, rank_mu, mueff, any_ok, flat_f, gen_best, gen_range = (jnp.stack(v) for v in zip(*sums))
        best_y = jnp.minimum(state.best_y, jnp.min(gen_best))
        # An instance whose generation is not complete keeps its state.
        any_ok = any_ok & complete
        gen_best = jnp.where(complete, gen_best, jnp.inf)
        mean, sigma, C, ps, pc = jax.vmap(_update_one)(
            state.mean, state.sigma, state.C, state.ps, state.pc, state.gen, state.A, state.D, jnp.asarray(chol),
            yw, zw, rank_mu, mueff, any_ok, flat_f, c["cc"], c["cs"], c["c1"], c["cmu"], c["damps"])
        # Lazy factorization: instance k factors its updated C only when due.
        eig_age = state.eig_age + any_ok.astype(jnp.int32)
        due = any_ok & (eig_age >= c["eig_gap"])
        if separable:  # the "decomposition" is a square root: never stale
            A, Ainv, D = state.A, state.Ainv, jnp.sqrt(C)
            due = jnp.ones((K,), bool)
        else:
            factors = [jax.lax.cond(due[k], _cholesky if chol[k] else _eigen,
                                    lambda _, k=k: (state.A[k], state.Ainv[k], state.D[k]), C[k]) for k in range(K)]
            A, Ainv, D = (jnp.stack(v) for v in zip(*factors))
        eig_age = jnp.where(due, 0, eig_age)
        gen = state.gen + complete.astype(jnp.int32)
        thresh = jnp.where(jnp.isfinite(state.best),
                           state.best - 1e-12 * jnp.abs(state.best), jnp.inf)
        improved = gen_best < thresh
        best = jnp.minimum(state.best, gen_best)
        best_gen = jnp.where(improved, gen, state.best_gen)

        # Restart tests on the last factorization's D, as the sampling; a Cholesky factor's
        # spread on the diagonal of C (pycma's TolX), its condition a lower bound.
        spread = sigma * jnp.max(D, axis=1)
        if chol.any():
            spread = jnp.where(chol, sigma * jnp.sqrt(jnp.max(jnp.diagonal(C, axis1=1, axis2=2), axis=1)), spread)
        cond = (jnp.max(D, axis=1) / jnp.min(D, axis=1)) ** 2
        finite = (jnp.isfinite(sigma) & jnp.all(jnp.isfinite(mean), axis=1)
                  & jnp.all(jnp.isfinite(D), axis=1) & jnp.all(jnp.isfinite(C.reshape(K, -1)), axis=1))
        idle = gen - best_gen
        # TolFun: no new best and a flat population; or no new best for much longer.
        flat = (idle > c["flat_gens"]) & (gen_range <= tol_fun * (1 + jnp.abs(best)))
        stagnant = flat | (idle > c["stag"])
        restart = complete & (stagnant | (spread < _tol_x(dtype)) | (cond > max_condition) | ~finite)

        k_pick, k_loc, k_u, k_s = jax.random.split(key, 4)
        points, have = _pick_points(k_pick, history, K, restart_top)
        uni = jax.random.uniform(k_u, (K, n), dtype)
        local = have & (jax.random.uniform(k_loc, (K,)) < local_restart_prob)
        u = jax.random.uniform(k_s, (K,), dtype)
        r_mean = jnp.where(local[:, None], points, uni)
        r_sigma = jnp.where(local, sigma0 * 10.0 ** (-2.0 * u), sigma0).astype(dtype)
        C0, A0, Ai0, D0 = _fresh_cov(dtype)
        rs = restart
        rv = rs[:, None]
        rm = rs[:, None, None] if not separable else rv
        restarts = state.restarts + rs.astype(jnp.int32)
        # IPOP / BIPOP: a global restart of the largest instance doubles its population
        # (from the last global restart's), a local one starts it again from one slice.
        glob = rs[big] & ~local[big]
        large_level = jnp.where(glob, jnp.minimum(state.large_level + 1, L), state.large_level)
        level = jnp.where(rs[big], jnp.where(local[big], 0, large_level), state.level)
        return CMAState(
            mean=jnp.where(rv, r_mean, mean),
            sigma=jnp.where(rs, r_sigma, sigma),
            C=jnp.where(rm, C0, C),
            A=jnp.where(rs[:, None, None], A0, A),
            Ainv=jnp.where(rs[:, None, None], Ai0, Ainv),
            D=jnp.where(rv, D0, D),
            ps=jnp.where(rv, 0.0, ps),
            pc=jnp.where(rv, 0.0, pc),
            gen=jnp.where(rs, 0, gen),
            best=jnp.where(rs, jnp.inf, best),
            best_gen=jnp.where(rs, 0, best_gen),
            restarts=restarts,
            n_restarts=jnp.sum(restarts).astype(jnp.int32),
            generation=state.generation + 1,
            best_y=best_y,
            eig_age=jnp.where(rs, 0, eig_age),
            level=level.astype(jnp.int32),
            large_level=large_level.astype(jnp.int32),
            pool_X=pool_X,
            pool_y=pool_y,
            pool_n=pool_n,
        )

    return Strategy("cmaes", init, ask, tell, whole_batch=True)
