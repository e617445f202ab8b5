"""One conformance test over every refine strategy (as evosax tests its registry).

Every strategy in ``STRATEGY_NAMES`` must: propose ``(batch, dim)`` points in the unit
cube; accept masked rows (a budget-cut batch); run under ``jit``, ``vmap`` and
``lax.switch``; give the same proposals for the same keys; and draw its randomness
only from the keys it is given (never from a constant).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from arqon_jax.core.history import history_init, history_insert, sanitize
from arqon_jax.core.space import Space
from arqon_jax.core.strategies import (_OPTION_RULES, STRATEGY_NAMES, _option_defaults, _option_names,
                                      check_options, make_strategy)
from arqon_jax.core.strategies.base import Geometry

BATCH, CAPACITY = 12, 64  # 64 rows: the GP models them all, and 6 rounds of 12 overflow them
# The GP fits its hyperparameters with 40 float32 Adam steps and climbs the acquisition by
# gradient: two compiled programs of one ask (under vmap, inside a lax.switch) may order
# those reductions differently, which moves its proposals by ~1e-5 to ~1e-4. A wrong
# key or branch would move them by the width of the cube.
GP_ACROSS_PROGRAMS_ATOL = 1e-3
SPACES = {
    "continuous": Space.from_bounds([(-1, 1)] * 4),
    "mixed": Space.from_bounds({"a": (0, 1), "b": {"min": 1, "max": 6, "scale": "integer"},
                                "c": {"min": 0, "max": 6.28, "scale": "periodic"}, "d": (2, 3)}),
}


def _strategy(name, space, **options):
    return make_strategy(name, Geometry.from_space(space), BATCH, CAPACITY, jnp.float32, options)


def _objective(X):
    # Not a quadratic: the quadratic step solves one to ~1e-14 in a round, after which
    # the GP's proposals hinge on the last bits of values that small.
    return jnp.sum((X - 0.3) ** 2 + jnp.abs(X - 0.3) ** 3, axis=1)


def _run(strategy, dim, key, steps=6, cut=None):
    """``steps`` ask/tell rounds; the last batch evaluates only ``cut`` rows if given.

    The rounds are a ``lax.scan``, so the strategy's ask is traced and compiled once, not
    once per round (a Python loop made the GP's tests compile six copies of it).
    """
    h = history_init(CAPACITY, dim, jnp.float32)
    X0 = jax.random.uniform(jax.random.fold_in(key, 99), (BATCH, dim))
    h = history_insert(h, X0, _objective(X0), jnp.ones(BATCH, bool))
    k_init, key = jax.random.split(key)
    s = strategy.init(k_init, h)
    last = BATCH if cut is None else cut

    def round_(carry, i):
        s, h, key = carry
        k_ask, k_tell, key = jax.random.split(key, 3)
        X, s = strategy.ask(s, k_ask, h)
        valid = jnp.arange(BATCH) < jnp.where(i == steps - 1, last, BATCH)
        y = jnp.where(valid, _objective(X), jnp.nan)
        h = history_insert(h, X, y, valid)
        vals, _ = sanitize(y, jnp.float32)
        s = strategy.tell(s, k_tell, X, vals, valid, h)
        return (s, h, key), X

    (s, _, _), asked = jax.lax.scan(round_, (s, h, key), jnp.arange(steps))
    return asked, s


def _assert_same_picks(a, b, atol):
    """Rounds ``(steps, batch, dim)`` propose the same points, in any order within a batch.

    The GP picks a batch one point after the other by the acquisition: two points whose
    scores tie within float32 rounding are picked in either order (a 4-D round swapped
    two of them, 0.07 apart, between the vmapped and the single program).
    """
    for r, (x, y) in enumerate(zip(a, b)):
        gap = np.max(np.abs(x[:, None, :] - y[None, :, :]), -1)
        assert np.max(np.min(gap, 1)) <= atol and np.max(np.min(gap, 0)) <= atol, (r, np.round(gap, 4))


@pytest.fixture(params=list(SPACES))
def space(request):
    return SPACES[request.param]


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_every_strategy_option_has_a_rule(name):
    """check_options knows every factory option (a new one needs a rule) and accepts its default."""
    assert set(_OPTION_RULES[name]) == set(_option_names(name))
    defaults = _option_defaults(name)
    assert check_options({name: defaults}) == ((name, tuple(sorted(defaults.items()))),)
    for option, rule in _OPTION_RULES[name].items():
        with pytest.raises((TypeError, ValueError), match=f"\\[{option!r}\\]"):
            check_options({name: {option: "x"}})
        kind = rule[0].rstrip("?")
        if kind == "bool":
            continue
        bad_low = rule[1] - 1 if kind == "int" else (rule[1] if rule[3] else rule[1] - 1e-3)
        high = rule[2] if len(rule) > 2 else None
        bad = [bad_low] + ([] if high is None or high == np.inf else [high + 1 if kind == "int" else high * 2])
        for value in bad:  # out of range, below and above (int32 counters, float32 lengths)
            with pytest.raises(ValueError, match=f"\\[{option!r}\\]: expected"):
                check_options({name: {option: value}})


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_shapes_cube_and_masked_rows(name, space):
    st = _strategy(name, space)
    asked, _ = jax.jit(lambda k: _run(st, space.dim, k, cut=5))(jax.random.key(0))
    asked = np.asarray(asked)
    assert asked.shape == (6, BATCH, space.dim)
    assert np.all(np.isfinite(asked))
    per = np.asarray(space.periodic)
    inside = asked[..., ~per]
    assert inside.min() >= 0.0 and inside.max() <= 1.0


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_same_keys_same_proposals_other_keys_other_proposals(name):
    space = SPACES["mixed"]
    st = _strategy(name, space)
    run = jax.jit(lambda k: _run(st, space.dim, k)[0])
    a, b, c = (np.asarray(run(jax.random.key(s))) for s in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_vmap_over_keys_matches_single_runs(name):
    space = SPACES["continuous"]
    st = _strategy(name, space)
    keys = jax.random.split(jax.random.key(3), 3)
    many = np.asarray(jax.jit(jax.vmap(lambda k: _run(st, space.dim, k, steps=3)[0]))(keys))
    one = np.asarray(jax.jit(lambda k: _run(st, space.dim, k, steps=3)[0])(keys[1]))
    if name == "gp":
        _assert_same_picks(many[1], one, GP_ACROSS_PROGRAMS_ATOL)
    else:
        np.testing.assert_allclose(many[1], one, rtol=0, atol=1e-5)


def test_every_strategy_runs_under_lax_switch():
    space = SPACES["continuous"]
    strategies = [_strategy(n, space) for n in STRATEGY_NAMES]
    h = history_init(CAPACITY, space.dim, jnp.float32)
    X0 = jax.random.uniform(jax.random.key(5), (BATCH, space.dim))
    h = history_insert(h, X0, _objective(X0), jnp.ones(BATCH, bool))
    states = tuple(jax.jit(s.init)(jax.random.key(i), h) for i, s in enumerate(strategies))

    @jax.jit
    def ask(i, states, key):
        def branch(j):
            return lambda ops: (strategies[j].ask(ops[0][j], ops[1], h)[0])
        return jax.lax.switch(i, [branch(j) for j in range(len(strategies))], (states, key))

    for i, name in enumerate(STRATEGY_NAMES):
        X = np.asarray(ask(i, states, jax.random.key(9)))
        direct = np.asarray(jax.jit(lambda st, k, s=strategies[i]: s.ask(st, k, h)[0])(states[i], jax.random.key(9)))
        if name == "gp":
            _assert_same_picks(X[None], direct[None], GP_ACROSS_PROGRAMS_ATOL)
        else:
            np.testing.assert_allclose(X, direct, rtol=0, atol=1e-6, err_msg=name)


def test_nelder_mead_restarts_follow_the_tell_key():
    # Restarts are the only randomness in a Nelder-Mead tell: two tell keys must give two
    # restart centres sooner or later (they were drawn from key(0) whatever the seed).
    space = SPACES["continuous"]
    st = _strategy("nelder-mead", space, stall_limit=1)
    ask, tell = jax.jit(st.ask), jax.jit(st.tell)

    def run(tell_seed):
        h = history_init(CAPACITY, space.dim, jnp.float32)
        X0 = jax.random.uniform(jax.random.key(0), (64, space.dim))
        h = history_insert(h, X0[:BATCH], _objective(X0[:BATCH]) * 0 + 1.0, jnp.ones(BATCH, bool))
        s = jax.jit(st.init)(jax.random.key(0), h)
        key = jax.random.key(tell_seed)
        out = []
        for i in range(15):
            X, s = ask(s, jax.random.key(100 + i), h)
            y = jnp.ones(BATCH)  # flat: every simplex stalls and restarts
            h = history_insert(h, X, y + i * 0.0, jnp.ones(BATCH, bool))
            key, k = jax.random.split(key)
            s = tell(s, k, X, y, jnp.ones(BATCH, bool), h)
            out.append(np.asarray(X))
        return np.stack(out), int(s.restarts)

    a, ra = run(1)
    b, rb = run(2)
    assert ra > 0 and rb > 0
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("block", [None, 7 * 3 * 10])  # one block; blocks of 7 rows (the last one padded)
def test_repeat_test_in_blocks_of_rows_finds_every_repeat(monkeypatch, block):
    # TPE and the GP test a finite space's candidates against the whole history: in
    # blocks of rows, so that a history of 2048 rows stays within bounded memory.
    from arqon_jax.core.strategies import base

    if block is not None:
        monkeypatch.setattr(base, "MAX_BLOCK", block)
    geo = Geometry(3, (0, 5, 0), (True, False, False), (False, False, False))
    rng = np.random.default_rng(0)
    b = rng.uniform(size=(10, 3))
    valid = np.arange(10) < 8  # the last two rows hold no point
    a = rng.uniform(size=(23, 3))
    a[[0, 5, 22]] = b[[1, 7, 3]]  # exact repeats
    a[9] = b[9]  # a repeat of a row that holds no point
    a[11] = b[2] + [1.0, 0.0, 0.0]  # the same point: the first dimension wraps
    a[14] = b[4] + [0.0, 0.0, 1e-6]  # a near point is not a repeat
    got = np.asarray(base.repeats(geo, jnp.asarray(a), jnp.asarray(b), jnp.asarray(valid), 1e-9))
    assert np.flatnonzero(got).tolist() == [0, 5, 11, 22]
