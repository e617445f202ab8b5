"""The ``arqon-jax`` command: a demo, ``minimize`` from the shell, ask/tell over a state file.

Commands (``arqon-jax COMMAND --help`` for each)::

    arqon-jax demo [--quick]                       # shifted Rastrigin 10-D vs random search, with a plot
    arqon-jax minimize --function rastrigin --dim 10 --budget 2000 [--json]
    arqon-jax minimize --objective mymod:loss --bounds '[[-5, 5], [-5, 5]]'
    arqon-jax minimize --objective train.py:score --config space.toml
    arqon-jax ask  --state run.json [--config cfg.json]   # prints a JSON batch; creates the state once
    arqon-jax tell --state run.json [results.jsonl]       # results from a file or stdin
    arqon-jax probe --config cfg.json --start 0 --count 1000 [--format csv|json]
    arqon-jax bench NAME [ARGS...]                  # runs benchmarks/NAME.py; lists them if unknown

Exit status:

* 0: done.
* 1: the user's objective raised; ``minimize`` prints the best point found before that
  on stdout and the exception on stderr (``--traceback`` shows where).
* 2: a user mistake, one line ``arqon-jax COMMAND: error: ...`` on stderr: bad or too
  deeply nested JSON/TOML, NaN or infinite numbers in a config (they have no JSON form,
  so a state file could not hold them), a missing file, invalid bounds, an unknown
  function, or an ``--objective`` written for one point run without ``--pointwise``
  (and the reverse).
* 3: ``minimize`` ran but found no finite value.
* 130: interrupted (Ctrl-C); ``minimize`` prints the best point found so far.
* 141: the reader of stdout went away (e.g. ``arqon-jax probe ... | head``).

Compiled programs are kept in a persistent XLA cache (``$ARQON_JAX_CACHE_DIR``, default
``~/.cache/arqon_jax/xla``; ``--no-cache`` or ``ARQON_JAX_CACHE_DIR=`` turns it off), so
only the first run of a problem shape pays the compilation: this matters most for
``ask``/``tell``, where every call is a new process.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import jax

from . import __version__
from .compat import ArqonProbe, ArqonSolver
from .core.solver import PROBE_RATIO
from .core.space import Space
from .core.validate import check_int
from .demo import run_demo
from .functions import make_problem
from .host.checkpoint import atomic_write_text, locked
from .host.config import check_seed
from .host.evaluate import error_text
from .host.jsonio import (TOO_DEEP, check_depth, check_plain, dumps, load_config_file, parse_json, parse_results,
                          read_text)
from .host.objective import ADVICE, ObjectiveImportError, load_objective
from .host.settings import solver_config
from .minimize import minimize
from .result import OptimizationError

PROG = "arqon-jax"
EXIT_USAGE = 2  # user mistakes, as argparse
EXIT_OBJECTIVE = 1  # the user's objective raised
EXIT_UNSUCCESSFUL = 3  # minimize ran but found no finite value
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT
EXIT_BROKEN_PIPE = 141  # the reader of stdout went away, as shells report SIGPIPE
REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / "benchmarks"  # present in a source checkout (editable install)


class CLIError(Exception):
    """A user mistake: printed as one line, exit status ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (raised, so that ``main`` formats every error alike)."""

    def error(self, message: str):  # noqa: D102 - argparse API
        raise CLIError(f"{message} (see '{self.prog} --help')")


# ============================================================== small helpers
def _disable_cache() -> None:
    """``--no-cache``: no persistent compilation cache, whoever turned it on."""
    jax.config.update("jax_enable_compilation_cache", False)


PROBE_CHUNK = 65536  # rows computed and printed at a time by ``probe``


def _user(fn: Callable, *args: Any) -> Any:
    """Calls a host reader of user input: its ValueError/TypeError is a user mistake, one line."""
    try:
        return fn(*args)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None


@contextlib.contextmanager
def _warnings_to_stderr(command: str):
    """Prints the library's warnings as ``arqon-jax COMMAND: warning: ...`` lines once the block succeeds."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        print(f"{PROG} {command}: warning: {w.message}", file=sys.stderr)


def _fmt(v: Any) -> str:
    if isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)):
        return str(v)
    try:
        return f"{float(v):.6g}"
    except (TypeError, ValueError):
        return repr(v)


def _fmt_stat(v) -> str:
    """The classifier statistic; ``None`` when the run ended before the probe was classified."""
    return "not computed (the run ended in the probe)" if v is None else f"{v:.3f}"


def _fmt_x(x: Any) -> str:
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in x.items()) + "}"
    return "[" + ", ".join(_fmt(v) for v in list(x)) + "]"


# ======================================================================= demo
def cmd_demo(args: argparse.Namespace) -> int:
    quick = args.quick
    dim = args.dim if args.dim is not None else (5 if quick else 10)
    budget = args.budget if args.budget is not None else (2_000 if quick else 200_000)
    batch = args.batch_size if args.batch_size is not None else (20 if quick else 200)
    for name, v in (("--dim", dim), ("--budget", budget), ("--batch-size", batch)):
        _user(check_int, name, v, 1)
    _user(check_seed, args.seed, "--seed")
    if budget % batch:
        raise CLIError(f"--budget: the demo needs a multiple of --batch-size ({batch}), got {budget}")
    problem = _make_problem(args.function, dim, True, False, args.problem_seed)
    out = Path(args.out) if args.out else Path("arqon-jax-demo.png")
    if out.is_dir() or (args.out or "").endswith(("/", os.sep)):  # into the folder, as cp does
        out = out / ("arqon-jax-demo.csv" if args.csv else "arqon-jax-demo.png")
    try:  # before the run, not after it
        out.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise CLIError(f"--out: cannot create the folder {str(out.parent)!r}: a file is in the way") from None
    except OSError as exc:
        raise CLIError(f"--out: cannot create the folder {str(out.parent)!r} ({exc.strerror or exc})") from None
    run_demo(problem, budget, batch, args.seed, out, as_csv=args.csv, prog=f"{PROG} demo")
    return 0


# =================================================================== minimize
def _make_problem(name: str, dim: int, shift: bool, rotate: bool, seed: int):
    try:
        return make_problem(name, dim, shift=shift, rotate=rotate, seed=seed)
    except (ValueError, TypeError) as exc:
        text = str(exc)  # make_problem names its argument; the user typed a flag
        for arg, flag in (("dim: ", "--dim"), ("seed: ", "--problem-seed")):
            if text.startswith(arg):
                raise CLIError(f"{flag}: {text[len(arg):]}") from None
        raise CLIError(f"--function: {text}") from None
    except MemoryError:
        held = "its bounds" + (" and a (dim, dim) rotation (--rotate)" if rotate else "")
        raise CLIError(f"--dim: {dim} dimensions of --function {name} do not fit in memory ({held})") from None


def _load_objective(spec: str) -> Callable:
    try:
        return load_objective(spec, "--objective")
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    except ObjectiveImportError as exc:
        raise CLIError(str(exc), EXIT_OBJECTIVE) from exc.__cause__


def _minimize_settings(args: argparse.Namespace) -> dict:
    """Merges ``--config`` (ArqonHPO's schema) and the flags; flags win."""
    cfg = _user(load_config_file, args.config) if args.config else {}
    known = {"seed", "budget", "bounds", "probe_ratio", "strategy_params", "batch_size", "method", "capacity"}
    unknown = sorted(set(cfg) - known)
    if unknown:
        print(f"{PROG} minimize: warning: ignoring unknown config fields {unknown}", file=sys.stderr)
    s = {
        "budget": cfg.get("budget", 1000),
        "batch_size": cfg.get("batch_size"),
        "seed": cfg.get("seed", 0),
        "method": cfg.get("method", "auto"),
        "probe_ratio": cfg.get("probe_ratio", PROBE_RATIO),
        "capacity": cfg.get("capacity"),
        "bounds": cfg.get("bounds"),
    }
    for name in ("budget", "batch_size", "seed", "method", "probe_ratio"):
        v = getattr(args, name)
        if v is not None:
            s[name] = v
    if args.bounds is not None:
        s["bounds"] = _user(parse_json, args.bounds, "--bounds")
        _user(check_depth, s["bounds"], "--bounds")
        _user(check_plain, s["bounds"], "--bounds")
    if isinstance(s["method"], str):
        # ArqonSolver's config semantics (ArqonHPO's schema: names in any case), so that one
        # config file means the same to `ask` and to `minimize`.
        s["method"] = s["method"].lower()
    for name in ("budget", "batch_size", "seed", "capacity"):
        v = s[name]
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise CLIError(f"{name}: expected an integer, got {v!r}")
    if s["seed"] < 0:
        raise CLIError(f"seed: expected an integer >= 0, got {s['seed']}")
    return s


def _shape_mistake(exc: BaseException, cause: BaseException, args: argparse.Namespace, partial: Any) -> str | None:
    """minimize's confirmed vectorized= advice for an objective of the other form, as CLI flags."""
    if partial is not None and partial.nfev:
        return None  # earlier batches worked: the objective takes the right form
    text = str(exc)
    what = error_text(cause, None)
    for advice in ADVICE.values():  # said again below in the CLI's terms
        what = what.replace(f"; {advice}", "")
    if not args.pointwise and ADVICE[False] in text:
        return (f"--objective: {args.objective} looks like it takes one point, not a batch ({what}); pass --pointwise, "
                "or make it map a (batch, dim) array (a dict of (batch,) arrays for named bounds) to (batch,) values")
    if args.pointwise and ADVICE[True] in text:
        return f"--objective: {args.objective} looks like it takes a batch, not one point ({what}); drop --pointwise"
    return None


def _print_result(args: argparse.Namespace, res: Any, problem: Any) -> None:
    out = {
        "x": res.x, "fun": res.fun, "nfev": res.nfev, "nit": res.nit, "success": res.success, "status": res.status,
        "message": res.message, "n_failed": res.n_failed, "method": res.method, "decision": res.decision,
        "trace": [list(t) for t in res.trace], "path": res.info.get("path"),
        "wall_time_s": res.info.get("wall_time_s"), "polish": res.info.get("polish"),
        "batch_size": res.info.get("batch_size"), "x64": res.info.get("x64"),
        "exhausted": bool(res.info.get("exhausted")),
        "nfev_curve": res.nfev_curve, "best_curve": res.best_curve,
    }
    if problem is not None:
        out["problem"] = {"name": problem.name, "dim": problem.dim, "f_opt": problem.f_opt,
                          "x_opt": problem.x_opt, "gap": res.fun - problem.f_opt}
    if args.json:
        print(dumps(out), flush=True)
        return
    what = problem.name if problem is not None else args.objective
    print(f"{'problem':<12} {what}" + (f"  (f* = {problem.f_opt:g})" if problem is not None else ""))
    print(f"{'best f':<12} {res.fun:.10g}" + (f"  (f - f* = {res.fun - problem.f_opt:.4g})" if problem else ""))
    print(f"{'best x':<12} {_fmt_x(res.x)}")
    wall = res.info.get("wall_time_s")
    print(f"{'evaluations':<12} {res.nfev} ({res.n_failed} failed) in {res.nit} batches, "
          f"{res.info.get('path')} path" + (f", {wall:.2f} s" if wall is not None else ""))
    if res.decision:
        d = res.decision
        print(f"{'method':<12} {res.method}: {', '.join(f'{p} from {n}' for n, p in res.trace)}; "
              f"{d['statistic_name']} = {_fmt_stat(d['statistic'])} ({d['rule']})")
    else:
        print(f"{'method':<12} {res.method}")
    pol = res.info.get("polish")
    if isinstance(pol, dict) and "improvement" in pol:
        print(f"{'polish':<12} {pol.get('evaluations')} evaluations, best f {_fmt(pol.get('before'))} -> "
              f"{_fmt(pol.get('after'))}")
    print(f"{'status':<12} {res.status}: {res.message}", flush=True)


def cmd_minimize(args: argparse.Namespace) -> int:
    if (args.function is None) == (args.objective is None):
        raise CLIError("give exactly one of --function NAME or --objective MODULE:FUNCTION")
    s = _minimize_settings(args)
    problem = None
    if args.function is not None:
        if s["bounds"] is not None:
            raise CLIError("--function: a shipped function has its own bounds; --bounds and config bounds are for "
                           "--objective")
        dim = 10 if args.dim is None else args.dim
        problem = _make_problem(args.function, dim, args.shift, args.rotate, args.problem_seed)
        f, bounds, vectorized = problem.f, problem.bounds, True
    else:
        if args.dim is not None:
            raise CLIError("--dim: only for --function (the bounds give the dimension of an --objective)")
        if s["bounds"] is None:
            raise CLIError("--objective: needs bounds: --bounds '[[low, high], ...]' or a --config with 'bounds'")
        Space.from_bounds(s["bounds"])  # invalid bounds fail here, before importing the user's code
        f = _load_objective(args.objective)
        bounds, vectorized = s["bounds"], not args.pointwise
    try:
        res = minimize(
            f, bounds, budget=s["budget"], batch_size=s["batch_size"], seed=s["seed"], method=s["method"],
            vectorized=vectorized, jit=args.jit, x64=args.float64, probe_ratio=s["probe_ratio"],
            capacity=s["capacity"], progress=args.progress,
            **({} if args.polish is None else {"polish": args.polish}),
        )
    except KeyboardInterrupt as exc:
        # OptimizationInterrupted carries the run so far; a bare Ctrl-C (one that lands
        # in a compiled program, or in a library without that support) has nothing to show.
        partial = getattr(exc, "partial_result", None)
        if partial is not None and partial.nfev:
            _print_result(args, partial, problem)
            sys.stderr.write(f"\n{PROG} minimize: interrupted after {partial.nfev} evaluations; "
                             "the best so far is on stdout\n")
        else:
            sys.stderr.write(f"\n{PROG} minimize: interrupted before any evaluation finished\n")
        return EXIT_INTERRUPTED
    except Exception as exc:
        partial = getattr(exc, "partial_result", None)
        cause = exc.__cause__ if isinstance(exc, OptimizationError) and exc.__cause__ is not None else exc
        if problem is None:
            hint = _shape_mistake(exc, cause, args, partial)
            if hint is not None:
                raise CLIError(hint) from cause
        if partial is None:
            raise  # argument validation (ValueError/TypeError: one line from main) or a bug
        if partial.nfev:
            _print_result(args, partial, problem)
        did = "returned a wrong output:" if str(exc).startswith("f returned a wrong output") else "raised"
        raise CLIError(f"the objective {did} {error_text(cause, None)} (after {partial.nfev} evaluations"
                       + ("; the best so far is on stdout" if partial.nfev else "") + "; --traceback shows where)",
                       EXIT_OBJECTIVE) from cause

    _print_result(args, res, problem)
    return 0 if res.success else EXIT_UNSUCCESSFUL


# ================================================================== ask / tell
def _load_solver(state_path: Path):
    text = _user(read_text, str(state_path), "--state")
    try:
        return ArqonSolver.from_state(text)
    except (ValueError, TypeError) as exc:
        raise CLIError(f"--state: {state_path} is not a usable solver state ({exc})") from None
    except RecursionError:
        raise CLIError(f"--state: {state_path} is not a usable solver state ({TOO_DEEP})") from None


def _config_differs(cfg: dict, solver) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        norm, _ = solver_config(cfg)
    theirs = solver.config
    diff = sorted(k for k in norm if norm[k] != theirs.get(k))
    return ", ".join(diff) if diff else None


def cmd_ask(args: argparse.Namespace) -> int:
    if args.count is not None:
        _user(check_int, "--count", args.count, 1)
    path = Path(args.state)
    cfg = _user(load_config_file, args.config) if args.config else None
    if cfg is None and not path.exists():
        raise CLIError(f"--state: {path} does not exist; give --config to create it")
    fresh = None
    if not path.exists():  # validate the config before touching the folder
        with _warnings_to_stderr("ask"):
            fresh = ArqonSolver(cfg)
        if not path.parent.is_dir():
            raise CLIError(f"--state: cannot create {path}: the folder {path.parent} does not exist")
    with locked(path):
        if path.exists():  # checked again under the lock: a parallel first call may have created it
            solver = _load_solver(path)
            if cfg is not None:
                diff = _config_differs(cfg, solver)
                if diff:
                    raise CLIError(f"--config: differs from the one {path} was created with ({diff}); "
                                   "drop --config to continue that run, or use a new --state file")
        else:
            solver = fresh
        first = solver.n_proposed
        if args.count is None:
            batch = solver.ask()
        else:
            batch = []
            while len(batch) < args.count and (p := solver.ask_one()) is not None:
                batch.append(p)
            batch = batch or None
        if batch is not None:
            # The state is saved before the batch is printed: a proposal is never shown
            # without being recorded as handed out.
            atomic_write_text(path, solver.export())
    if batch is None:
        print("null")
        print(f"{PROG} ask: the budget is spent ({solver.n_proposed} proposals); nothing to ask", file=sys.stderr)
        return 0
    out = [{"eval_id": first + k, "params": p} for k, p in enumerate(batch)]
    if args.format == "jsonl":
        sys.stdout.write("".join(dumps(o) + "\n" for o in out))
    else:
        print(dumps(out))
    return 0


def cmd_tell(args: argparse.Namespace) -> int:
    path = Path(args.state)
    results = _user(parse_results, _user(read_text, args.results, "results"),
                    "results" if args.results == "-" else args.results)
    if not path.exists():
        raise CLIError(f"--state: {path} does not exist; create it with '{PROG} ask --state {path} --config CFG'")
    with _warnings_to_stderr("tell"), locked(path):
        solver = _load_solver(path)
        try:
            solver.tell(results)
        except (ValueError, TypeError) as exc:
            raise CLIError(f"{exc} (nothing was recorded)") from None
        atomic_write_text(path, solver.export())
    if not args.quiet:
        print(f"{PROG} tell: recorded {len(results)} result(s); {solver.get_history_len()} in all, "
              f"{solver.n_proposed} proposals handed out, budget left {solver.budget_left}", file=sys.stderr)
    return 0


# ====================================================================== probe
def cmd_probe(args: argparse.Namespace) -> int:
    cfg = _user(load_config_file, args.config)
    seed = args.seed if args.seed is not None else cfg.get("seed", 42)
    if args.start < 0 or args.count < 0:
        raise CLIError(f"--start/--count: expected integers >= 0, got {args.start}, {args.count}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArqonProbe ignores the solver fields of a shared config
        probe = ArqonProbe(cfg, seed=seed, shift=args.shift)
    start, count = args.start, args.count
    if count:
        try:  # the last index, checked before anything is printed
            probe.sample_array(start + count - 1, 1)
        except ValueError as exc:
            raise CLIError(f"--start/--count: points {start} .. {start + count - 1} are out of range ({exc})") from None
    names = list(probe.names)
    out = sys.stdout
    # Streamed in bounded chunks: memory stays flat whatever --count is.
    if args.format == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["index", *names])
    elif args.format == "json":
        out.write("[")
    for lo in range(start, start + count, PROBE_CHUNK):
        n = min(PROBE_CHUNK, start + count - lo)
        records = probe.space.to_records(probe.sample_array(lo, n))
        if args.format == "csv":
            w.writerows([lo + i, *(repr(v) if isinstance(v, float) else v for v in (rec[k] for k in names))]
                        for i, rec in enumerate(records))
        elif args.format == "jsonl":
            out.write("".join(dumps({"index": lo + i, "params": r}) + "\n" for i, r in enumerate(records)))
        else:
            # Separators as json.dumps writes them, so the text equals one dumps of the whole list.
            out.write(("" if lo == start else ", ")
                      + ", ".join(dumps({"index": lo + i, "params": r}) for i, r in enumerate(records)))
    if args.format == "json":
        out.write("]\n")
    out.flush()
    return 0


# ====================================================================== bench
def _bench_scripts() -> dict[str, Path]:
    if not BENCH_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(BENCH_DIR.glob("*.py")) if not p.stem.startswith("_") and p.stem != "make_readme"}


def _bench_summary(path: Path) -> str:
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    except (OSError, SyntaxError):
        return ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def cmd_bench(args: argparse.Namespace) -> int:
    scripts = _bench_scripts()
    if not scripts:
        raise CLIError(f"no benchmarks found: {BENCH_DIR} is missing (they ship with the source checkout)")
    listing = "\n".join(f"  {n:<20} {_bench_summary(p)}" for n, p in scripts.items())
    if args.name is None or args.name == "list":
        print(f"benchmarks in {BENCH_DIR}:\n{listing}")
        return 0
    name = args.name[:-3] if args.name.endswith(".py") else args.name
    if name not in scripts:
        sys.stderr.write(f"{PROG} bench: error: unknown benchmark {args.name!r}; available: {', '.join(scripts)}\n")
        return EXIT_USAGE
    quick = "--quick" in args.args
    explicit_out = any(a == "--out" or a.startswith("--out=") for a in args.args)
    root, env, sandboxed = REPO_ROOT, None, quick and not explicit_out
    if sandboxed:
        # A smoke run must not overwrite the committed results: it runs a copy of
        # benchmarks/ (scripts find results/ next to themselves) in a fresh folder.
        root = Path(tempfile.mkdtemp(prefix=f"arqon-jax-bench-{name}-"))
        shutil.copytree(BENCH_DIR, root / "benchmarks", ignore=shutil.ignore_patterns(".peer_env", "__pycache__"))
        env = dict(os.environ)
        env.setdefault("ARQON_PEER_ENV", str(BENCH_DIR / ".peer_env"))
        package_root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"), package_root]))
    bench_dir = root / "benchmarks" if sandboxed else BENCH_DIR
    script = bench_dir / scripts[name].relative_to(BENCH_DIR)
    cmd = [sys.executable, str(script), *args.args]
    print(f"{PROG} bench: running {' '.join(cmd)}", file=sys.stderr, flush=True)
    t0 = time.time()
    rc = subprocess.call(cmd, cwd=str(root), env=env)
    results = bench_dir / "results"
    written = sorted(p for p in results.glob("*" if sandboxed else f"{name}*")
                     if p.is_file() and p.stat().st_mtime >= t0 - 1)
    if sandboxed:
        print(f"{PROG} bench: a --quick run leaves benchmarks/results alone; its results are in {results}"
              + (": " + ", ".join(p.name for p in written) if written else "")
              + " (--out DIR chooses the folder, where the script has that option)", file=sys.stderr)
    elif written:
        print(f"{PROG} bench: results written: " + ", ".join(str(p.relative_to(REPO_ROOT)) for p in written)
              + f" (refresh the index with: python {BENCH_DIR.relative_to(REPO_ROOT) / 'make_readme.py'})",
              file=sys.stderr)
    if rc:
        print(f"{PROG} bench: error: {name} exited with status {rc} (the benchmarks' peers, Optuna, "
              "Nevergrad, Ray Tune, scikit-learn, come with: pip install -e \".[bench]\")", file=sys.stderr)
    return rc


# ===================================================================== parser
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--traceback", action="store_true", help="show full Python tracebacks on errors")
    common.add_argument("--no-cache", action="store_true",
                        help="do not use the persistent compilation cache ($ARQON_JAX_CACHE_DIR, default "
                             "~/.cache/arqon_jax/xla)")
    fmt = argparse.RawDescriptionHelpFormatter
    p = _Parser(prog=PROG, description="arqon_jax: probe, classify, refine, as compiled JAX kernels.",
                epilog="Run 'arqon-jax COMMAND --help' for the options of a command.\n\nexit status: 0 done; 1 the "
                       "objective raised (minimize prints the best so far); 2 a usage error; 3 minimize found no "
                       "finite value;\n130 interrupted (Ctrl-C); 141 the reader of stdout went away.",
                formatter_class=fmt)
    p.add_argument("--version", action="version", version=f"arqon_jax {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    d = sub.add_parser("demo", parents=[common], formatter_class=fmt,
                       help="minimize shifted Rastrigin 10-D next to random search, with a plot",
                       description="Minimizes a shifted test function (default Rastrigin, 10-D, 200,000 "
                                   "evaluations) with method='auto', shows a progress bar, compares with plain "
                                   "random search on the same budget and writes a convergence plot (PNG with "
                                   "matplotlib, else CSV). The search runs on the device in compiled chunks so "
                                   "that the bar moves; the result equals minimize(..., polish=False) with the "
                                   "same arguments (the demo leaves out minimize's final gradient polish).")
    d.add_argument("--quick", action="store_true", help="small run for tests: 5-D, budget 2,000, batch 20")
    d.add_argument("--function", default="rastrigin", help="shipped test function (default rastrigin)")
    d.add_argument("--dim", type=int, default=None, help="dimensions (default 10; 5 with --quick)")
    d.add_argument("--budget", type=int, default=None, help="evaluations (default 200,000; 2,000 with --quick)")
    d.add_argument("--batch-size", type=int, default=None, help="points per batch (default 200; 20 with --quick)")
    d.add_argument("--seed", type=int, default=0, help="solver seed (default 0)")
    d.add_argument("--problem-seed", type=int, default=0, help="seed of the shift of the optimum (default 0)")
    d.add_argument("--out", default=None, help="plot path (default ./arqon-jax-demo.png; a .csv suffix writes CSV, "
                                               "any other suffix becomes .png; an existing folder, or a path "
                                               "ending in /, gets arqon-jax-demo.png inside it)")
    d.add_argument("--csv", action="store_true", help="write the curves as CSV even if matplotlib is installed")
    d.set_defaults(func=cmd_demo)

    m = sub.add_parser("minimize", parents=[common], formatter_class=fmt,
                       help="minimize a shipped function or your own objective",
                       description="Minimizes a shipped test function (--function NAME --dim D) or your objective "
                                   "(--objective MODULE:FUNCTION or FILE.py:FUNCTION, with --bounds or a --config "
                                   "in ArqonHPO's schema: bounds, budget, seed, batch_size, method, probe_ratio, "
                                   "capacity). Flags override the config. The objective is vectorized by default "
                                   "((batch, dim) array, or a dict of (batch,) arrays for named bounds -> (batch,)); "
                                   "--pointwise passes one point at a time.",
                       epilog="examples:\n"
                              "  arqon-jax minimize --function rastrigin --dim 10 --budget 2000\n"
                              "  arqon-jax minimize --objective mymod:loss --bounds '[[-5, 5], [-5, 5]]' --json\n"
                              "  arqon-jax minimize --objective train.py:score --config space.toml --pointwise")
    src = m.add_argument_group("problem")
    src.add_argument("--function", help="shipped test function: sphere, rastrigin, rosenbrock, ackley, griewank, "
                                        "schwefel, levy, styblinski_tang, ellipsoid")
    src.add_argument("--dim", type=int, default=None, help="dimensions of --function (default 10)")
    src.add_argument("--shift", action=argparse.BooleanOptionalAction, default=True,
                     help="move --function's optimum off the centre (default: on)")
    src.add_argument("--rotate", action="store_true", help="rotate --function about its optimum")
    src.add_argument("--problem-seed", type=int, default=0, help="seed of the shift/rotation (default 0)")
    src.add_argument("--objective", help="MODULE:FUNCTION (importable from the current folder) or FILE.py:FUNCTION")
    src.add_argument("--bounds", help="JSON bounds: [[low, high], ...] or {\"name\": {\"min\", \"max\", \"scale\"}}")
    src.add_argument("--config", help="JSON or TOML file (or inline JSON) in ArqonHPO's schema")
    src.add_argument("--pointwise", action="store_true", help="the objective takes one point, not a batch")
    run = m.add_argument_group("run")
    run.add_argument("--budget", type=int, default=None, help="evaluations (default: the config's, else 1000)")
    run.add_argument("--batch-size", dest="batch_size", type=int, default=None, help="points per batch")
    run.add_argument("--seed", type=int, default=None, help="seed (default: the config's, else 0)")
    run.add_argument("--method", default=None, help="auto (default), tpe, nelder-mead, cmaes, gp, random")
    run.add_argument("--probe-ratio", dest="probe_ratio", type=float, default=None,
                     help=f"share of the budget probed (default {PROBE_RATIO}; at least 2 points per dimension, "
                          "up to half the budget, in whole batches)")
    run.add_argument("--float64", dest="float64", action=argparse.BooleanOptionalAction, default=None,
                     help="rank in float64 (--float64) or float32 (--no-float64); default: float64 on the host "
                          "path, float32 on the device path")
    run.add_argument("--no-polish", dest="polish", action="store_false", default=None,
                     help="skip minimize's final gradient polish (default: as minimize decides)")
    run.add_argument("--jit", action=argparse.BooleanOptionalAction, default=None,
                     help="force the device path (--jit) or the host loop (--no-jit); default: detect")
    run.add_argument("--progress", action="store_true", help="progress line on stderr")
    run.add_argument("--json", action="store_true", help="print the result as one JSON object")
    m.set_defaults(func=cmd_minimize)

    a = sub.add_parser("ask", parents=[common], formatter_class=fmt,
                       help="print the next batch of a run kept in a state file",
                       description="Prints the next batch as JSON: [{\"eval_id\": k, \"params\": {...}}, ...], or "
                                   "null when the budget is spent. The first call creates the state file from "
                                   "--config (ArqonHPO's schema, JSON or TOML); later calls continue it. The state "
                                   "is ArqonSolver.export()'s JSON, replaced atomically after each call.",
                       epilog="a loop in any language:\n"
                              "  arqon-jax ask  --state run.json --config cfg.json > batch.json\n"
                              "  # evaluate, write [{\"eval_id\": k, \"params\": {...}, \"value\": y}, ...]\n"
                              "  arqon-jax tell --state run.json results.json")
    a.add_argument("--state", required=True, help="state file (created on first use with --config)")
    a.add_argument("--config", help="solver config (JSON/TOML file or inline JSON); needed to create the state")
    a.add_argument("--count", type=int, default=None,
                   help="hand out at most N candidates (ask_one N times) instead of the solver's batch")
    a.add_argument("--format", choices=("json", "jsonl"), default="json", help="a JSON array (default) or JSON lines")
    a.set_defaults(func=cmd_ask)

    t = sub.add_parser("tell", parents=[common], formatter_class=fmt,
                       help="record results in a state file",
                       description="Reads results, a JSON array or JSON lines of {\"eval_id\", \"params\", \"value\"} "
                                   "(value null, NaN or Infinity = a failed evaluation; params or eval_id may be "
                                   "left out, not both), from RESULTS or stdin, and records them in the state file "
                                   "(atomically; nothing is recorded if any entry is invalid).")
    t.add_argument("--state", required=True, help="state file written by 'arqon-jax ask'")
    t.add_argument("results", nargs="?", default="-", help="results file (default: stdin)")
    t.add_argument("--quiet", action="store_true", help="no summary line on stderr")
    t.set_defaults(func=cmd_tell)

    pr = sub.add_parser("probe", parents=[common], formatter_class=fmt,
                        help="print probe points start .. start+count-1 (for sharding)",
                        description="Prints points START .. START+COUNT-1 of the Kronecker probe sequence for the "
                                    "config's bounds (ArqonProbe; ArqonHPO's exact sequence unless --shift). Any "
                                    "split of an index range gives the same points, so shards can be made in the "
                                    "shell. Categorical parameters print their choice.")
    pr.add_argument("--config", required=True, help="config with 'bounds' (JSON/TOML file or inline JSON)")
    pr.add_argument("--start", type=int, default=0, help="first index (default 0)")
    pr.add_argument("--count", type=int, required=True, help="number of points")
    pr.add_argument("--seed", type=int, default=None, help="sequence seed (default: the config's 'seed', else 42)")
    pr.add_argument("--shift", action="store_true", help="add arqon_jax's seeded Cranley-Patterson shift")
    pr.add_argument("--format", choices=("csv", "json", "jsonl"), default="csv", help="output format (default csv)")
    pr.set_defaults(func=cmd_probe)

    b = sub.add_parser("bench", parents=[common], formatter_class=fmt,
                       help="run a benchmark script from benchmarks/ (lists them without NAME)",
                       description="Runs benchmarks/NAME.py with this Python, from the repository root, passing "
                                   "the remaining arguments (e.g. --quick); the script writes benchmarks/results/. "
                                   "A --quick run without --out runs a copy of benchmarks/ in a new temporary "
                                   "folder, so the committed results stay as they are; the folder is printed. "
                                   "Without NAME (or with 'list'), lists the benchmarks.")
    b.add_argument("name", nargs="?", default=None, help="script name without .py")
    b.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script, e.g. --quick")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status (also when called in-process)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except CLIError as exc:
        sys.stderr.write(f"{_prog_of(argv)}: error: {exc}\n")
        return exc.code
    except SystemExit as exc:  # --help, --version
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    prog = f"{PROG} {args.command}"
    try:
        if args.command != "bench":
            if args.no_cache:
                _disable_cache()
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # The reader went away (``arqon-jax probe ... | head``): stop quietly, and keep
        # Python from complaining again when it flushes stdout at exit.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except CLIError as exc:
        if args.traceback and exc.__cause__ is not None:
            traceback.print_exception(exc.__cause__)
        sys.stderr.write(f"{prog}: error: {exc}\n")
        return exc.code
    except (ValueError, TypeError, OSError) as exc:
        # Validation errors of the library name the argument; a file we could not write says why.
        if args.traceback:
            raise
        sys.stderr.write(f"{prog}: error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{prog}: interrupted\n")
        return EXIT_INTERRUPTED


def _prog_of(argv: list[str]) -> str:
    cmds = {"demo", "minimize", "ask", "tell", "probe", "bench"}
    first = next((a for a in argv if not a.startswith("-")), None)
    return f"{PROG} {first}" if first in cmds else PROG


if __name__ == "__main__":
    sys.exit(main())
