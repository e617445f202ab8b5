"""Generate tests/fixtures/arqonhpo_probe_reference.json from the ArqonHPO wheel.

Runs INSIDE the Python 3.12 peer environment (benchmarks/setup_peer_env.sh):

    benchmarks/.peer_env/bin/python benchmarks/peers/make_arqonhpo_probe_fixture.py

It records what ``arqonhpo.ArqonProbe(config_json, seed=s).sample_at(i)``
returns for a few configs, and, before writing anything, checks a plain
numpy float64 re-implementation of the probe against the wheel (it must be
bit-identical) over more
configs, seeds and indexes than the fixture stores.

What the wheel (0.3.3) computes, established by running it:

    b[d] = frac(p[200 + d] * (sqrt(2) - 1))          primes p_0 = 2, p_50 = 233, p_200 = 1229
    s    = frac(seed * (1 / pi))                     seed: u64 keyword of ArqonProbe (default 42);
                                                     the config's "seed" is required but unused
    u[i, d] = frac(((i + 1) * sqrt(p[50 + d]) + b[d]) + s)
    d runs over parameter names in sorted (byte) order; i is a u64 and
    i + 1 wraps, so i = 2**64 - 1 gives frac(b[d] + s).
    value = min + u * (max - min)                             (Linear, Periodic)
    value = exp(ln(min) + u * (ln(max) - ln(min)))            (Log; NaN if min <= 0)

No anchors, no random "spice" points, no delta: sample_at is the pure
Kronecker sequence. (ArqonSolver's probe batch is different: see the notes
in the fixture's provenance.)
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import sys

# benchmarks/peers/arqonhpo.py (the Python 3.11 wrapper) must not shadow the wheel.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import numpy as np  # noqa: E402

import arqonhpo  # noqa: E402
from arqonhpo import ArqonProbe, ArqonSolver  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(REPO, "tests", "fixtures", "arqonhpo_probe_reference.json")


def _primes(n: int) -> list[int]:
    out: list[int] = []
    k = 2
    while len(out) < n:
        if all(k % p for p in out if p * p <= k):
            out.append(k)
        k += 1
    return out


PRIMES = _primes(256)


def _frac(x: np.ndarray) -> np.ndarray:
    return x - np.floor(x)


def probe_unit(indexes, dim: int, seed: int) -> np.ndarray:
    """Unit-cube probe points, shape (len(indexes), dim), float64.

    Operation order matches the wheel, so results are bit-identical for
    indexes below 2**53.
    """
    i1 = np.asarray(indexes, dtype=np.uint64) + np.uint64(1)  # u64 wrapping add
    i1 = i1.astype(np.float64)[:, None]
    d = np.arange(dim)
    slope = np.sqrt(np.array([PRIMES[50 + k] for k in d], dtype=np.float64))
    phase = _frac(np.array([PRIMES[200 + k] for k in d], dtype=np.float64) * (math.sqrt(2.0) - 1.0))
    s = _frac(np.float64(seed) * (1.0 / math.pi))
    return _frac((i1 * slope + phase) + s)


def probe_values(bounds: dict, indexes, seed: int) -> list[dict]:
    names = sorted(bounds)
    u = probe_unit(indexes, len(names), seed)
    cols = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for k, name in enumerate(names):
            spec = bounds[name]
            lo, hi = float(spec["min"]), float(spec["max"])
            if spec.get("scale", "Linear") == "Log":
                if lo > 0 and hi > 0:
                    # math.log/exp (the C library's, as the wheel uses); numpy's
                    # vectorised exp differs from it by 1 ulp now and then.
                    llo, lhi = math.log(lo), math.log(hi)
                    cols[name] = np.array([math.exp(llo + float(x) * (lhi - llo)) for x in u[:, k]])
                else:  # ln of a non-positive bound: the wheel returns NaN
                    llo, lhi = np.log(lo), np.log(hi)
                    cols[name] = np.exp(llo + u[:, k] * (lhi - llo))
            else:
                cols[name] = lo + u[:, k] * (hi - lo)
    return [{n: float(cols[n][j]) for n in names} for j in range(len(indexes))]


def wheel_values(config: dict, seed: int, indexes) -> list[dict]:
    probe = ArqonProbe(json.dumps(config), seed=seed)
    return [dict(probe.sample_at(int(i))) for i in indexes]


def _max_err(a: list[dict], b: list[dict]) -> tuple[float, int]:
    worst, exact = 0.0, 0
    for ra, rb in zip(a, b):
        assert set(ra) == set(rb), (ra, rb)
        for k in ra:
            x, y = ra[k], rb[k]
            if (math.isnan(x) and math.isnan(y)) or x == y:
                exact += 1
                continue
            worst = max(worst, abs(x - y) / max(1.0, abs(y)))
    return worst, exact


def _lin(n: int, lo: float = 0.0, hi: float = 1.0) -> dict:
    return {f"x{k}": {"min": lo, "max": hi, "scale": "Linear"} for k in range(n)}


FIXTURE_CASES = [
    ("2-D linear", {"seed": 0, "budget": 100, "bounds": {
        "x": {"min": -5.0, "max": 5.0, "scale": "Linear"},
        "y": {"min": 0.0, "max": 1.0, "scale": "Linear"}}}, [0, 1, 42]),
    ("3-D with one Log param (names deliberately unsorted)", {"seed": 0, "budget": 100, "bounds": {
        "lr": {"min": 1e-5, "max": 1e-1, "scale": "Log"},
        "dropout": {"min": 0.0, "max": 0.5, "scale": "Linear"},
        "angle": {"min": 0.0, "max": 6.283185307179586, "scale": "Periodic"}}}, [0, 42, 12345]),
    ("1-D", {"seed": 0, "budget": 100, "bounds": {"x": {"min": 0.0, "max": 1.0, "scale": "Linear"}}},
     [0, 1, 42, 12345]),
    ("5-D", {"seed": 0, "budget": 100, "bounds": {
        "a": {"min": -32.768, "max": 32.768, "scale": "Linear"},
        "b": {"min": 2.0, "max": 2000.0, "scale": "Log"},
        "c": {"min": -1.0, "max": 1.0, "scale": "Periodic"},
        "d": {"min": 0.0, "max": 10.0, "scale": "Linear"},
        "e": {"min": 100.0, "max": 200.0, "scale": "Linear"}}}, [1, 42]),
]
FIXTURE_INDEXES = list(range(20)) + [1000, 123456, 10**6]

CHECK_INDEXES = list(range(51)) + [1000, 123456, 10**6, 10**9, 2**31, 2**40, 2**64 - 1]
CHECK_SEEDS = [0, 1, 2, 42, 12345, 2**32 + 7]


def verify() -> dict:
    """Compare the re-implementation with the wheel; raise on mismatch."""
    configs = [
        {"seed": 1, "budget": 10, "bounds": _lin(1)},
        {"seed": 1, "budget": 10, "bounds": _lin(2, -3.7, 11.3)},
        {"seed": 1, "budget": 10, "bounds": {"x0": {"min": 0, "max": 1},
                                             "x1": {"min": 1e-4, "max": 10.0, "scale": "Log"},
                                             "x2": {"min": -1, "max": 1, "scale": "Periodic"}}},
        {"seed": 1, "budget": 10, "bounds": _lin(5, -5.12, 5.12)},
        {"seed": 7, "budget": 3, "bounds": {"B": {"min": 0, "max": 1}, "a": {"min": 0, "max": 1},
                                            "x10": {"min": 0, "max": 1}, "x2": {"min": 0, "max": 1}}},
    ]
    worst, exact, total = 0.0, 0, 0
    for cfg in configs:
        for seed in CHECK_SEEDS:
            w = wheel_values(cfg, seed, CHECK_INDEXES)
            r = probe_values(cfg["bounds"], CHECK_INDEXES, seed)
            err, ex = _max_err(r, w)
            worst, exact = max(worst, err), exact + ex
            total += len(CHECK_INDEXES) * len(cfg["bounds"])
            # sample_range(s, c)[j] == sample_at(s + j)
            p = ArqonProbe(json.dumps(cfg), seed=seed)
            for start in (0, 17, 10**6):
                assert [dict(x) for x in p.sample_range(start, 5)] == [dict(p.sample_at(start + j)) for j in range(5)]
    # The config's "seed" field and budget do not change the probe.
    a = wheel_values({"seed": 0, "budget": 1, "bounds": _lin(2)}, 5, [0, 3])
    b = wheel_values({"seed": 99, "budget": 1000, "probe_ratio": 0.9, "bounds": _lin(2)}, 5, [0, 3])
    assert a == b
    # Default keyword seed is 42.
    assert dict(ArqonProbe(json.dumps({"seed": 0, "budget": 1, "bounds": _lin(2)})).sample_at(3)) == \
        wheel_values({"seed": 0, "budget": 1, "bounds": _lin(2)}, 42, [3])[0]
    if worst > 1e-12 or exact != total:
        raise SystemExit(f"re-implementation differs from the wheel: max error {worst:g}")
    return {"max_abs_error": worst, "exact_fraction": exact / total, "values_compared": total}


SOLVER_NOTES = (
    "ArqonSolver(config).ask() first returns the whole probe batch of N = ceil(budget*probe_ratio) points: "
    "position 0 = all-min corner (u=0), position 1 = centre (u=0.5), positions 2..N-1-S = Kronecker points "
    "u = ArqonProbe seed=0 sample_at(j-2), i.e. frac((j-1)*sqrt(p[50+d]) + frac(p[200+d]*(sqrt2-1))) with s=0 "
    "(the config seed is NOT used), then S = floor(0.1*N) 'spice' points from a fixed-seed RNG (identical for "
    "every config seed and every process). Later asks: Nelder-Mead batches of 1-2 points (structured) or "
    "1 point per ask from TPE (chaotic); at the restart the solver re-issues anchors + a shifted Kronecker "
    "batch of N points (shift depends on the config seed). Batches are not cut to the budget."
)


def verify_solver_first_batch() -> None:
    """Check SOLVER_NOTES' description of the first ask() against the wheel."""
    spice_first = None
    settings = [(10, 0.1), (10, 0.2), (17, 0.2), (100, 0.25), (200, 0.2), (1000, 0.2)]
    for (budget, ratio), seed in [(br, sd) for br in settings for sd in (1, 12345)]:
        cfg = {"seed": seed, "budget": budget, "probe_ratio": ratio,
               "bounds": {"x": {"min": 0.0, "max": 1.0}, "y": {"min": -5.0, "max": 5.0}}}
        batch = [dict(c) for c in ArqonSolver(json.dumps(cfg)).ask()]
        n = math.ceil(budget * ratio)
        n_spice = int(0.1 * n)
        assert len(batch) == n, (cfg, len(batch))
        assert batch[0] == {"x": 0.0, "y": -5.0}
        if n > 1:
            assert batch[1] == {"x": 0.5, "y": 0.0}
        probe = ArqonProbe(json.dumps(cfg), seed=0)
        for j in range(2, n - n_spice):
            assert batch[j] == dict(probe.sample_at(j - 2)), (cfg, j)
        if n_spice and budget == 200:
            spice = batch[n - n_spice:]
            spice_first = spice if spice_first is None else spice_first
            assert spice == spice_first  # same spice whatever the config seed


def main() -> None:
    verify_solver_first_batch()
    check = verify()
    print(f"re-implementation vs wheel: {check}", file=sys.stderr)
    cases = []
    for label, cfg, seeds in FIXTURE_CASES:
        for seed in seeds:
            values = wheel_values(cfg, seed, FIXTURE_INDEXES)
            assert _max_err(probe_values(cfg["bounds"], FIXTURE_INDEXES, seed), values)[0] <= 1e-12
            values = [{k: v[k] for k in sorted(v)} for v in values]  # wheel's dict order is a HashMap's
            cases.append({"label": label, "config": cfg, "seed": seed,
                          "indexes": FIXTURE_INDEXES, "values": values})
    solver_batches = []
    for budget, ratio, seed in [(20, 0.2, 1), (20, 0.2, 2), (20, 0.5, 1), (20, 0.5, 2), (100, 0.2, 1)]:
        cfg = {"seed": seed, "budget": budget, "probe_ratio": ratio, "bounds": {
            "x": {"min": 0.0, "max": 1.0, "scale": "Linear"},
            "y": {"min": -5.0, "max": 5.0, "scale": "Linear"}}}
        batch = ArqonSolver(json.dumps(cfg)).ask()
        solver_batches.append({"config": cfg, "first_ask": [{k: c[k] for k in sorted(c)} for c in batch]})
    doc = {
        "provenance": {
            "arqonhpo_version": arqonhpo.__version__,
            "python_version": platform.python_version(),
            "numpy_version": np.__version__,
            "platform": platform.platform(),
            "date": _dt.date.today().isoformat(),
            "command": "bash benchmarks/setup_peer_env.sh && "
                       "benchmarks/.peer_env/bin/python benchmarks/peers/make_arqonhpo_probe_fixture.py",
            "script": "benchmarks/peers/make_arqonhpo_probe_fixture.py",
            "api": "arqonhpo.ArqonProbe(json.dumps(config), seed=seed).sample_at(i) for i in indexes",
            "formula": "u[i,d] = frac(((i+1)*sqrt(p[50+d]) + frac(p[200+d]*(sqrt(2)-1))) + frac(seed*(1/pi))), "
                       "primes p_0=2 (p_50=233, p_200=1229), d over sorted names, i+1 in u64 (wrapping); "
                       "Linear/Periodic: min+u*(max-min); Log: exp(ln min + u*(ln max - ln min)). "
                       "No anchors, no spice, no delta in ArqonProbe. The 'seed' keyword (default 42) is the "
                       "only seed used; the config's required 'seed'/'budget' fields are ignored by the probe.",
            "reimplementation_check": check,
            "notes": "values are floats exactly as returned by the wheel (JSON round-trips float64 exactly). "
                     "A numpy float64 re-implementation with the same operation order is bit-identical; "
                     "at i = 1e6 one ulp of (i+1)*sqrt(p) is ~1.9e-9, so another summation order can differ "
                     "by ~1e-9 there (and ~1e-6 at i = 1e9).",
        },
        "cases": cases,
        "solver_first_batches": solver_batches,
        "solver_notes": SOLVER_NOTES,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")
    print(f"wrote {OUT}: {len(cases)} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
