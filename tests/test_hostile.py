"""Hostile input, property-based: random valid spaces, random invalid configs, told values and states.

Every property states what must hold for every generated case: proposals inside the
bounds and integral where they must be; invalid input refused with ValueError/TypeError
(never a crash deeper in JAX, never silent acceptance).
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arqon_jax import ArqonSolver, Space
from arqon_jax.core.space import CATEGORICAL, INTEGER

def _settings(n: int) -> settings:
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


@st.composite
def param_specs(draw):
    kind = draw(st.sampled_from(["linear", "log", "periodic", "integer", "log_extreme", "tiny", "int_width1"]))
    if kind == "log_extreme":
        return {"min": 1e-12, "max": 1e12, "scale": "Log"}
    if kind == "tiny":
        lo = draw(st.floats(-1e3, 1e3))
        return {"min": lo, "max": lo + max(abs(lo), 1.0) * 1e-4, "scale": "linear"}
    if kind == "int_width1":
        lo = draw(st.integers(-1000, 1000))
        return {"min": lo, "max": lo + 1, "scale": "integer"}
    if kind == "integer":
        lo = draw(st.integers(-100, 100))
        return {"min": lo, "max": lo + draw(st.integers(1, 50)), "scale": "INTEGER"}
    if kind == "log":
        lo = draw(st.floats(1e-6, 10.0))
        return {"min": lo, "max": lo * draw(st.floats(1.5, 1e6)), "scale": "log"}
    lo = draw(st.floats(-1e6, 1e6))
    return {"min": lo, "max": lo + draw(st.floats(1e-3, 1e6)), "scale": kind.capitalize()}


spaces = st.dictionaries(st.sampled_from(list("abcdef")), param_specs(), min_size=1, max_size=2)


@_settings(5)
@given(bounds=spaces, seed=st.integers(0, 2**31 - 1))
def test_every_proposal_of_a_random_space_is_inside_and_integral(bounds, seed):
    space = Space.from_bounds(bounds)
    solver = ArqonSolver({"seed": seed, "budget": 24, "bounds": bounds, "batch_size": 6, "method": "tpe"})
    seen = 0
    while (batch := solver.ask()) is not None:
        values = space.from_user({k: [p[k] for p in batch] for k in space.names})
        assert space.contains(values).all(), (bounds, batch)
        for p in batch:
            for i, name in enumerate(space.names):
                v = p[name]
                assert math.isfinite(v)
                if space.scales[i] in (INTEGER, CATEGORICAL):
                    assert isinstance(v, int)
        solver.tell([{"eval_id": seen + j, "params": p, "value": float(sum(map(float, p.values())))} for j, p in enumerate(batch)])
        seen += len(batch)
    # Evaluated points are never proposed again, so a small discrete space ends early.
    levels = space.levels
    n_points = math.prod(levels) if all(levels) else math.inf
    assert seen == min(24, n_points)


junk = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=True),
                 st.text(max_size=4), st.lists(st.integers(), max_size=2))


@st.composite
def configs(draw):
    cfg = {}
    if draw(st.booleans()):
        cfg["seed"] = draw(st.one_of(st.integers(-3, 2**33), junk))
    if draw(st.integers(0, 9)) > 0:
        cfg["budget"] = draw(st.one_of(st.integers(-3, 50), junk))
    if draw(st.integers(0, 9)) > 0:
        entry = draw(st.one_of(
            st.fixed_dictionaries({"min": junk, "max": junk}),
            st.fixed_dictionaries({"min": st.floats(-10, 10), "max": st.floats(-10, 10), "scale": st.sampled_from(["Linear", "log", "Periodic", "cubic", "", "LOG"])}),
            junk,
        ))
        cfg["bounds"] = draw(st.one_of(st.just({"x": entry}), st.just({}), junk))
    if draw(st.booleans()):
        cfg["probe_ratio"] = draw(st.one_of(st.floats(-1, 2), junk))
    return cfg


def _config_is_valid(cfg) -> bool:
    try:
        budget, bounds = cfg["budget"], cfg["bounds"]
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            return False
        if "seed" in cfg and (isinstance(cfg["seed"], bool) or not isinstance(cfg["seed"], int) or cfg["seed"] < 0):
            return False
        pr = cfg.get("probe_ratio", 0.2)
        if isinstance(pr, bool) or not isinstance(pr, (int, float)) or not 0 < pr <= 1:
            return False
        Space.from_bounds(bounds)
        return True
    except (KeyError, TypeError, ValueError):
        return False


@_settings(300)
@given(cfg=configs(), as_json=st.booleans())
def test_random_configs_are_accepted_only_when_valid(cfg, as_json):
    try:
        text = json.dumps(cfg, allow_nan=True) if as_json else cfg
    except (TypeError, ValueError):
        return
    try:
        ArqonSolver(text)
        accepted = True
    except (ValueError, TypeError) as exc:
        assert str(exc), "the message must say what is wrong"
        accepted = False
    # Never silent acceptance of an invalid config, never refusal of a valid one.
    if not _config_is_valid(cfg):
        assert not accepted, cfg
    else:
        assert accepted, cfg


@pytest.fixture(scope="module")
def asked():
    solver = ArqonSolver({"seed": 1, "budget": 40, "bounds": {"x": {"min": -1, "max": 1}, "y": {"min": 1, "max": 9, "scale": "log"}}})
    batch = solver.ask()
    return solver.export(), batch


told_entry = st.one_of(
    junk,
    st.fixed_dictionaries({"eval_id": st.one_of(st.integers(-3, 100), junk), "value": junk}),
    st.fixed_dictionaries({"params": st.one_of(junk, st.fixed_dictionaries({"x": junk, "y": junk})), "value": junk}),
)


@_settings(200)
@given(entries=st.one_of(junk, st.lists(told_entry, min_size=1, max_size=3)))
def test_random_told_values_are_recorded_or_refused(asked, entries):
    state, _ = asked
    solver = ArqonSolver.from_state(state)
    before = solver.get_history_len()
    try:
        solver.tell(entries)
    except (ValueError, TypeError) as exc:
        assert str(exc)
        assert solver.get_history_len() == before  # nothing recorded from a refused call
        return
    assert solver.get_history_len() == before + len(entries)


@_settings(150)
@given(data=st.data())
def test_corrupt_state_strings_are_refused(asked, data):
    state, _ = asked
    kind = data.draw(st.sampled_from(["truncate", "flip", "junk", "field"]))
    if kind == "truncate":
        text = state[: data.draw(st.integers(0, len(state) - 1))]
    elif kind == "flip":
        i = data.draw(st.integers(0, len(state) - 1))
        text = state[:i] + data.draw(st.sampled_from(["{", "]", "0", '"', "x"])) + state[i + 1 :]
    elif kind == "junk":
        text = data.draw(st.one_of(st.text(max_size=30), st.just("null"), st.just("[]"), st.just('{"format": 1}')))
    else:
        doc = json.loads(state)
        key = data.draw(st.sampled_from(sorted(doc)))
        doc[key] = data.draw(junk)
        text = json.dumps(doc, allow_nan=True)
    try:
        restored = ArqonSolver.from_state(text)
    except (ValueError, TypeError) as exc:
        assert str(exc)
        return
    # A flip can hit a digit and still be a valid state; it must then still work.
    batch = restored.ask()
    assert batch is None or all(set(p) == {"x", "y"} for p in batch)
