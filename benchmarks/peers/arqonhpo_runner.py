"""Run one ArqonHPO benchmark job; meant for the Python 3.12 peer environment.

Our benchmarks run on Python 3.11 and ArqonHPO ships cp312 wheels only, so
they call this script through ``benchmarks/peers/arqonhpo.py:run_job``:

    echo '{"kind": "info"}' | benchmarks/.peer_env/bin/python -I benchmarks/peers/arqonhpo_runner.py

It reads one JSON job on stdin and writes one JSON object on stdout (the
wheel's own ``[Machine] ...`` prints, which go to the process's stdout, are
sent to stderr). Jobs:

  {"kind": "info"}
      -> {"arqonhpo": version, "python": version, "numpy": version}
  {"kind": "probe_throughput", "dim": d, "count": n, "repeats": r}
      -> {"seconds": best of r, "times": [...], ...}: ArqonProbe.sample_range(0, n)
         for bounds x0..x{d-1} in [0, 1].
  {"kind": "minimize", "bounds": [[lo, hi], ...], "budget": B, "seed": s,
   "function": NAME, "shift": [...], "probe_ratio": 0.2 (optional)}
      -> {"best", "best_x", "nfev", "curve", "wall_s", "objective_s", "n_asks",
          "batch_sizes", "nonfinite"}: a full ArqonSolver ask/tell loop on a
         numpy test function evaluated at x - shift. Nothing is cut: nfev is
         every evaluation the solver asked for (it can exceed the budget).
         NAME "bbob:FID:INSTANCE" is COCO's BBOB function FID, instance INSTANCE,
         from ``ioh`` (then "shift" is ignored and the values include f*).
  {"kind": "ask_tell_overhead", "dim": d, "budget": B, "seed": s}
      -> {"wall_s", "nfev", "n_asks", "per_eval_s"}: full loop, objective sum(params).

Parameter names are x0..x{d-1}, zero-padded (x00, x01, ...) when d > 10 so that
ArqonHPO's sorted-name order is the numeric order of the bounds list.
Dependencies: arqonhpo and numpy (and ioh for the "bbob:" functions).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

# This file sits next to benchmarks/peers/arqonhpo.py (the 3.11-side wrapper);
# keep that from shadowing the real wheel when run as a script.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import numpy as np  # noqa: E402

import arqonhpo  # noqa: E402
from arqonhpo import ArqonProbe, ArqonSolver  # noqa: E402

MAX_ASK_FACTOR = 20  # safety stop only: asks beyond 20 * budget + 1000 mean a stuck solver


# --------------------------------------------------------------------------
# Test functions (standard definitions; z = x - shift; minimum 0 at z = 0
# except Schwefel (z = 420.9687...) and Levy/Rosenbrock (z = 1).
# --------------------------------------------------------------------------

def sphere(z: np.ndarray) -> float:
    return float(np.sum(z * z))


def rastrigin(z: np.ndarray) -> float:
    return float(10.0 * z.size + np.sum(z * z - 10.0 * np.cos(2.0 * np.pi * z)))


def rosenbrock(z: np.ndarray) -> float:
    return float(np.sum(100.0 * (z[1:] - z[:-1] ** 2) ** 2 + (1.0 - z[:-1]) ** 2))


def ackley(z: np.ndarray) -> float:
    d = z.size
    return float(-20.0 * np.exp(-0.2 * np.sqrt(np.sum(z * z) / d))
                 - np.exp(np.sum(np.cos(2.0 * np.pi * z)) / d) + 20.0 + np.e)


def griewank(z: np.ndarray) -> float:
    i = np.arange(1, z.size + 1, dtype=np.float64)
    return float(1.0 + np.sum(z * z) / 4000.0 - np.prod(np.cos(z / np.sqrt(i))))


def schwefel(z: np.ndarray) -> float:
    # Its minimum 0 holds only on [-500, 500] (unbounded below outside), and a shifted
    # z leaves that box: folded back with a small penalty exactly as
    # arqon_jax.functions.Problem.f does, so both sides optimize the same function.
    t = np.mod(z + 500.0, 2000.0)
    folded = -500.0 + np.where(t > 1000.0, 2000.0 - t, t)
    outside = z - np.clip(z, -500.0, 500.0)
    return float(418.98288727243374 * z.size - np.sum(folded * np.sin(np.sqrt(np.abs(folded))))
                 + 1e-4 * np.sum(outside * outside))


def levy(z: np.ndarray) -> float:
    w = 1.0 + (z - 1.0) / 4.0
    head = np.sin(np.pi * w[0]) ** 2
    mid = np.sum((w[:-1] - 1.0) ** 2 * (1.0 + 10.0 * np.sin(np.pi * w[:-1] + 1.0) ** 2))
    tail = (w[-1] - 1.0) ** 2 * (1.0 + np.sin(2.0 * np.pi * w[-1]) ** 2)
    return float(head + mid + tail)


def styblinski_tang(z: np.ndarray) -> float:
    return float(0.5 * np.sum(z ** 4 - 16.0 * z ** 2 + 5.0 * z))


FUNCTIONS = {
    "sphere": sphere,
    "rastrigin": rastrigin,
    "rosenbrock": rosenbrock,
    "ackley": ackley,
    "griewank": griewank,
    "schwefel": schwefel,
    "levy": levy,
    "styblinski_tang": styblinski_tang,
}


# --------------------------------------------------------------------------

def _names(dim: int) -> list[str]:
    width = len(str(dim - 1)) if dim > 10 else 1
    return [f"x{k:0{width}d}" for k in range(dim)]


def _config(bounds: list, budget: int, seed: int, probe_ratio: float | None) -> tuple[dict, list[str]]:
    names = _names(len(bounds))
    cfg = {
        "seed": int(seed),
        "budget": int(budget),
        "bounds": {n: {"min": float(lo), "max": float(hi), "scale": "Linear"}
                   for n, (lo, hi) in zip(names, bounds)},
    }
    if probe_ratio is not None:
        cfg["probe_ratio"] = float(probe_ratio)
    return cfg, names


def _ask_tell_loop(solver: ArqonSolver, names: list[str], objective, budget: int) -> dict:
    """Full loop; returns per-evaluation values and timings. Nothing is cut."""
    values: list[float] = []
    points: list[list[float]] = []
    batch_sizes: list[int] = []
    objective_s = 0.0
    nonfinite = 0
    t0 = time.perf_counter()
    while True:
        batch = solver.ask()
        if batch is None:
            break
        if not batch:  # defensive: an empty batch would loop forever
            break
        batch_sizes.append(len(batch))
        results = []
        for cand in batch:
            x = [float(cand[n]) for n in names]
            t1 = time.perf_counter()
            v = objective(x)
            objective_s += time.perf_counter() - t1
            if not math.isfinite(v):  # JSON (and so tell) rejects NaN / inf
                nonfinite += 1
                v = 1e300
            results.append({"eval_id": len(values), "params": dict(cand), "value": v, "cost": 1.0})
            values.append(v)
            points.append(x)
        solver.tell(json.dumps(results))
        if len(batch_sizes) > MAX_ASK_FACTOR * budget + 1000:
            break
    wall_s = time.perf_counter() - t0
    return {"values": values, "points": points, "batch_sizes": batch_sizes,
            "wall_s": wall_s, "objective_s": objective_s, "nonfinite": nonfinite,
            "stopped_by_safety_cap": len(batch_sizes) > MAX_ASK_FACTOR * budget + 1000}


def job_minimize(job: dict) -> dict:
    bounds = job["bounds"]
    dim = len(bounds)
    fname = job["function"]
    budget = int(job["budget"])
    cfg, names = _config(bounds, budget, int(job.get("seed", 0)), job.get("probe_ratio"))
    solver = ArqonSolver(json.dumps(cfg))
    if fname.startswith("bbob:"):
        import ioh

        _, fid, instance = fname.split(":")
        problem = ioh.get_problem(int(fid), instance=int(instance), dimension=dim,
                                  problem_class=ioh.ProblemClass.BBOB)

        def objective(x):
            return float(problem(list(map(float, x))))
    else:
        if fname not in FUNCTIONS:
            raise ValueError(f"unknown function {fname!r}; known: {sorted(FUNCTIONS)} or bbob:FID:INSTANCE")
        f = FUNCTIONS[fname]
        shift = np.asarray(job.get("shift") or [0.0] * dim, dtype=np.float64)
        if shift.shape != (dim,):
            raise ValueError(f"shift has {shift.size} entries, bounds {dim}")

        def objective(x):
            return f(np.asarray(x, dtype=np.float64) - shift)

    r = _ask_tell_loop(solver, names, objective, budget)
    vals = r["values"]
    curve = np.minimum.accumulate(np.asarray(vals)).tolist() if vals else []
    ibest = int(np.argmin(vals)) if vals else -1
    return {
        "best": float(curve[-1]) if curve else float("inf"),
        "best_x": r["points"][ibest] if vals else None,
        "nfev": len(vals),
        "budget": budget,
        "curve": curve,
        "wall_s": r["wall_s"],
        "objective_s": r["objective_s"],
        "n_asks": len(r["batch_sizes"]),
        "batch_sizes": r["batch_sizes"],
        "nonfinite": r["nonfinite"],
        "stopped_by_safety_cap": r["stopped_by_safety_cap"],
        "history_len": solver.get_history_len(),
    }


def job_ask_tell_overhead(job: dict) -> dict:
    dim, budget = int(job["dim"]), int(job["budget"])
    cfg, names = _config([[0.0, 1.0]] * dim, budget, int(job.get("seed", 0)), job.get("probe_ratio"))
    t0 = time.perf_counter()
    solver = ArqonSolver(json.dumps(cfg))
    r = _ask_tell_loop(solver, names, lambda x: float(sum(x)), budget)
    wall_s = time.perf_counter() - t0  # includes construction
    n = len(r["values"])
    return {"wall_s": wall_s, "loop_s": r["wall_s"], "objective_s": r["objective_s"], "nfev": n,
            "n_asks": len(r["batch_sizes"]), "per_eval_s": wall_s / n if n else None}


def job_probe_throughput(job: dict) -> dict:
    dim, count = int(job["dim"]), int(job["count"])
    repeats = max(1, int(job.get("repeats", 3)))
    cfg = {"seed": 0, "budget": count,
           "bounds": {f"x{k}": {"min": 0.0, "max": 1.0, "scale": "Linear"} for k in range(dim)}}
    probe = ArqonProbe(json.dumps(cfg), seed=int(job.get("seed", 42)))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = probe.sample_range(0, count)
        times.append(time.perf_counter() - t0)
        assert len(out) == count
        del out
    best = min(times)
    return {"seconds": best, "times": times, "dim": dim, "count": count,
            "points_per_s": count / best if best > 0 else None}


def job_info(job: dict) -> dict:
    import platform
    return {"arqonhpo": arqonhpo.__version__, "python": platform.python_version(), "numpy": np.__version__}


JOBS = {
    "info": job_info,
    "probe_throughput": job_probe_throughput,
    "minimize": job_minimize,
    "ask_tell_overhead": job_ask_tell_overhead,
}


def main() -> int:
    # The Rust core prints "[Machine] ..." to fd 1; keep fd 1 for our JSON only.
    sys.stdout.flush()
    json_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    try:
        job = json.load(sys.stdin)
        kind = job.get("kind")
        if kind not in JOBS:
            raise ValueError(f"unknown job kind {kind!r}; known: {sorted(JOBS)}")
        result = JOBS[kind](job)
        result.setdefault("kind", kind)
        json.dump(result, json_out)
        json_out.write("\n")
        json_out.flush()
        return 0
    except Exception as exc:  # report as JSON too, and fail
        json.dump({"error": f"{type(exc).__name__}: {exc}"}, json_out)
        json_out.write("\n")
        json_out.flush()
        print(f"arqonhpo_runner: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
