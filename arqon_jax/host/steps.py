"""The one compiled solver step that every host-driven front door runs.

``minimize``'s host path, :class:`~arqon_jax.ArqonSolver`, :class:`~arqon_jax.tune.ArqonSearch`
and the CLI's ask/tell all drive the solver through :func:`fused_steps`: one program
observes a chunk of rows, tells a batch and asks for the next one, each part switched
by a traced flag. One program serves every combination, so a process compiles it once
per problem shape, and the bounds come in as data (``consts``), so new bound values
reuse it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.space import from_unit_with, snap_with

__all__ = ["Steps", "fused_steps", "bound_constants", "LONG_RUN_STEPS"]

_CACHE: "OrderedDict[tuple, Steps]" = OrderedDict()
_CACHE_SIZE = 32

#: Steps (``ceil(budget / batch_size)``) from which a run's step is compiled fully
#: optimised on the CPU (see :func:`fused_steps`).
LONG_RUN_STEPS = 1000


class Steps(NamedTuple):
    """Compiled functions of one solver shape.

    Attributes:
        init: ``init(key, probe_count) -> state`` (``solver.init_with``: the probe length is
            data, so budgets that share the solver's shapes share this program).
        step: ``step(state, Xo, yo, vo, do_observe, X, y, valid, do_tell, do_ask, consts)
            -> (X_new, V_new, state)``: observes rows ``Xo`` ``(batch, dim)`` with values
            ``yo`` and mask ``vo``, tells the last asked batch ``X`` with ``y`` and
            ``valid``, asks the next batch: unit rows ``X_new`` ``(batch, dim)`` (discrete
            dimensions at their bin centres, so the history holds the evaluated points)
            and their parameter values ``V_new``.
        empty: Device arrays standing in for "nothing to observe / tell".
        flags: Device booleans ``(False, True)``.
    """

    init: Callable
    step: Callable
    empty: tuple
    flags: tuple
    anchor: Any  # the solver's ask function: keeps the cache key's id unique


def fused_steps(solver: Any) -> Steps:
    """The compiled :class:`Steps` of ``solver`` (cached per shape, not per bound values).

    On the CPU a run of fewer than :data:`LONG_RUN_STEPS` steps compiles at XLA
    optimisation level 0 (unless the solver has the GP strategy): host-driven runs make
    one step per batch of user evaluations, so compiling (seconds) costs more than
    running (milliseconds), and level 0 roughly halves the compile time. Longer runs
    compile fully optimised: measured (CMA-ES, batch 200, float64, this repository's
    2-core CPU) a step takes 0.53-0.69 ms instead of 1.1-1.4 ms in 5-D to 40-D, for
    0.9-2.6 s more compile time, which the persistent compilation cache pays once.
    Budgets on either side of the threshold therefore compile separately.
    """
    long_run = solver.n_batches >= LONG_RUN_STEPS
    key = (id(solver.ask), solver.space.scales, np.dtype(solver.dtype).name, long_run)
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    B, dim, dtype, scales = solver.batch_size, solver.space.dim, solver.dtype, solver.space.scales

    def step(state, Xo, yo, vo, do_observe, X, y, valid, do_tell, do_ask, consts):
        state = jax.lax.cond(do_observe, lambda s: solver.observe(s, Xo, yo, vo), lambda s: s, state)
        state = jax.lax.cond(do_tell, lambda s: solver.tell(s, X, y, valid), lambda s: s, state)

        def ask(s):
            X_new, s = solver.ask(s)
            X_new = snap_with(scales, consts, X_new.astype(dtype))
            return X_new, from_unit_with(scales, consts, X_new), s

        def skip(s):
            return jnp.zeros((B, dim), dtype), jnp.zeros((B, dim), dtype), s

        return jax.lax.cond(do_ask, ask, skip, state)

    # Not for the GP: its model fit (Adam steps, Cholesky factorizations) runs 100x slower
    # unoptimised, seconds per ask, more than the compile time saved.
    fast_compile = jax.default_backend() == "cpu" and "gp" not in solver.strategy_names and not long_run
    opts = {"xla_backend_optimization_level": 0} if fast_compile else None
    # Uncommitted device arrays (jnp.asarray, not device_put): jit keys its cache on
    # committed-ness too, and the other arguments are numpy or step outputs.
    empty = tuple(jnp.asarray(a) for a in (np.zeros((B, dim), dtype), np.full(B, np.nan, dtype), np.zeros(B, bool)))
    flags = (jnp.asarray(np.bool_(False)), jnp.asarray(np.bool_(True)))
    jitted = jax.jit(step, compiler_options=opts)

    def call(*args):
        # numpy arguments as device arrays: jit keys its dispatch cache on the kind of
        # array too, and callers mix numpy rows with step outputs.
        return jitted(*(jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args))

    call._cache_size = jitted._cache_size
    steps = Steps(jax.jit(solver.init_with, compiler_options=opts), call, empty, flags, solver.ask)
    _CACHE[key] = steps
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return steps


def bound_constants(space: Any, dtype: Any) -> dict:
    """The bounds of ``space`` as the ``consts`` argument of :attr:`Steps.step` (uncommitted device arrays)."""
    return {k: jnp.asarray(v) for k, v in space.unit_constants(dtype).items()}
