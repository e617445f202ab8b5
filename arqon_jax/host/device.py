"""The device path's compiled loops: ask, evaluate ``f`` and tell inside one program.

``minimize``'s device path (:func:`~arqon_jax.host.run.run_device`) runs the whole budget
as one ``lax.scan`` (:func:`device_runner`), or in chunks between checkpoints
(:func:`device_chunks`, also the CLI demo's moving progress bar);
:func:`~arqon_jax.make_minimizer` returns :func:`build_device_runner`'s loop.
The bounds come in as data (``consts``, :meth:`Space.unit_constants`), so new bound
values of the same shape reuse the compiled program.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp

from ..core.solver import Solver
from ..core.space import from_unit_with
from .cache import ObjectiveCache

__all__ = ["DEVICE", "device_body", "shape_key", "device_runner", "build_device_runner", "device_chunks",
           "build_device_chunks"]

# Device programs per objective, holding it weakly (see host/cache.py); the host path's
# compiled step is cached per solver shape in host/steps.py.
DEVICE = ObjectiveCache()


def device_body(get_f: Callable[[], Callable], solver: Solver):
    """The scan body of the device loop (ask, evaluate, tell) and the budget-cut last batch.

    ``get_f()`` returns the objective when tracing; the compiled loop does not hold it.
    """
    space, dtype, scales = solver.space, solver.dtype, solver.space.scales

    def evaluate(U, consts):
        y = get_f()(space.to_user(from_unit_with(scales, consts, U)))
        return jnp.reshape(y, (U.shape[0],)).astype(dtype)

    def body(consts):
        def step(state, _):
            X, state = solver.ask(state)
            state = solver.tell(state, X, evaluate(X, consts))
            return state, state.best_y

        return step

    batch, rem = solver.batch_size, solver.budget % solver.batch_size

    def last(state, consts):
        # Only the first ``rem`` rows are evaluated: the budget is exact.
        X, state = solver.ask(state)
        y = jnp.concatenate([evaluate(X[:rem], consts), jnp.full((batch - rem,), jnp.nan, dtype)])
        state = solver.tell(state, X, y, jnp.arange(batch) < rem)
        return state, state.best_y

    return body, last


def shape_key(solver: Solver) -> tuple:
    """What a compiled device loop depends on besides ``f``: the solver's functions and
    the space's shape (scales, names, choices), not its bound values, which are data."""
    space = solver.space
    choices = None if space.choices is None else tuple(
        None if c is None else tuple((type(v).__qualname__, repr(v)) for v in c) for c in space.choices)
    # The budget sets the loop's length and init's probe length: the ask function alone
    # is shared by every budget with the same shapes.
    return id(solver.ask), solver.budget, solver.probe_count, space.scales, space.names, choices


def device_runner(f: Callable, solver: Solver) -> Callable:
    """A pure ``run(key, consts) -> (state, curve)`` doing the whole budget on the device.

    ``consts`` are the bounds as data (:meth:`Space.unit_constants`).
    """
    return DEVICE.get(f, ("run", shape_key(solver)), lambda get_f: build_device_runner(get_f, solver))


def build_device_runner(get_f: Callable[[], Callable], solver: Solver) -> Callable:
    """``run(key, consts) -> (state, curve)``, jitted, for an objective ``get_f()`` returns when tracing."""
    n_full, rem = divmod(solver.budget, solver.batch_size)
    body, last = device_body(get_f, solver)

    def run(key, consts):
        state = solver.init(key)
        state, curve = jax.lax.scan(body(consts), state, None, length=n_full)
        if rem:
            state, best = last(state, consts)
            curve = jnp.concatenate([curve, best[None]])
        return state, curve

    return jax.jit(run)


def device_chunks(f: Callable, solver: Solver) -> tuple[Callable, Callable]:
    """``chunk(state, consts, length)`` and ``tail(state, consts)``: the device loop's pieces, compiled once each."""
    return DEVICE.get(f, ("chunks", shape_key(solver)), lambda get_f: build_device_chunks(get_f, solver))


def build_device_chunks(get_f: Callable[[], Callable], solver: Solver) -> tuple[Callable, Callable]:
    body, last = device_body(get_f, solver)

    @partial(jax.jit, static_argnums=2)
    def chunk(state, consts, length):
        return jax.lax.scan(body(consts), state, None, length=length)

    return chunk, jax.jit(last)
