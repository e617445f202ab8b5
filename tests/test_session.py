"""The host session is one engine: the ask/tell front doors make the same proposals.

``ArqonSolver``, ``ArqonSearch`` (Ray Tune) and ``arqon-jax ask``/``tell`` all drive
:class:`arqon_jax.host.session.Session`; with the same settings and seed, and the same
values told back, they must propose the same points, through the probe, the classifier
and the refine strategy.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from arqon_jax import ArqonSolver, cli
from arqon_jax.host.session import Session
from arqon_jax.core.space import Space

BUDGET, BATCH, SEED = 40, 4, 11
BOUNDS = {
    "x": {"min": -5.0, "max": 5.0},
    "n": {"min": 1, "max": 8, "scale": "Integer"},
    "lr": {"min": 1e-4, "max": 1e-1, "scale": "Log"},
}
CFG = {"seed": SEED, "budget": BUDGET, "batch_size": BATCH, "bounds": BOUNDS}


def loss(p: dict) -> float:
    return (p["x"] - 1.3) ** 2 + 0.1 * (p["n"] - 3) ** 2 + (math.log10(p["lr"]) + 2.5) ** 2


def via_solver(rounds: int) -> list[list[dict]]:
    s = ArqonSolver(CFG)
    out = []
    for _ in range(rounds):
        first = s.n_proposed
        batch = s.ask()
        out.append(batch)
        s.tell([{"eval_id": first + k, "params": p, "value": loss(p)} for k, p in enumerate(batch)])
    return out


def via_cli(rounds: int, tmp_path, capsys) -> list[list[dict]]:
    state = tmp_path / "state.json"
    out = []
    for r in range(rounds):
        extra = ["--config", json.dumps(CFG)] if r == 0 else []
        assert cli.main(["ask", "--state", str(state), *extra]) == 0
        batch = json.loads(capsys.readouterr().out)
        out.append([e["params"] for e in batch])
        results = tmp_path / f"results{r}.json"
        results.write_text(json.dumps([dict(e, value=loss(e["params"])) for e in batch]))
        assert cli.main(["tell", "--state", str(state), str(results), "--quiet"]) == 0
    return out


def via_tune(n: int) -> list[dict]:
    pytest.importorskip("ray")
    from ray import tune

    from arqon_jax.tune import ArqonSearch

    space = {"x": tune.uniform(-5.0, 5.0), "n": tune.randint(1, 9), "lr": tune.loguniform(1e-4, 1e-1)}
    s = ArqonSearch(space, metric="loss", mode="min", budget=BUDGET, batch_size=BATCH, seed=SEED)
    configs = []
    for t in range(n):
        c = s.suggest(f"t{t}")
        configs.append(c)
        s.on_trial_complete(f"t{t}", {"loss": loss(c)})
    return configs


def test_solver_cli_and_tune_make_identical_proposals(tmp_path, capsys):
    rounds = 3  # the whole probe (8 rows: 2 per dimension), then two refine batches of 4
    a = via_solver(rounds)
    assert [len(b) for b in a] == [8, 4, 4]
    flat = [p for b in a for p in b]
    assert via_cli(rounds, tmp_path, capsys) == a
    assert via_tune(len(flat)) == flat


def test_points_are_handed_out_once_and_the_best_is_exact():
    space = Space.from_bounds({"k": {"min": 0, "max": 3, "scale": "integer"}})
    s = Session(space, seed=0, budget=12, batch_size=2, method="tpe")
    got = []
    while (props := s.propose(1)):
        eid, v = props[0]
        got.append(int(v[0]))
        s.report(eid, float((v[0] - 2) ** 2))
    # Four distinct integers, each proposed once; then nothing new is left.
    assert sorted(got) == [0, 1, 2, 3]
    assert s.best[0] == 0.0 and s.best[1] == (2.0,)
    assert s.n_results == 4 and s.n_handed == 4
    s.flush()
    assert float(s.state.best_y) == 0.0


def test_wait_holds_whole_batch_strategies_only():
    space = Space.from_bounds([(0.0, 1.0)] * 2)
    for method, waits in (("nelder-mead", True), ("cmaes", True), ("tpe", False)):
        s = Session(space, seed=1, budget=60, batch_size=6, method=method, probe_ratio=0.1)
        handed = [s.propose(1, wait=True) for _ in range(6)]  # the probe batch
        assert all(h and len(h) == 1 for h in handed)
        for (eid, v), in handed[:5]:
            s.report(eid, float(np.sum(v**2)))
        nxt = s.propose(1, wait=True)  # one probe row still running
        assert (nxt is None) == waits, method
        s.report(handed[5][0][0], 0.5)
        assert s.propose(1, wait=True), method
