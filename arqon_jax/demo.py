"""The main demo (``arqon-jax demo``): a shifted test function, arqon_jax against random search, a plot.

:func:`run_demo` runs :func:`~arqon_jax.minimize`'s chunked device loop (the one its
checkpoints use) with a progress bar, times it next to plain random search on the same
budget, prints a table and writes the convergence curves (:func:`write_curves`).
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .core.solver import make_solver
from .core.space import Space
from .host.config import seed_key
from .host.device import device_chunks
from .host.outcome import build_result
from .host.progress import Progress
from .host.run import step_evaluations
from .result import STATUS_OK

__all__ = ["run_demo", "write_curves"]


def _divisor_near(steps: int, parts: int) -> int:
    """Largest divisor ``d`` of ``steps`` with at least ``parts`` chunks of ``d`` steps (or ``steps`` chunks of 1)."""
    best = 1
    for d in range(1, steps + 1):
        if steps % d == 0 and steps // d >= min(parts, steps):
            best = d
    return best


def write_curves(out: Path, curves: dict[str, tuple[Any, Any]], f_opt: float, title: str,
                  use_matplotlib: bool = True, marks: Sequence[tuple[int, str]] = ()) -> tuple[Path, str]:
    """Writes the convergence curves: a PNG with matplotlib (Agg), else CSV.

    Args:
        out: Requested path; a ``.csv`` suffix forces CSV.
        curves: label -> (evaluations (n,), best value so far (n,)).
        f_opt: Known optimum; the plot shows ``best - f_opt``.
        title: Plot title.
        use_matplotlib: False forces CSV.
        marks: ``(evaluation, phase name)`` pairs drawn as vertical lines on the plot.

    Returns:
        The path written and a note for the user.
    """
    import numpy as np

    if use_matplotlib and out.suffix.lower() != ".csv":
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError:
            use_matplotlib = False
            note = ("convergence curves as CSV, not a PNG (matplotlib is not installed; "
                    "pip install 'arqon_jax[demo]' adds it)")
        else:
            # Figure + Agg canvas: no pyplot, so no global backend state is touched.
            fig = Figure(figsize=(7, 4.5), dpi=110)
            FigureCanvasAgg(fig)
            ax = fig.add_subplot(1, 1, 1)
            for label, (n, y) in curves.items():
                gap = np.maximum(np.asarray(y, np.float64) - f_opt, 1e-12)
                ax.step(np.asarray(n), gap, where="post", label=label)
            for n0, phase in marks:
                if n0 > 0:
                    ax.axvline(n0, color="grey", lw=0.8, ls="--")
                    ax.annotate(f" {phase}", (n0, 1.0), xycoords=("data", "axes fraction"), va="top",
                                fontsize=8, color="grey")
            ax.set(xscale="log", yscale="log", xlabel="evaluations", ylabel="best f - f* (0 drawn at 1e-12)")
            ax.set_title(title, fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
            fig.tight_layout()
            out = out if out.suffix.lower() == ".png" else out.with_suffix(".png")
            fig.savefig(out)
            return out, "convergence plot"
    else:
        note = "convergence curves (CSV)"
    out = out.with_suffix(".csv")
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["solver", "evaluations", "best"])
        for label, (n, y) in curves.items():
            w.writerows([label, a, repr(b)] for a, b in zip(np.asarray(n).tolist(), np.asarray(y, np.float64).tolist()))
    return out, note


def run_demo(problem: Any, budget: int, batch: int, seed: int, out: Path, *, as_csv: bool = False,
             prog: str = "arqon-jax demo") -> Path:
    """Runs the demo on ``problem`` (a :class:`arqon_jax.functions.Problem`) and writes its plot.

    Args:
        problem: The shifted test problem.
        budget: Evaluations, a multiple of ``batch``.
        batch: Points per batch.
        seed: Solver seed (random search uses it too).
        out: Plot path (``.csv`` writes CSV).
        as_csv: Write CSV even if matplotlib is installed.
        prog: Prefix of the printed header line.

    Returns:
        The path written.
    """
    space = Space.from_bounds(problem.bounds)
    dim = space.dim
    solver = make_solver(space, budget, batch)
    steps = budget // batch
    chunk = _divisor_near(steps, 40)
    n_chunks = steps // chunk

    # The device path of minimize() is one compiled loop over the whole budget, so
    # its progress shows only at the end. The demo runs minimize's own chunked device
    # loop (the one its checkpoints use) in chunks of `chunk` steps: the bar moves, and
    # the result is bit for bit minimize(problem.f, problem.bounds, budget=budget,
    # batch_size=batch, seed=seed, polish=False): the demo shows the probe, classify,
    # refine loop alone, without the gradient polish minimize() adds at the end.
    name = problem.base.name.replace("_", " ").title()
    print(f"{prog}: shifted {name}, {dim}-D (minimum f* = {problem.f_opt:g} at a point off the centre), "
          f"budget {budget:,} evaluations in batches of {batch}, seed {seed}")
    print(f"  device: {jax.devices()[0].platform}; compiling the search "
          "(once per problem shape, kept in the disk cache) ...", flush=True)
    t0 = time.perf_counter()
    state0 = jax.jit(solver.init)(seed_key(seed, "--seed"))
    consts = jax.device_put(space.unit_constants(solver.dtype))
    run_chunk = device_chunks(problem.f, solver).lower(state0, consts, 0, chunk, steps, 0, chunk).compile()
    f_jit = jax.jit(problem.f)
    compile_s = time.perf_counter() - t0
    print(f"  compiled in {compile_s:.1f} s; running {n_chunks} chunks of {chunk * batch:,} evaluations", flush=True)

    bar = Progress(budget)
    t1 = time.perf_counter()
    state, curves = state0, []
    for i in range(n_chunks):
        state, c = run_chunk(state, consts, i * chunk, (i + 1) * chunk, steps, 0)
        c = np.asarray(c)  # waits for the chunk
        curves.append(c)
        bar.update((i + 1) * chunk * batch, float(c[-1]), final=i == n_chunks - 1)
    run_s = time.perf_counter() - t1
    curve = np.concatenate(curves)
    nfev_curve = step_evaluations(steps, batch, budget)
    res = build_result(solver, state, curve, nfev_curve, STATUS_OK, None,
                        {"path": "device (chunked)", "wall_time_s": run_s, "compile_s": compile_s})

    # Plain random search with the same budget: numpy uniform points, same objective.
    rng = np.random.default_rng(seed)
    lo, hi = problem.bounds[:, 0], problem.bounds[:, 1]
    rand_best = np.empty(steps)
    best_so_far = math.inf
    block = chunk * batch
    f_jit(jnp.zeros((block, dim), jnp.float32)).block_until_ready()  # compile outside the timing
    t2 = time.perf_counter()
    for s in range(0, budget, block):
        X = (lo + rng.random((block, dim)) * (hi - lo)).astype(np.float32)
        y = np.asarray(f_jit(X), np.float64).reshape(-1, batch).min(axis=1)
        y = np.minimum.accumulate(np.minimum(y, best_so_far))
        rand_best[s // batch : s // batch + len(y)] = y
        best_so_far = float(y[-1])
    rand_s = time.perf_counter() - t2

    f_opt = problem.f_opt
    gap_a, gap_r = res.fun - f_opt, best_so_far - f_opt
    strat = res.decision.get("strategy")
    label_a = f"arqon_jax (auto: {strat})" if strat else "arqon_jax (auto)"
    print()
    print(f"  {'solver':<34} {'best f':>12} {'f - f*':>12} {'evals/s':>12}")
    print(f"  {label_a:<34} {res.fun:>12.6g} {gap_a:>12.4g} {budget / max(run_s, 1e-9):>12,.0f}")
    print(f"  {'random search (numpy, same budget)':<34} {best_so_far:>12.6g} {gap_r:>12.4g} "
          f"{budget / max(rand_s, 1e-9):>12,.0f}")
    hit = np.flatnonzero(curve <= best_so_far)
    if hit.size and gap_a < gap_r:
        n_hit = int(nfev_curve[hit[0]])
        # A ratio to a gap of exactly 0 says nothing ("6e+301x closer"): say f* was reached.
        end = "hit f* exactly (f - f* = 0)" if gap_a <= 0 else f"ended {gap_r / gap_a:.3g}x closer to f*"
        print(f"  arqon_jax reached random search's final value after {n_hit:,} evaluations "
              f"({budget / n_hit:.0f}x fewer) and {end}.")
    else:
        print("  arqon_jax did not beat random search on this run (it can happen on small budgets).")
    if res.decision:
        d = res.decision
        stat = "not computed" if d["statistic"] is None else f"{d['statistic']:.3f}"
        print(f"  classifier: {d['statistic_name']} = {stat} (threshold {d['threshold']:g}) -> {strat}")
    print(f"  time: compile {compile_s:.1f} s (paid once per problem shape), search {run_s:.2f} s")

    out.parent.mkdir(parents=True, exist_ok=True)
    title = f"shifted {name} {dim}-D, budget {budget:,}, batch {batch}"
    path, note = write_curves(out, {label_a: (nfev_curve, curve), "random search": (nfev_curve, rand_best)},
                               f_opt, title, use_matplotlib=not as_csv,
                               marks=res.trace)
    # The path comes last, after the only ": " of the line, so scripts can split it off.
    print(f"  {note}: {path.resolve()}")
    return path


