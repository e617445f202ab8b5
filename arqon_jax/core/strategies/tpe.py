"""Vectorized TPE (tree-structured Parzen estimator), independent or multivariate.

Each ``ask`` splits the history (sorted best first) into a good set (the best
``gamma`` share, at most ``max_good`` points) and a bad set, fits a Parzen mixture to
each (Gaussian kernels with Optuna's multivariate bandwidth plus a uniform prior component), samples
``n_candidates`` points from the good density on the device, scores them all by
``log l(x) - log g(x)`` and returns the best ``batch_size`` under a diversity rule:
after a pick, candidates within one good-set bandwidth of it are pushed down, so a
batch is not ``batch_size`` copies of one point. Candidates equal to stored points
(discrete spaces) are pushed down too, so evaluated points are not proposed again;
in a finite space (every dimension discrete; repeats are then checked against the whole
history) uniform candidates are kept in reserve (4 per point, at least ``n_candidates``,
at most 8192), below every new candidate of the good density, so the points not yet
evaluated are found when the good density's neighbourhood is used up.

Geometry: periodic dimensions use wrapped distances and wrap samples; integer
dimensions snap samples to bin centres and keep bandwidths at least half a bin wide;
categorical dimensions use a keep-or-resample kernel instead of a Gaussian.

Local model: a share of the proposals (6 of a batch of 10) come from a quadratic
least-squares model around the best point (:mod:`.quadratic`), which TPE's densities
cannot take: 3 are steps towards the model's minimum, which reach the bottom of a
smooth valley in a few steps, and 3 are samples of the trust region that the model
ranks lowest, which also give the next fit points near the best one. Both stay within
a trust region around the best point that grows after a batch whose model rows found
a new best and shrinks after one whose did not (TuRBO's rule), so where the model
misleads, its rows turn into a local search around the best point.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..history import EMPTY, OK, History
from .base import Geometry, Strategy, by_rows, finite_reserve, reflect, repeats, snap, spread_picks, wrap_diff
from .quadratic import QuadState, make_quadratic_rows

__all__ = ["make_tpe"]

_COLUMN_BLOCK = 128  # stored points per block of the bad set's density


class TPEState(NamedTuple):
    """TPE keeps no model between steps: everything is refit from the history.

    Attributes:
        steps: int32 scalar, ``ask`` calls so far.
        quad: The quadratic step's trust region.
    """

    steps: jax.Array
    quad: QuadState


def make_tpe(
    geometry: Geometry,
    batch_size: int,
    capacity: int,
    *,
    gamma: float = 0.15,
    max_good: int = 25,
    max_bad: int = 1024,
    n_candidates: int | None = None,
    categorical_resample: float = 0.25,
    bandwidth: float | None = None,
    multivariate: bool = False,
    quadratic: float = 0.3,
    screened: float = 0.3,
    fit_width: float = 2.0,
) -> Strategy:
    """Builds a vectorized TPE.

    Args:
        geometry: The unit cube's static facts.
        batch_size: Rows per ``ask``.
        capacity: The history capacity (rows).
        gamma: Share of the history in the good set.
        max_good: Largest good set.
        max_bad: Largest bad set (the points just below the good ones).
        n_candidates: Candidates scored per ``ask``; defaults to
            ``max(256, 8 * batch_size)``, capped at 8192.
        categorical_resample: Probability that a categorical kernel draws a fresh
            category instead of keeping the centre's.
        bandwidth: Kernel width for one point, in unit-cube units; it narrows as
            ``n^(-1/(dim+4))`` (multivariate) or ``n^(-1/5)`` (independent) with the
            number of points ``n`` in a set. Defaults: 0.2 multivariate (Optuna's
            rule), 0.1 independent (measured best of 0.1, 0.15, 0.25 and Optuna's
            neighbour-gap widths, which lost by 10-45%).
        multivariate: One joint density over all dimensions (True) or one density per
            dimension, summed in the score (False, Optuna's default). Independent
            densities won on the shifted benchmark functions and in Tune searches
            (``benchmarks/results/tpe_variants.md``).
        quadratic: Share of the proposals taken from the local quadratic model's
            step (:mod:`.quadratic`, :func:`~.quadratic.schedule`) instead of TPE's
            last picks: 3 of a batch of 10, two within the step's trust region and
            one free; 0 turns it off. Measured on BBOB with default arguments,
            instances 1-5 (``benchmarks/results/bbob_small.md``): mean rank among
            NGOpt, Optuna TPE, ArqonHPO and random 1.90 (5-D, budget 100) and 1.83
            (10-D, budget 200); 2.06 and 2.06 with the step but without its trust
            region, 2.52 and 2.44 without the step. On instances 1-10 among NGOpt,
            Optuna TPE and random (``bbob_small_10inst.md``) 1.88 and 1.75, NGOpt
            1.83 and 1.58.
        screened: Share of the proposals that are model-screened samples of the
            quadratic step's trust region (``make_quadratic_rows``' ``screened``: 3 of
            a batch of 10, taken from TPE's last picks before the step rows; only
            where every batch takes step rows). 0 turns them off.
        fit_width: The quadratic fit weighs a point at distance ``d`` from the best
            one by ``exp(-d^2 / (2 (fit_width r)^2))`` (at least ``1e-3``), ``r`` the
            trust radius, so the model is local where the trust region is small
            (:func:`~.quadratic.make_quadratic_step`); 0 weighs all alike. Measured
            together with ``screened`` on BBOB, default arguments, mean rank of the
            median f - f* among NGOpt, Optuna TPE and random (their runs in
            ``bbob_small_10inst.json`` and ``bbob_small_peers_inst11_20.json``), 5-D
            at budget 100 / 10-D at budget 200: instances 1-10, neither 1.88 / 1.75,
            ``screened=0.3`` alone 1.83 / -, with ``fit_width`` 1, 2, 4: 1.79 / 1.79,
            1.79 / 1.62, 1.79 / -; ``screened=0.4``, ``fit_width=2``: 1.79 / 1.96.
            Instances 11-20 (not used to choose): neither 1.92 / 1.92, the defaults
            1.62 / 1.71 (NGOpt 2.21 / 1.67); table in ``bbob_small_10inst.md``.

    Returns:
        A :class:`Strategy`.

    Memory: the state is one counter. An ``ask`` holds the candidates, ``O(m dim)``
    with ``m = n_candidates``, and scores them against a window of
    ``w = min(capacity, max_good + max_bad)`` stored points in blocks of at most
    ``2**24`` elements (64 MiB in float32): ``O(m dim + min(m w dim, 2**24))``,
    whatever the dimension. Time per ``ask``: ``O(m (max_good + n) dim + batch m dim)``,
    ``n`` the stored points in the window rounded up to a block of 128: the good set
    reads its ``max_good`` rows, the bad set only the blocks that hold points.
    """
    dim = geometry.dim
    window = int(min(capacity, max_good + max_bad))
    n_good_max = int(min(capacity, max_good))
    m = int(n_candidates or min(8192, max(256, 8 * batch_size)))
    m = max(m, 2 * batch_size)
    levels = np.asarray(geometry.levels, np.float64)
    is_cat = np.asarray(geometry.categorical)
    is_disc = levels > 0
    finite = bool(is_disc.all())  # every dimension integer or categorical
    reserve = finite_reserve(geometry, at_least=m)
    min_bw = np.where(is_disc, 0.5 / np.maximum(levels, 1), 1e-4)
    plain = multivariate and not (any(geometry.periodic) or is_cat.any())
    bw_scale = bandwidth if bandwidth is not None else (0.2 if multivariate else 0.1)
    k_cat = np.maximum(levels, 1)
    quadratic_rows = make_quadratic_rows(geometry, capacity, batch_size, quadratic, screened=screened,
                                         fit_width=fit_width)
    block = int(min(window, _COLUMN_BLOCK))
    n_blocks = -(-window // block)

    def init(key, history):
        del key
        return TPEState(jnp.zeros((), jnp.int32), quadratic_rows.init(history.y.dtype))

    def _bandwidth(mask, dtype):
        """Kernel width per dimension, ``(dim,)``.

        A fixed magnitude that narrows slowly with the number of points (Optuna's
        multivariate rule, ``0.2 n^(-1/(d+4))``), never below half a bin for discrete
        dimensions. A data-driven width (Scott on the good set) collapsed onto the
        best point within a few batches and lost to random search on a 5-D sphere.
        """
        cnt = jnp.maximum(jnp.sum(mask), 1).astype(jnp.float32)
        bw = bw_scale * cnt ** (-1.0 / ((dim if multivariate else 1) + 4))
        return jnp.maximum(jnp.full((dim,), bw), jnp.asarray(min_bw)).astype(dtype)

    def _log_kernels(x, centres, bw):
        """Log kernel values ``(m, w)`` of every candidate under every centre."""
        if plain:
            # Squared distances as a matmul: no (m, w, dim) intermediate, which is what
            # made an ask cost milliseconds on the CPU.
            xs, cs = x / bw, centres / bw
            d2 = jnp.sum(xs**2, -1)[:, None] - 2.0 * xs @ cs.T + jnp.sum(cs**2, -1)[None, :]
            return -0.5 * jnp.maximum(d2, 0.0) - jnp.sum(jnp.log(bw)) - 0.5 * dim * math.log(2 * math.pi)
        diff = wrap_diff(geometry, x[:, None, :], centres[None, :, :])  # (m, w, dim)
        gauss = -0.5 * (diff / bw) ** 2 - jnp.log(bw) - 0.5 * math.log(2 * math.pi)
        if not is_cat.any():  # the categorical kernel would be computed and discarded
            return jnp.sum(gauss, -1) if multivariate else gauss
        same = jnp.abs(diff) < 0.5 / jnp.asarray(k_cat, x.dtype)
        eps = categorical_resample
        cat = jnp.where(same, jnp.log(1.0 - eps + eps / k_cat), jnp.log(eps / k_cat)).astype(x.dtype)
        per_dim = jnp.where(jnp.asarray(is_cat), cat, gauss)
        return jnp.sum(per_dim, -1) if multivariate else per_dim  # (m, w) or (m, w, dim)

    def _masked_logsumexp(x, centres, mask, bw, n_used):
        """``logsumexp`` over the masked centres of the log kernels at ``x``.

        With ``n_used`` (the stored rows, which come first), only the blocks of
        ``block`` centres that hold stored rows are read, with a running maximum
        (the streaming log-sum-exp of Milakov and Gimelshein 2018): a history buffer
        of 512 rows holding 100 points costs one block, not four.
        """
        expand = (1, -1) + (1,) * (not multivariate)
        if n_used is None:
            logk = jnp.where(mask.reshape(expand), _log_kernels(x, centres, bw), -jnp.inf)
            return jax.nn.logsumexp(logk, axis=1)
        pad = n_blocks * block - centres.shape[0]
        cp = jnp.concatenate([centres, jnp.zeros((pad, dim), centres.dtype)]) if pad else centres
        mp = jnp.concatenate([mask, jnp.zeros((pad,), bool)]) if pad else mask

        def body(i, carry):
            top, acc = carry
            c = jax.lax.dynamic_slice_in_dim(cp, i * block, block)
            mk = jax.lax.dynamic_slice_in_dim(mp, i * block, block)
            logk = jnp.where(mk.reshape(expand), _log_kernels(x, c, bw), -jnp.inf)
            new_top = jnp.maximum(top, jnp.max(logk, axis=1))
            ref = jnp.where(jnp.isfinite(new_top), new_top, 0.0)
            acc = acc * jnp.exp(top - ref) + jnp.sum(jnp.exp(logk - jnp.expand_dims(ref, 1)), axis=1)
            return new_top, acc

        shape = (x.shape[0],) if multivariate else (x.shape[0], dim)
        init = (jnp.full(shape, -jnp.inf, x.dtype), jnp.zeros(shape, x.dtype))
        top, acc = jax.lax.fori_loop(0, (n_used + block - 1) // block, body, init)
        return jnp.where(acc > 0, jnp.log(jnp.where(acc > 0, acc, 1.0)) + jnp.where(jnp.isfinite(top), top, 0.0),
                         -jnp.inf)

    def _log_mix(x, centres, mask, bw, n_used=None):
        """Log density of the masked Parzen mixture plus a uniform prior at ``x`` ``(m, dim)``.

        Independent mode mixes each dimension on its own and sums the log densities.
        """
        n = jnp.sum(mask)
        log_prior_w = -jnp.log(n + 1.0)
        mix = _masked_logsumexp(x, centres, mask, bw, n_used) + log_prior_w  # each kernel weight 1/(n+1)
        dens = jnp.logaddexp(mix, log_prior_w)  # the prior's density is 1 on the cube
        return dens if multivariate else jnp.sum(dens, -1)

    def ask(state, key, history: History):
        Xw = history.X[:window]
        st = history.status[:window]
        n_ok = jnp.sum(history.status == OK)
        idx = jnp.arange(window)
        n_good = jnp.clip(jnp.ceil(gamma * n_ok).astype(jnp.int32), 1, n_good_max)
        good = (idx < n_good) & (st == OK)
        bad = (idx >= n_good) & (st != EMPTY)
        bw_g = _bandwidth(good, Xw.dtype)
        bw_b = _bandwidth(bad, Xw.dtype)

        k_comp, k_noise, k_resample, k_uniform = jax.random.split(key, 4)
        n_good_eff = jnp.sum(good)
        # One component per candidate (multivariate) or per candidate and dimension;
        # component n_good_eff is the uniform prior.
        if multivariate:
            comp = jnp.broadcast_to(jax.random.randint(k_comp, (m, 1), 0, n_good_eff + 1), (m, dim))
        else:
            comp = jax.random.randint(k_comp, (m, dim), 0, n_good_eff + 1)
        centres = Xw[jnp.minimum(comp, window - 1), jnp.arange(dim)[None, :]]
        z = jax.random.normal(k_noise, (m, dim), Xw.dtype)
        local = reflect(geometry, centres + z * bw_g)
        uniform = jax.random.uniform(k_uniform, (m, dim), Xw.dtype)
        resample = jax.random.uniform(k_resample, (m, dim)) < categorical_resample
        local = jnp.where(jnp.asarray(is_cat) & resample, uniform, local)
        cand = jnp.where(comp >= n_good_eff, uniform, local)
        if finite:
            # In a finite space the good density's candidates can all be stored points
            # (its neighbourhood of the best evaluated); uniform ones, ranked below every
            # new density candidate and above every repeat, find the points not
            # evaluated yet.
            cand = jnp.concatenate([cand, jax.random.uniform(jax.random.fold_in(key, 2), (reserve, dim), Xw.dtype)])
        # Discrete dimensions: snap to bin centres so duplicates are exact.
        cand = snap(geometry, cand)

        # The good set lies in the first n_good_max rows (the history is sorted): its
        # density reads only those, not the whole window (half an ask's time in 10-D
        # with 1000 stored points).
        n_used = jnp.minimum(jnp.sum(st != EMPTY), window)
        score = by_rows(lambda c: _log_mix(c, Xw[:n_good_max], good[:n_good_max], bw_g)
                        - _log_mix(c, Xw, bad, bw_b, n_used), cand, window)
        score = jnp.where(jnp.isfinite(score), score, -1e30)
        if is_disc.any():
            # Push down candidates that repeat a stored point (only discrete dimensions
            # make exact repeats likely; continuous candidates never coincide).
            # In a finite space against the whole history, not only TPE's window: there
            # the points beyond it (40 x 40 grid, budget 2000: 1300 distinct points) are
            # what repeats would cost.
            Xd, sd = (history.X, history.status) if finite else (Xw, st)
            dup = repeats(geometry, cand, Xd, sd != EMPTY, 1e-7)
            score = jnp.where(dup, score - 1e12, score)
            if finite:
                score = score.at[m:].add(-1e9)

        X = spread_picks(geometry, cand, score, batch_size, scale=bw_g, limit=1.0, penalty=1e6)
        # fold_in, not a fifth split: the screened rows' draws leave TPE's own streams alone.
        X, quad = quadratic_rows.rows(X, history, state.steps, state.quad, jax.random.fold_in(key, 1))
        return X, state._replace(steps=state.steps + 1, quad=quad)

    def tell(state, key, X, y, valid, history):
        del key, X, history
        return state._replace(quad=quadratic_rows.tell(state.quad, y, valid))

    return Strategy("tpe", init, ask, tell)
