"""ArqonSolver / ArqonProbe faults: float32 limits, seeds, hand-edited states, told values, choices.

Each test covers one kind of input and asserts the right value or a clear error.
"""

from __future__ import annotations

import copy
import json
import math
import pickle
import sys
import warnings
from fractions import Fraction
from pathlib import Path

import jax
import numpy as np
import pytest

from arqon_jax import ArqonProbe, ArqonSolver
from arqon_jax.host.state_io import decode_array, encode_array

sys.path.insert(0, str(Path(__file__).parent))
from tests.test_compat import CFG, _drive, cfg, objective, run_ask_tell  # noqa: E402

F32_MAX = float(np.finfo(np.float32).max)
F64_MAX = float(np.finfo(np.float64).max)


def tell_batch(s: ArqonSolver, batch: list[dict], values: list) -> None:
    start = s.n_proposed - len(batch)
    s.tell([{"eval_id": start + k, "params": p, "value": v} for k, (p, v) in enumerate(zip(batch, values))])


# ------------------------------------------------------- 1. float32 limits
@pytest.mark.parametrize(
    "huge",
    [1e39, -1e39, 3.5e38, 1e300, -F64_MAX, 10**400, -(10**400), Fraction(10**400), np.float64(-1e39)],
    ids=["1e39", "-1e39", "3.5e38", "1e300", "-f64max", "10**400", "-10**400", "Fraction(10**400)", "np-1e39"],
)
def test_finite_values_beyond_float32_are_never_failures(huge):
    s = ArqonSolver(CFG)
    b = s.ask()
    tell_batch(s, b, [huge] + [objective(p) for p in b[1:]])
    s.ask()  # the batch reaches the solver
    assert int(s._session.state.history.n_failed) == 0 and int(s._session.state.history.count) == 10
    assert math.isfinite(float(s._session.state.best_y))
    try:
        told = float(huge)
    except OverflowError:  # beyond float64 as well: its largest finite value
        told = F64_MAX if huge > 0 else -F64_MAX
    best = s.best
    if huge < 0:  # the host keeps the real value, not the solver's clipped copy
        assert best == {"params": b[0], "value": told, "eval_id": 0}
        assert float(s._session.state.best_y) == -F32_MAX
    else:
        assert best["value"] == min(objective(p) for p in b[1:]) and best["eval_id"] != 0


def test_finite_json_literal_beyond_float64_is_clipped_not_failed():
    s = ArqonSolver(CFG)
    b = s.ask()
    s.tell('[{"eval_id": 0, "params": %s, "value": -1e400}, {"eval_id": 1, "params": %s, "value": -Infinity}]'
           % (json.dumps(b[0]), json.dumps(b[1])))
    assert s.best == {"params": b[0], "value": -F64_MAX, "eval_id": 0}
    s.tell([{"eval_id": k, "params": b[k], "value": objective(b[k])} for k in range(2, 10)])
    s.ask()
    assert int(s._session.state.history.n_failed) == 1  # -Infinity is a failure, -1e400 is not


def test_longdouble_beyond_float64_is_clipped_not_failed():
    big = np.longdouble("1e400")
    if not np.isfinite(big):  # platforms where longdouble is float64
        big = np.longdouble(F64_MAX)
    s = ArqonSolver(CFG)
    b = s.ask()
    s.tell([{"eval_id": 0, "params": b[0], "value": -big}])
    assert s.best["value"] == -F64_MAX


def test_best_is_float64_exact_for_values_float32_cannot_resolve():
    # 1e7 + x for x in [0, 0.5]: float32 steps by 1.0 there, so every value rounds to 1e7.
    s = ArqonSolver(CFG)
    told: list[tuple[dict, float]] = []
    best_so_far = math.inf
    while (batch := s.ask()) is not None:
        values = [1e7 + objective(p) / 20.0 for p in batch]
        assert all(1e7 <= v <= 1e7 + 0.5 for v in values)
        tell_batch(s, batch, values)
        told += list(zip(batch, values))
        best = s.best
        assert best["value"] <= best_so_far  # never gets worse
        best_so_far = best["value"]
        assert best["value"] == min(v for _, v in told)
        assert best["value"] == 1e7 + objective(best["params"]) / 20.0  # f at the reported params
    assert len({np.float32(v) for _, v in told}) < 3 < len({v for _, v in told})
    k = min(range(len(told)), key=lambda i: told[i][1])
    assert s.best == {"params": told[k][0], "value": told[k][1], "eval_id": k}
    back = ArqonSolver.from_state(s.export())
    assert back.best == s.best


def test_best_ignores_failures_and_warm_starts_count():
    s = ArqonSolver(CFG)
    assert s.best is None
    b = s.ask()
    s.tell([{"eval_id": k, "params": b[k], "value": v} for k, v in enumerate([None, math.nan, -math.inf])])
    assert s.best is None  # failures are worse than any finite value
    s.seed([{"params": {"lr": 0.003, "batch_size": 40.0}, "value": 1e7 + 0.25}])
    assert s.best == {"params": {"batch_size": 40.0, "lr": 0.003}, "value": 1e7 + 0.25, "eval_id": None}
    s.seed([{"params": {"lr": 0.004, "batch_size": 41}, "value": 1e7 + 0.25}])  # a tie: the earlier stays
    assert s.best["params"]["lr"] == 0.003
    s.tell([{"eval_id": 3, "params": b[3], "value": 1e7 + 0.125}])
    assert s.best == {"params": b[3], "value": 1e7 + 0.125, "eval_id": 3}


X64_CFG = cfg(x64=True, budget=30)


def test_x64_runs_in_float64_survives_export_and_leaves_jax_alone():
    s = ArqonSolver(X64_CFG)
    assert s.config["x64"] is True and ArqonSolver(CFG).config["x64"] is False
    first = s.ask()
    assert s._session.state.best_y.dtype == np.float64 and s._session.state.history.X.dtype == np.float64
    assert jax.numpy.zeros(1).dtype == np.float32  # x64 is switched on only inside the calls
    # Values only float64 can tell apart reach the solver distinct.
    tell_batch(s, first, [1.0 + 1e-12 * k for k in range(len(first))])
    s.ask()
    h = s._session.state.history
    assert float(s._session.state.best_y) == 1.0 and len(set(np.asarray(h.y)[: int(h.count)].tolist())) == len(first)
    text = s.export()
    assert json.loads(text)["config"]["x64"] is True
    b = ArqonSolver.from_state(text)
    assert b.config["x64"] is True and b.export() == text
    ra, rb = run_ask_tell(s), run_ask_tell(b)
    assert ra == rb and len(ra) > 0
    assert s.best == b.best
    assert jax.numpy.zeros(1).dtype == np.float32


NARROW = {"x": {"min": 1e8, "max": 1e8 + 100}}
TINY = {"a": {"min": 1e-40, "max": 1e-39}, "b": {"min": 1e-40, "max": 1e-39, "scale": "Log"}, "c": {"min": -1.0, "max": 1.0}}


def test_bounds_float32_cannot_resolve_switch_to_float64_with_a_warning():
    with pytest.warns(UserWarning, match=r"x: float32 holds only ~\d+ distinct values.*\"x64\": true"):
        s = ArqonSolver({"seed": 0, "budget": 60, "bounds": NARROW})
    assert s.config["x64"] is True
    seen = run_ask_tell(s, lambda p: (p["x"] - 1e8 - 37.0) ** 2)
    xs = [p["x"] for p in seen]
    assert len(seen) == 60 and len(set(xs)) == 60  # float32 holds 13 values in these bounds
    assert all(1e8 <= x <= 1e8 + 100 for x in xs)
    assert min((x - 1e8 - 37.0) ** 2 for x in xs) < 25.0  # it searched, not only spread points
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ArqonSolver({"seed": 0, "budget": 60, "bounds": NARROW, "x64": True})  # said so: no warning
        restored = ArqonSolver.from_state(s.export())
    assert restored.config["x64"] is True


def test_subnormal_bounds_switch_to_float64_and_stay_inside():
    with pytest.warns(UserWarning, match=r"a: bound 1e-40 is below float32's smallest normal.*b: bound") as rec:
        s = ArqonSolver({"seed": 5, "budget": 40, "bounds": TINY})
    assert '"x64": true' in str(rec[0].message)
    seen = run_ask_tell(s, lambda p: abs(p["a"] - 3e-40) * 1e40 + abs(math.log(p["b"] / 5e-40)) + p["c"] ** 2)
    assert len(seen) == 40
    for p in seen:
        for name in ("a", "b"):
            assert p[name] != 0.0 and 1e-40 <= p[name] <= 1e-39, p
    assert len({p["a"] for p in seen}) == 40


# --------------------------------------------------------------- 2. seeds
def test_seed_rule_all_64_bits_negative_and_bool_refused():
    def first(seed):
        return ArqonSolver(cfg(seed=seed)).ask()

    one = first(1)
    assert first(2**32 - 1) != one
    assert first(2**32 + 1) != one  # the high 32 bits count
    assert first(2**64 - 1) != first(2**32 - 1)
    assert first(2**32 + 1) == first(2**32 + 1)
    for bad, exc in ((-1, ValueError), (2**64, ValueError), (True, TypeError), (1.5, TypeError), ("1", TypeError)):
        with pytest.raises(exc, match=r"seed: expected an integer in \[0, 2\*\*64\)"):
            ArqonSolver(cfg(seed=bad))
        with pytest.raises(exc, match=r"seed: expected an integer in \[0, 2\*\*64\)"):
            ArqonProbe({"bounds": CFG["bounds"]}, seed=bad)
    probe = {"bounds": CFG["bounds"]}
    assert ArqonProbe(probe, seed=2**32 + 1, shift=True).sample_at(3) != ArqonProbe(probe, seed=1, shift=True).sample_at(3)
    assert ArqonProbe(probe, seed=np.uint64(2**64 - 1)).seed == 2**64 - 1


def test_random_fallback_uses_all_seed_bits():
    # Points proposed when the strategy keeps repeating itself come from a host stream
    # seeded by the config seed: seeds equal in their low 32 bits must not share it.
    a, b = ArqonSolver(cfg(seed=1)), ArqonSolver(cfg(seed=2**32 + 1))
    assert a._session._random_batch() and b._session._random_batch()
    assert not np.array_equal(a._session._batches[-1].V, b._session._batches[-1].V)


# ------------------------------------------------------- 3. hand-edited states
@pytest.fixture(scope="module")
def rich_state() -> str:
    """A state with an open batch, closed pending proposals, buffered extras and a best."""
    a = ArqonSolver(CFG)
    _drive(a, 3, 0)
    a.seed([{"params": {"lr": 0.003, "batch_size": 40.0}, "value": 0.1}])
    text = a.export()
    ex = json.loads(text)["extra"]
    assert decode_array(ex["pending_closed"]["ids"]).size and decode_array(ex["extras"]["y"]).size
    assert ex["batches"] and ex["best"] is not None
    return text


def _arr(ex: dict, *path) -> np.ndarray:
    d = ex
    for p in path:
        d = d[p]
    return decode_array(d).copy()


def _set(ex: dict, value, *path) -> None:
    d = ex
    for p in path[:-1]:
        d = d[p]
    d[path[-1]] = encode_array(value) if isinstance(value, np.ndarray) else value


def _pending_top(ex: dict) -> int:
    return max(int(_arr(ex, "batches", 0, "ids").max()), int(_arr(ex, "pending_closed", "ids").max()))


def _edit_V(ex: dict) -> None:
    V = _arr(ex, "batches", 0, "V")
    V[-1, 1] = 0.5  # lr outside [1e-4, 0.1]
    _set(ex, V, "batches", 0, "V")


def _edit_ids(fn):
    def edit(ex):
        ids = _arr(ex, "batches", 0, "ids")
        _set(ex, fn(ex, ids), "batches", 0, "ids")
    return edit


def _edit_closed_ids(fn):
    def edit(ex):
        _set(ex, fn(ex, _arr(ex, "pending_closed", "ids")), "pending_closed", "ids")
    return edit


def _rep_unhanded(ex):
    ids = _arr(ex, "batches", 0, "ids")
    ids[-1] = -1
    _set(ex, ids, "batches", 0, "ids")
    rep = _arr(ex, "batches", 0, "rep")
    rep[-1] = True
    _set(ex, rep, "batches", 0, "rep")


def _seen_without_pending(ex):
    seen = _arr(ex, "seen")
    key = _arr(ex, "pending_closed", "keys")[0]
    _set(ex, seen[~np.all(seen == key, axis=1)], "seen")


def _repeat(ex, name):
    a = _arr(ex, name)
    _set(ex, np.concatenate([a, a[:1]]), name)


CORRUPTIONS = [
    # counters
    ("n_handed below a pending id", lambda ex: _set(ex, _pending_top(ex), "counters", "n_handed"),
     r"extra\['counters'\]\['n_handed'\]: \d+ proposals handed out, but eval_id \d+ is in"),
    ("n_handed negative", lambda ex: _set(ex, -1, "counters", "n_handed"),
     r"extra\['counters'\]\['n_handed'\]: expected an integer in \[0, 40\], got -1"),
    ("n_handed text", lambda ex: _set(ex, "20", "counters", "n_handed"),
     r"extra\['counters'\]\['n_handed'\]: expected an integer, got str '20'"),
    ("n_handed float", lambda ex: _set(ex, 20.0, "counters", "n_handed"),
     r"extra\['counters'\]\['n_handed'\]: expected an integer, got float"),
    ("n_handed bool", lambda ex: _set(ex, True, "counters", "n_handed"), r"extra\['counters'\]\['n_handed'\]"),
    ("n_handed over budget", lambda ex: _set(ex, 41, "counters", "n_handed"),
     r"extra\['counters'\]\['n_handed'\]: expected an integer in \[0, 40\], got 41"),
    ("n_extra not matching the results", lambda ex: _set(ex, 21, "counters", "n_extra"),
     r"extra\['counters'\]\['n_results'\]"),
    ("n_extra negative", lambda ex: _set(ex, -1, "counters", "n_extra"), r"extra\['counters'\]\['n_extra'\]"),
    ("n_results off", lambda ex: _set(ex, ex["counters"]["n_results"] + 1, "counters", "n_results"),
     r"extra\['counters'\]\['n_results'\]: 18 results, but 20 proposals \(4 still waiting\) and 1 warm starts make 17"),
    ("n_results null", lambda ex: _set(ex, None, "counters", "n_results"),
     r"extra\['counters'\]\['n_results'\]: expected an integer, got NoneType"),
    ("serial off", lambda ex: _set(ex, 3, "counters", "serial"), r"extra\['counters'\]\['serial'\]: 3 solver steps"),
    ("serial negative", lambda ex: _set(ex, -2, "counters", "serial"), r"extra\['counters'\]\['serial'\]"),
    ("counters missing", lambda ex: ex.pop("counters"), r"extra\['counters'\]: missing"),
    ("counters a list", lambda ex: _set(ex, [20, 1, 17, 2], "counters"), r"extra\['counters'\]: expected an object, got list"),
    # batches
    ("batches a dict", lambda ex: _set(ex, {"0": ex["batches"][0]}, "batches"), r"extra\['batches'\]: expected a list, got dict"),
    ("batches a string", lambda ex: _set(ex, "abc", "batches"), r"extra\['batches'\]: expected a list, got str"),
    ("batch a number", lambda ex: _set(ex, 5, "batches", 0), r"extra\['batches'\]\[0\]: expected an object, got int"),
    ("asked an int", lambda ex: _set(ex, 1, "batches", 0, "asked"), r"extra\['batches'\]\[0\]\['asked'\]: expected true or false"),
    ("X short", lambda ex: _set(ex, _arr(ex, "batches", 0, "X")[:-1], "batches", 0, "X"),
     r"extra\['batches'\]\[0\]\['X'\]: expected float32 of shape \(10, 2\), got float32 of shape \(9, 2\)"),
    ("X float64", lambda ex: _set(ex, _arr(ex, "batches", 0, "X").astype(np.float64), "batches", 0, "X"),
     r"extra\['batches'\]\[0\]\['X'\]: expected float32 of shape \(10, 2\), got float64"),
    ("X nan", lambda ex: _set(ex, np.full((10, 2), np.nan, np.float32), "batches", 0, "X"),
     r"extra\['batches'\]\[0\]\['X'\]: non-finite"),
    ("V outside", _edit_V, r"extra\['batches'\]\[0\]\['V'\]: row 9: params\['lr'\]: 0.5 is outside the bounds"),
    ("V garbage", lambda ex: _set(ex, {"dtype": "float64", "shape": [10, 2], "data": "!!"}, "batches", 0, "V"),
     r"extra\['batches'\]\[0\]\['V'\]: corrupt array"),
    ("V not an array", lambda ex: _set(ex, [[0.1, 0.2]], "batches", 0, "V"),
     r"extra\['batches'\]\[0\]\['V'\]: malformed array"),
    ("ids float", lambda ex: _set(ex, _arr(ex, "batches", 0, "ids").astype(np.float64), "batches", 0, "ids"),
     r"extra\['batches'\]\[0\]\['ids'\]: expected int64 of shape \(10,\), got float64"),
    ("ids duplicated in a batch", _edit_ids(lambda ex, ids: np.where(ids == ids[1], ids[0], ids)),
     r"extra\['batches'\]\[0\]\['ids'\]: eval_id \d+ appears twice"),
    ("ids negative", _edit_ids(lambda ex, ids: np.where(ids == ids[0], -5, ids)),
     r"extra\['batches'\]\[0\]\['ids'\]: expected -1 or an eval_id >= 0"),
    ("ids past next_row", lambda ex: _set(ex, 5, "batches", 0, "next_row"),
     r"extra\['batches'\]\[0\]\['ids'\]: expected -1 or an eval_id >= 0 in rows 0..4 only"),
    ("rep on unhanded row", _rep_unhanded, r"extra\['batches'\]\[0\]\['rep'\]: a row never handed out"),
    ("rep and moved", lambda ex: _set(ex, np.ones(10, bool), "batches", 0, "moved"), r"extra\['batches'\]\[0\]\['moved'\]"),
    ("y float32", lambda ex: _set(ex, _arr(ex, "batches", 0, "y").astype(np.float32), "batches", 0, "y"),
     r"extra\['batches'\]\[0\]\['y'\]: expected float64"),
    ("next_row text", lambda ex: _set(ex, "10", "batches", 0, "next_row"),
     r"extra\['batches'\]\[0\]\['next_row'\]: expected an integer, got str"),
    ("next_row too big", lambda ex: _set(ex, 11, "batches", 0, "next_row"),
     r"extra\['batches'\]\[0\]\['next_row'\]: expected an integer in \[0, 10\], got 11"),
    # proposals still waiting, from closed batches
    ("closed id negative", _edit_closed_ids(lambda ex, ids: np.where(ids == ids[0], -1, ids)),
     r"extra\['pending_closed'\]\['ids'\]: negative eval_id -1"),
    ("closed id repeats a batch id", _edit_closed_ids(lambda ex, ids: np.full_like(ids, int(_arr(ex, "batches", 0, "ids").max()))),
     r"extra\['pending_closed'\]\['ids'\]: eval_id \d+ appears twice \(also in extra\['batches'\]\[0\]\['ids'\]\)"),
    ("closed keys shape", lambda ex: _set(ex, _arr(ex, "pending_closed", "keys")[:, :1], "pending_closed", "keys"),
     r"extra\['pending_closed'\]\['keys'\]: expected float64 of shape \(2, 2\)"),
    ("closed X dtype", lambda ex: _set(ex, _arr(ex, "pending_closed", "X").astype(np.float16), "pending_closed", "X"),
     r"extra\['pending_closed'\]\['X'\]: expected float32"),
    ("closed missing", lambda ex: ex.pop("pending_closed"), r"extra\['pending_closed'\]: missing"),
    # buffered evaluations
    ("extras y length", lambda ex: _set(ex, _arr(ex, "extras", "y")[:1], "extras", "y"),
     r"extra\['extras'\]\['X'\]: expected float32 of shape \(1, 2\), got float32 of shape \(2, 2\)"),
    ("extras X outside", lambda ex: _set(ex, _arr(ex, "extras", "X") + np.float32(2), "extras", "X"),
     r"extra\['extras'\]\['X'\]: unit coordinates must lie in \[0, 1\]"),
    ("extras a list", lambda ex: _set(ex, [], "extras"), r"extra\['extras'\]: expected an object, got list"),
    # points seen and recorded
    ("seen without a waiting proposal", _seen_without_pending, r"extra\['seen'\]: a waiting proposal .* is missing"),
    ("seen twice", lambda ex: _repeat(ex, "seen"), r"extra\['seen'\]: a point is listed twice"),
    ("seen int", lambda ex: _set(ex, _arr(ex, "seen").astype(np.int64), "seen"), r"extra\['seen'\]: expected float64"),
    ("known twice", lambda ex: (_repeat(ex, "known_keys"), _repeat(ex, "known_y")),
     r"extra\['known_keys'\]: a point is listed twice"),
    ("known_y short", lambda ex: _set(ex, _arr(ex, "known_y")[:-1], "known_y"), r"extra\['known_y'\]: expected float64 of shape \(17,\)"),
    # the best result
    ("best worse than recorded", lambda ex: _set(ex, ex["best"]["value"] + 1.0, "best", "value"),
     r"extra\['best'\]\['value'\]: .* is worse than the recorded value"),
    ("best value text", lambda ex: _set(ex, "0.1", "best", "value"), r"extra\['best'\]\['value'\]: expected a finite number, got str"),
    ("best value nan", lambda ex: _set(ex, math.nan, "best", "value"), r"extra\['best'\]\['value'\]: expected a finite number"),
    ("best key unrecorded", lambda ex: _set(ex, [50.0, 0.01], "best", "key"), r"extra\['best'\]\['key'\]: \(50.0, 0.01\) is not a recorded point"),
    ("best key short", lambda ex: _set(ex, [50.0], "best", "key"), r"extra\['best'\]\['key'\]: expected a list of 2 numbers"),
    ("best eval_id pending", lambda ex: _set(ex, int(_arr(ex, "pending_closed", "ids")[0]), "best", "eval_id"),
     r"extra\['best'\]\['eval_id'\]: expected null or the eval_id of a recorded proposal"),
    ("best eval_id future", lambda ex: _set(ex, 20, "best", "eval_id"), r"extra\['best'\]\['eval_id'\]"),
    ("best null", lambda ex: _set(ex, None, "best"), r"extra\['best'\]: null, but the value"),
    ("best a list", lambda ex: _set(ex, [1.0], "best"), r"extra\['best'\]: expected an object, got list"),
]


@pytest.mark.parametrize("edit, message", [c[1:] for c in CORRUPTIONS], ids=[c[0] for c in CORRUPTIONS])
def test_hand_edited_state_is_refused_naming_the_field(rich_state, edit, message):
    doc = json.loads(rich_state)
    edit(doc["extra"])
    with pytest.raises(ValueError, match=r"^state: corrupt " + message):
        ArqonSolver.from_state(json.dumps(doc))


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("budget", "40", r"state: corrupt config: budget: expected an integer, got str '40'"),
        ("seed", -1, r"state: corrupt config: seed: expected an integer in \[0, 2\*\*64\)"),
        ("x64", "no", r"state: corrupt config: x64: expected true or false"),
        ("bounds", {"lr": {"min": 1, "max": 0}}, r"state: corrupt config: bounds\['lr'\]: min must be < max"),
    ],
)
def test_hand_edited_config_in_a_state_is_refused(rich_state, field, value, message):
    doc = json.loads(rich_state)
    doc["config"][field] = value
    with pytest.raises(ValueError, match=message):
        ArqonSolver.from_state(json.dumps(doc))


def test_valid_state_round_trips_and_never_hands_out_an_old_eval_id(rich_state):
    a = ArqonSolver.from_state(rich_state)
    assert a.export() == rich_state
    doc = json.loads(rich_state)
    handed = doc["extra"]["counters"]["n_handed"]
    b = ArqonSolver.from_state(rich_state)
    assert a.best == b.best and a.best["value"] == doc["extra"]["best"]["value"]
    nxt = b.ask()
    assert b.n_proposed == handed + len(nxt)  # new proposals get eval_id handed, handed + 1, ...
    with pytest.raises(ValueError, match=r"unknown eval_id -1"):
        b.tell([{"eval_id": -1, "value": 1.0}])
    # A state written before the best was stored: it is rebuilt from the recorded values.
    old = copy.deepcopy(doc)
    del old["extra"]["best"]
    c = ArqonSolver.from_state(json.dumps(old))
    assert c.best["value"] == a.best["value"] and c.best["params"] == a.best["params"]


# ----------------------------------------------------------- 4. told values
@pytest.mark.parametrize(
    "value",
    [1 + 2j, 1 + 0j, np.complex128(1), np.complex64(2 - 1j), np.array(1 + 1j), np.array([3 + 0j])],
    ids=repr,
)
def test_complex_values_are_refused_naming_the_entry(value):
    s = ArqonSolver(CFG)
    b = s.ask()
    with pytest.raises(TypeError, match=r"results\[1\]\['value'\]: got the complex value .*tell a real number"):
        s.tell([{"eval_id": 0, "params": b[0], "value": 1.0}, {"eval_id": 1, "params": b[1], "value": value}])
    with pytest.raises(TypeError, match=r"points\[0\]\['value'\]: got the complex value"):
        s.seed([{"params": b[2], "value": value}])
    assert s.get_history_len() == 0 and s.best is None  # nothing recorded


def test_complex_jax_value_is_refused():
    s = ArqonSolver(CFG)
    b = s.ask()
    with pytest.raises(TypeError, match=r"results\[0\]\['value'\]: got the complex value"):
        s.tell([{"eval_id": 0, "params": b[0], "value": jax.numpy.asarray(1 + 1j)}])


@pytest.mark.parametrize(
    "value, exc",
    [("1.0", TypeError), ({"loss": 1.0}, TypeError), (True, TypeError), (np.bool_(False), TypeError),
     (np.array(True), TypeError), ([1.0], TypeError), (np.array(["a"]), TypeError), (np.array([1.0, 2.0]), TypeError)],
    ids=repr,
)
def test_non_numbers_are_refused(value, exc):
    s = ArqonSolver(CFG)
    b = s.ask()
    with pytest.raises(exc, match=r"results\[0\]\['value'\]: expected a number or None"):
        s.tell([{"eval_id": 0, "params": b[0], "value": value}])
    assert s.get_history_len() == 0


def test_real_numbers_of_every_kind_are_recorded_and_failures_stay_failures():
    s = ArqonSolver(CFG)
    b = s.ask()
    values = [np.float32(0.5), np.int64(2), np.array(0.25), np.array([[0.75]]), Fraction(1, 8), 3, None, math.nan, math.inf,
              -math.inf]
    tell_batch(s, b, values)
    assert s.best == {"params": b[4], "value": 0.125, "eval_id": 4}
    s.ask()
    assert int(s._session.state.history.n_failed) == 4 and int(s._session.state.history.count) == 10


# --------------------------------------------------------- 5. choices
def test_duplicate_choices_are_refused_naming_the_parameter():
    for who in (ArqonSolver, lambda c: ArqonProbe(c)):
        with pytest.raises(ValueError, match=r"bounds\['act'\]: duplicate choice 'relu'"):
            who({"budget": 10, "bounds": {"act": {"choices": ["relu", "gelu", "relu"]}}})
        with pytest.raises(ValueError, match=r"bounds\['n'\]: duplicate choice 2"):
            who(json.dumps({"budget": 10, "bounds": {"n": {"choices": [1, 2, 2]}}}))


def test_tell_by_params_books_the_choice_of_the_same_type():
    choices = ["a", 1, True, 1.0]
    s = ArqonSolver({"seed": 0, "budget": 4, "batch_size": 4, "method": "random", "bounds": {"c": {"choices": choices}}})
    handed = []
    while (p := s.ask_one()) is not None:
        handed.append(p["c"])
    assert len(handed) == 4 and {(type(c), c) for c in handed} == {(type(c), c) for c in choices}
    eid = {(type(c), c): k for k, c in enumerate(handed)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a type-blind match would book True on the 1 arm and warn
        s.tell([{"eval_id": eid[(bool, True)], "params": {"c": True}, "value": -5.0}])
        s.tell(json.dumps([{"params": {"c": 1}, "value": 2.0}]))
        s.tell([{"params": {"c": 1.0}, "value": 3.0}])
    assert s.best == {"params": {"c": True}, "value": -5.0, "eval_id": eid[(bool, True)]}
    assert type(s.best["params"]["c"]) is bool
    with pytest.raises(ValueError, match=r"unknown eval_id %d \(its result was already recorded\)" % eid[(int, 1)]):
        s.tell([{"eval_id": eid[(int, 1)], "value": 0.0}])
    s.tell([{"eval_id": eid[(str, "a")], "params": {"c": "a"}, "value": 9.0}])
    assert s.get_history_len() == 4 and s.ask() is None


def test_list_bounds_in_a_config_say_which_form_it_takes():
    # minimize takes [(low, high), ...]; a config names its parameters (proposals are dicts).
    with pytest.raises(TypeError, match=r"got list \(ArqonHPO's config form names each parameter.*is for minimize"):
        ArqonSolver({"budget": 4, "bounds": [[0, 1], [0, 2]]})
    with pytest.raises(TypeError, match=r"got str$"):
        ArqonSolver({"budget": 4, "bounds": "x"})


def test_deeply_nested_config_json_is_a_clear_value_error():
    with pytest.raises(ValueError, match="nested too deeply"):
        ArqonSolver("[" * 100000 + "]" * 100000)


def test_warm_starts_past_the_budget_survive_export_copy_and_pickle():
    # seed() takes any number of evaluations (as ArqonHPO does); the state must still
    # restore, or copies and Ray's pickling of the solver fail.
    cfg = {"seed": 0, "budget": 30, "batch_size": 5,
           "bounds": {"x": {"min": -1, "max": 1}, "y": {"min": -1, "max": 1}}}
    s = ArqonSolver(cfg)
    s.seed([{"params": {"x": i / 40, "y": 0.5}, "value": float(i)} for i in range(31)])
    assert s.budget_left == 0 and s.ask() is None and s.get_history_len() == 31
    for other in (ArqonSolver.from_state(s.export()), copy.deepcopy(s), pickle.loads(pickle.dumps(s))):
        assert other.get_history_len() == 31 and other.best == s.best and other.ask() is None
