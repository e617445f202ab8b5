"""Landscape classification from the probe: is the function structured or rugged?

The statistic is a rank fitness-distance correlation (Jones and Forrest's FDC, taken on
ranks): Spearman's correlation between the probe values and the distances of the probe
points to the best probe point. On a landscape with one broad basin the value grows
with the distance to the best point (close to 1); on a rugged, multimodal one the two
are unrelated (close to 0). Ranks make the statistic invariant to any increasing
transformation of ``f``, in particular to shifting and positively scaling it, unlike
ArqonHPO's coefficient of variation, which changes when a constant is added to ``f``.
Failed evaluations rank last; tied values (a plateau, failures) share their mean rank.

What the statistic is worth in practice was measured in ``benchmarks/auto_rule.py``
(``benchmarks/results/auto_rule.md``): on the shipped test functions at budgets up to
125 * dim it separated the cases where Nelder-Mead beats TPE less well than the
refine budget did, so ``method="auto"`` decides by budget first and consults the
statistic (threshold ``STRUCTURED_THRESHOLD``) only when Nelder-Mead is a candidate.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .strategies.base import Geometry, wrap_diff

__all__ = ["rank_fdc", "STRUCTURED_THRESHOLD"]

STRUCTURED_THRESHOLD = 0.35


def _ranks(v: jax.Array) -> jax.Array:
    """Ranks from 0, ties at their mean rank (Spearman's rule for ties): ranked in told
    order instead, a constant or all-failed probe would correlate fully with the distance."""
    s = jnp.sort(v)
    lo = jnp.searchsorted(s, v, side="left")
    hi = jnp.searchsorted(s, v, side="right")
    return ((lo + hi - 1) / 2).astype(v.dtype)


def rank_fdc(geometry: Geometry, X: jax.Array, y: jax.Array, mask: jax.Array) -> jax.Array:
    """Rank fitness-distance correlation of the masked probe points.

    Args:
        geometry: The unit cube's static facts (periodic distances wrap).
        X: Probe points ``(n, dim)`` in the unit cube.
        y: Values ``(n,)``; non-finite values are failures and rank last.
        mask: ``(n,)`` bool, which rows hold probe results.

    Returns:
        A scalar in ``[-1, 1]``; 0 when fewer than 3 points are available.
    """
    y = jnp.where(jnp.isfinite(y), y, jnp.inf)
    best = jnp.argmin(jnp.where(mask, y, jnp.inf))
    dist = jnp.sqrt(jnp.sum(wrap_diff(geometry, X, X[best][None, :]) ** 2, -1))
    big = jnp.asarray(jnp.finfo(X.dtype).max, X.dtype)
    ry = _ranks(jnp.where(mask, y, big))
    rd = _ranks(jnp.where(mask, dist, big))
    w = mask.astype(X.dtype)
    n = jnp.sum(w)
    my = jnp.sum(ry * w) / jnp.maximum(n, 1)
    md = jnp.sum(rd * w) / jnp.maximum(n, 1)
    cov = jnp.sum((ry - my) * (rd - md) * w)
    var = jnp.sqrt(jnp.sum((ry - my) ** 2 * w) * jnp.sum((rd - md) ** 2 * w))
    return jnp.where((n >= 3) & (var > 0), cov / jnp.maximum(var, 1e-30), 0.0)
