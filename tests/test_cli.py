"""The ``arqon-jax`` command line: every command end to end, the ask/tell state file, errors.

Subprocesses each import JAX and compile, so only one per command runs as a real process
(about ten in all, sharing one temporary XLA cache); argument parsing, error formatting
and the rest of the ask/tell loop run in-process through ``main([...])``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import arqon_jax
from arqon_jax import ArqonProbe, ArqonSolver, cli
from arqon_jax.demo import write_curves
from arqon_jax.functions import make_problem
from arqon_jax.host.jsonio import parse_results

ROOT = Path(__file__).resolve().parent.parent

CFG = {
    "seed": 7,
    "budget": 23,  # not a multiple of the batch: the last batch is cut
    "batch_size": 5,
    "bounds": {
        "x": {"min": -5.0, "max": 5.0},
        "lr": {"min": 1e-4, "max": 1.0, "scale": "Log"},
        "n": {"min": 1, "max": 8, "scale": "Integer"},
    },
}

OBJECTIVES = textwrap.dedent(
    """
    import numpy as np

    def point(p):
        return (np.log10(p["lr"]) + 3.0) ** 2 + p["layers"] + (0.0 if p["act"] == "relu" else 1.0)

    def boom(x):
        raise RuntimeError("kaboom from the objective")
    """
)

SPACE_TOML = textwrap.dedent(
    """
    budget = 40
    seed = 3
    method = "Random"  # ArqonSolver's config semantics: any case

    [bounds.lr]
    min = 1e-5
    max = 0.1
    scale = "Log"

    [bounds.layers]
    min = 1
    max = 8
    scale = "Integer"

    [bounds.act]
    choices = ["relu", "gelu"]
    """
)


def value_of(params: dict) -> float:
    """The objective both drivers of the round trip use."""
    return (params["x"] - 1.0) ** 2 + math.log10(params["lr"]) ** 2 + 0.1 * params["n"]


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("xla_cache")
    env = dict(os.environ, ARQON_JAX_CACHE_DIR=str(cache), JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.fixture(autouse=True)
def _no_cache_in_process(monkeypatch):
    # main() called in-process must not switch on the persistent cache for the test session.
    monkeypatch.setenv("ARQON_JAX_CACHE_DIR", "")


def run_cli(env, *args, input=None, cwd=None, exe=None):
    cmd = [exe] if exe else [sys.executable, "-m", "arqon_jax.cli"]
    return subprocess.run([*cmd, *map(str, args)], input=input, capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)


def call(capsys, *args):
    """``main([...])`` in-process; returns (exit status, stdout, stderr)."""
    rc = cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def assert_one_line_error(rc, err, cmd, *needles, code=2):
    assert rc == code, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    prefix = "arqon-jax" + (f" {cmd}" if cmd else "") + ": error: "
    assert lines[0].startswith(prefix), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, err)


# --------------------------------------------------------------------- entry point
def test_entry_point_is_installed_and_runs(cli_env):
    exe = shutil.which("arqon-jax")
    if exe is None:
        pytest.skip("arqon-jax is not on PATH (run `pip install -e .`); python -m arqon_jax.cli is tested below")
    r = run_cli(cli_env, "--help", exe=exe)
    assert r.returncode == 0, r.stderr
    for command in ("demo", "minimize", "ask", "tell", "probe", "bench"):
        assert command in r.stdout


@pytest.mark.parametrize("command", ["demo", "minimize", "ask", "tell", "probe", "bench"])
def test_help_on_every_command(capsys, command):
    rc, out, _ = call(capsys, command, "--help")
    assert rc == 0
    assert out.startswith(f"usage: arqon-jax {command}")


def test_no_command_prints_help_and_fails(capsys):
    rc, _, err = call(capsys)
    assert rc == 2 and "COMMAND" in err


# --------------------------------------------------------------------------- demo
def test_demo_quick_writes_plot_and_compares_with_random(cli_env, tmp_path):
    # Default output, in a fresh folder: a PNG (matplotlib comes with the demo and test
    # extras) and nothing that .gitignore does not cover.
    r = run_cli(cli_env, "demo", "--quick", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "2,000/2,000 evals" in r.stderr  # the progress bar reached the end
    assert "random search" in r.stdout
    last = r.stdout.strip().splitlines()[-1]
    assert last.strip().startswith("convergence plot: ")
    written = Path(last.split(": ", 1)[1])
    assert written == (tmp_path / "arqon-jax-demo.png").resolve()
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["arqon-jax-demo.png"]
    ignored = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "--no-index", *left],
                             capture_output=True, text=True)
    assert ignored.stdout.split() == left, ignored.stderr
    # Both rows of the comparison table carry finite best values.
    rows = [ln for ln in r.stdout.splitlines() if ln.strip().startswith(("arqon_jax (auto", "random search (numpy"))]
    assert len(rows) == 2
    for row in rows:
        assert math.isfinite(float(row.split()[-3]))
    # The summary's ratio of gaps is a real one: a gap of 0 is said in words, not as 1e301x.
    summary = [ln for ln in r.stdout.splitlines() if "reached random search's final value" in ln]
    if summary:
        m = re.search(r"ended (\S+)x closer to f\*", summary[0])
        gap = float(rows[0].split()[-2])
        assert (m is None) == (gap <= 0) and (m is None or float(m.group(1)) < 1e30), summary[0]


def test_demo_without_matplotlib_writes_csv_where_asked(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    monkeypatch.chdir(tmp_path)
    rc, out, err = call(capsys, "demo", "--dim", 2, "--budget", 200, "--batch-size", 20,
                        "--out", Path("plots", "sub", "demo.png"))
    assert rc == 0, err
    last = out.strip().splitlines()[-1]
    assert "matplotlib is not installed" in last and "arqon_jax[demo]" in last
    written = Path(last.split(": ", 1)[1])  # the path follows the line's only ": "
    assert written == (tmp_path / "plots" / "sub" / "demo.csv").resolve()
    rows = list(csv.reader(written.open()))
    assert rows[0] == ["solver", "evaluations", "best"]
    assert len(rows) == 1 + 2 * 10  # two solvers, 10 batches each
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plots"]


def test_demo_out_an_existing_folder_writes_into_it(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # CSV: fast, and the same path logic
    (tmp_path / "plots").mkdir()
    monkeypatch.chdir(tmp_path)
    rc, out, err = call(capsys, "demo", "--dim", 2, "--budget", 40, "--batch-size", 20, "--out", "plots")
    assert rc == 0, err
    written = Path(out.strip().splitlines()[-1].split(": ", 1)[1])
    assert written == (tmp_path / "plots" / "arqon-jax-demo.csv").resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plots"]
    # A trailing slash names a folder, made if missing.
    rc, out, err = call(capsys, "demo", "--dim", 2, "--budget", 40, "--batch-size", 20, "--out", "new/")
    assert rc == 0, err
    assert Path(out.strip().splitlines()[-1].split(": ", 1)[1]) == (tmp_path / "new" / "arqon-jax-demo.csv").resolve()


def test_demo_csv_fallback(tmp_path):
    n = np.array([10, 20, 30])
    curves = {"arqon_jax": (n, np.array([5.0, 2.0, 1.0])), "random search": (n, np.array([6.0, 6.0, 4.0]))}
    path, note = write_curves(tmp_path / "c.png", curves, 0.0, "t", use_matplotlib=False)
    assert path == tmp_path / "c.csv" and "CSV" in note
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["solver", "evaluations", "best"]
    assert rows[1:4] == [["arqon_jax", "10", "5.0"], ["arqon_jax", "20", "2.0"], ["arqon_jax", "30", "1.0"]]
    assert rows[-1] == ["random search", "30", "4.0"]


def test_demo_rejects_budget_not_multiple_of_batch(capsys):
    rc, _, err = call(capsys, "demo", "--budget", "1001", "--batch-size", "20")
    assert_one_line_error(rc, err, "demo", "--budget", "multiple")


# ----------------------------------------------------------------------- minimize
@pytest.mark.parametrize("args, flag, says", [
    (("--dim", 1), "--dim", "expected an integer in [2, 2147483647], got 1"),
    (("--dim", 10**20), "--dim", "expected an integer in [2, 2147483647]"),
    (("--problem-seed", -1), "--problem-seed", "expected an integer in [0, 2**64), got -1"),
])
def test_minimize_names_the_flag_of_a_bad_problem_setting(capsys, args, flag, says):
    # make_problem names its argument (dim, seed); the user typed a flag (it said --function).
    rc, _, err = call(capsys, "minimize", "--function", "rosenbrock", *args, "--budget", 20, "--json")
    assert_one_line_error(rc, err, "minimize", f"error: {flag}: {says}")


def test_minimize_a_problem_too_large_for_memory_is_one_line(capsys, monkeypatch):
    def too_big(*args, **kwargs):
        raise MemoryError("Unable to allocate 32.0 GiB")

    monkeypatch.setattr(cli, "make_problem", too_big)
    rc, _, err = call(capsys, "minimize", "--function", "sphere", "--dim", 40, "--rotate", "--budget", 20, "--json")
    assert_one_line_error(rc, err, "minimize", "--dim: 40 dimensions", "(dim, dim) rotation")


def test_minimize_function_json_matches_library(cli_env):
    r = run_cli(cli_env, "minimize", "--function", "sphere", "--dim", 3, "--budget", 200, "--batch-size", 20,
                "--method", "random", "--seed", 5, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    p = make_problem("sphere", 3)
    ref = arqon_jax.minimize(p.f, p.bounds, budget=200, batch_size=20, method="random", seed=5)
    assert doc["nfev"] == 200 and doc["nit"] == 10 and doc["method"] == "random"
    assert doc["fun"] == float(ref.fun)
    assert doc["x"] == [float(v) for v in ref.x]
    assert doc["problem"]["f_opt"] == 0.0 and doc["problem"]["gap"] == pytest.approx(float(ref.fun))
    assert doc["best_curve"] == [float(v) for v in ref.best_curve]


def test_minimize_user_objective_with_toml_config(cli_env, tmp_path):
    (tmp_path / "objs.py").write_text(OBJECTIVES)
    (tmp_path / "space.toml").write_text(SPACE_TOML)
    r = run_cli(cli_env, "minimize", "--objective", "objs:point", "--config", "space.toml", "--pointwise", "--json",
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["nfev"] == 40 and doc["method"] == "random" and doc["path"] == "host"  # from the config
    r = run_cli(cli_env, "ask", "--state", "s.json", "--config", "space.toml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr  # the same file means the same to ask
    assert json.loads((tmp_path / "s.json").read_text())["config"]["method"] == "random"
    x = doc["x"]
    assert set(x) == {"lr", "layers", "act"}
    assert isinstance(x["layers"], int) and 1 <= x["layers"] <= 8 and x["act"] in ("relu", "gelu")
    assert 1e-5 <= x["lr"] <= 0.1
    expected = (math.log10(x["lr"]) + 3.0) ** 2 + x["layers"] + (0.0 if x["act"] == "relu" else 1.0)
    assert doc["fun"] == pytest.approx(expected, rel=1e-6)


def test_minimize_human_output_and_file_objective(capsys, tmp_path):
    (tmp_path / "objs.py").write_text(OBJECTIVES + "\ndef loss(x):\n    return np.sum((np.asarray(x) - 1.0) ** 2, axis=1)\n")
    rc, out, err = call(capsys, "minimize", "--objective", f"{tmp_path / 'objs.py'}:loss",
                        "--bounds", "[[-5, 5], [-5, 5]]", "--budget", 30, "--method", "random")
    assert rc == 0, err
    assert out.startswith("problem") and "best f" in out and "30 (0 failed)" in out and "host path" in out


def test_minimize_that_ends_in_the_probe_reports_no_statistic(capsys):
    # Nothing is classified: the statistic is None (JSON null), not NaN (not JSON).
    rc, out, err = call(capsys, "minimize", "--function", "sphere", "--dim", 2, "--budget", 3)
    assert rc == 0, err
    assert "probe = not computed (the run ended in the probe) (probe only:" in out
    rc, out, err = call(capsys, "minimize", "--function", "sphere", "--dim", 2, "--budget", 3, "--json")
    assert rc == 0, err
    doc = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert doc["decision"]["strategy"] is None and doc["decision"]["statistic"] is None


@pytest.mark.parametrize("flag, x64", [((), "on: the host path"), (("--float64",), "on: x64=True"),
                                       (("--no-float64",), None)])
def test_minimize_precision_follows_the_library_default(capsys, tmp_path, flag, x64):
    (tmp_path / "objs.py").write_text(OBJECTIVES + "\ndef off(x):\n    return np.sum((np.asarray(x) - 0.3) ** 2, axis=1) + 100\n")
    rc, out, err = call(capsys, "minimize", "--objective", f"{tmp_path / 'objs.py'}:off", "--bounds",
                        "[[-5, 5], [-5, 5]]", "--budget", 400, "--method", "random", "--json", *flag)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["x64"] is None if x64 is None else doc["x64"].startswith(x64)


def test_objective_exception_is_one_line_exit_1(capsys, tmp_path):
    (tmp_path / "objs.py").write_text(OBJECTIVES)
    # The same problem shape as the test above: the compiled steps are reused.
    rc, _, err = call(capsys, "minimize", "--objective", f"{tmp_path / 'objs.py'}:boom",
                      "--bounds", "[[-5, 5], [-5, 5]]", "--budget", 30, "--method", "random")
    assert_one_line_error(rc, err, "minimize", "RuntimeError: kaboom from the objective", "--traceback", code=1)


def test_user_error_in_a_real_process_has_no_traceback(cli_env):
    r = run_cli(cli_env, "minimize", "--objective", "nomod:f", "--bounds", "[[5, -5]]")
    assert_one_line_error(r.returncode, r.stderr, "minimize", "bounds[0]", "low must be < high")
    assert r.stdout == ""


# --------------------------------------------------------------------- ask / tell
def test_ask_tell_state_file_round_trip_equals_in_process_solver(cli_env, tmp_path, capsys):
    state, cfg_path = tmp_path / "run.json", tmp_path / "cfg.json"
    cfg_path.write_text(json.dumps(CFG))
    ref = ArqonSolver(json.dumps(CFG))

    def ref_step():
        first = ref.n_proposed
        batch = ref.ask()
        return None if batch is None else [{"eval_id": first + k, "params": p} for k, p in enumerate(batch)]

    def results_for(batch):
        return [dict(e, value=value_of(e["params"])) for e in batch]

    # First cycle in real processes: ask creates the state, tell reads JSON lines from stdin.
    r = run_cli(cli_env, "ask", "--state", state, "--config", cfg_path)
    assert r.returncode == 0, r.stderr
    batch = json.loads(r.stdout)
    expected = ref_step()
    assert batch == expected
    results = results_for(batch)
    r = run_cli(cli_env, "tell", "--state", state, input="".join(json.dumps(x) + "\n" for x in results))
    assert r.returncode == 0, r.stderr
    assert f"recorded {len(results)} result(s)" in r.stderr
    ref.tell(results)

    # The rest of the run in-process through main(): same batches until the budget is spent.
    n_cycles, seen = 1, len(batch)
    while True:
        rc, out, err = call(capsys, "ask", "--state", state, "--config", cfg_path)  # same config: accepted
        assert rc == 0, err
        batch = json.loads(out)
        expected = ref_step()
        assert batch == expected
        if batch is None:
            break
        seen += len(batch)
        n_cycles += 1
        res_file = tmp_path / f"results{n_cycles}.json"
        res_file.write_text(json.dumps(results_for(batch)))  # a JSON array this time
        rc, _, err = call(capsys, "tell", "--state", state, res_file)
        assert rc == 0, err
        ref.tell(results_for(batch))
    assert seen == CFG["budget"] and n_cycles >= 3
    # The file holds exactly the state of the solver driven in-process.
    assert json.loads(state.read_text()) == json.loads(ref.export())
    # No temporary files left behind by the atomic writes.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_ask_count_and_jsonl(capsys, tmp_path):
    state = tmp_path / "s.json"
    rc, out, err = call(capsys, "ask", "--state", state, "--config", json.dumps(CFG), "--count", 2,
                        "--format", "jsonl")
    assert rc == 0, err
    lines = [json.loads(ln) for ln in out.splitlines()]
    assert [e["eval_id"] for e in lines] == [0, 1]
    ref = ArqonSolver(CFG)
    assert [e["params"] for e in lines] == [ref.ask_one(), ref.ask_one()]


def test_write_atomic_keeps_old_state_when_the_write_fails(tmp_path, monkeypatch):
    from arqon_jax.host import checkpoint

    path = tmp_path / "state.json"
    path.write_text("old")

    def broken_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(checkpoint.os, "replace", broken_replace)
    with pytest.raises(OSError):
        cli.atomic_write_text(path, "new")  # the CLI writes state files with this
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # the temp file was removed
    monkeypatch.undo()
    cli.atomic_write_text(path, "new")
    assert path.read_text() == "new"


def test_results_parse_as_array_object_or_json_lines():
    a = [{"eval_id": 0, "value": 1.5}, {"eval_id": 1, "value": None}]
    as_lines = "\n".join(json.dumps(x) for x in a) + "\n\n"
    assert parse_results(json.dumps(a), "r") == a
    assert parse_results(as_lines, "r") == a
    assert parse_results(json.dumps(a[0]), "r") == a[:1]
    v = parse_results('{"eval_id": 0, "value": NaN}', "r")[0]["value"]
    assert math.isnan(v)


# -------------------------------------------------------------------------- probe
def test_probe_json_matches_arqon_probe(cli_env, tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(CFG))
    r = run_cli(cli_env, "probe", "--config", cfg, "--start", 1000, "--count", 6, "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    expected = ArqonProbe(CFG, seed=CFG["seed"]).sample_range(1000, 6)
    assert [d["index"] for d in doc] == list(range(1000, 1006))
    assert [d["params"] for d in doc] == expected


def test_probe_csv_shards_concatenate(capsys):
    cfg = json.dumps(CFG)
    _, whole, _ = call(capsys, "probe", "--config", cfg, "--start", 0, "--count", 8, "--shift", "--seed", 3)
    _, a, _ = call(capsys, "probe", "--config", cfg, "--start", 0, "--count", 5, "--shift", "--seed", 3)
    _, b, _ = call(capsys, "probe", "--config", cfg, "--start", 5, "--count", 3, "--shift", "--seed", 3)
    rows = list(csv.reader(io.StringIO(whole)))
    assert rows[0] == ["index", "lr", "n", "x"]
    assert whole.splitlines() == a.splitlines() + b.splitlines()[1:]
    expected = ArqonProbe(CFG, seed=3, shift=True).sample_range(0, 8)
    for row, rec in zip(rows[1:], expected):
        assert [float(row[1]), int(row[2]), float(row[3])] == [rec["lr"], rec["n"], rec["x"]]


# -------------------------------------------------------------------------- bench
def test_bench_unknown_name_lists_the_benchmarks(cli_env):
    r = run_cli(cli_env, "bench", "no_such_benchmark")
    assert_one_line_error(r.returncode, r.stderr, "bench", "unknown benchmark", "quality", "probe_throughput")


def test_bench_runs_script_as_subprocess_with_arguments(capsys, tmp_path, monkeypatch):
    bench = tmp_path / "benchmarks"
    (bench / "results").mkdir(parents=True)
    (bench / "results" / "fake.md").write_text("committed")
    (bench / "fake.py").write_text(
        '"""A fake benchmark."""\nimport sys, pathlib\n'
        'out = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else "benchmarks/results"\n'
        'pathlib.Path(out, "fake.md").write_text(" ".join(sys.argv[1:]) + " " + sys.executable)\n'
        'pathlib.Path(__file__).with_name("results").joinpath("fake_side.json").write_text("{}")\n'
    )
    (bench / "_helpers.py").write_text("")
    monkeypatch.setattr(cli, "BENCH_DIR", bench)
    monkeypatch.setattr(cli, "REPO_ROOT", tmp_path)
    rc, out, _ = call(capsys, "bench")
    assert rc == 0 and "fake" in out and "A fake benchmark." in out and "_helpers" not in out

    # A smoke run leaves the committed results alone and says where its own went.
    rc, _, err = call(capsys, "bench", "fake", "--quick", "--seeds", "2")
    assert rc == 0, err
    assert (bench / "results" / "fake.md").read_text() == "committed"
    assert not (bench / "results" / "fake_side.json").exists()
    folder = Path(err.split("its results are in ", 1)[1].split(":", 1)[0])
    assert folder.name == "results" and not folder.is_relative_to(tmp_path)
    assert (folder / "fake.md").read_text() == f"--quick --seeds 2 {sys.executable}"
    assert (folder / "fake_side.json").exists() and "fake.md" in err
    shutil.rmtree(folder.parent.parent)

    # An explicit --out, or a full run, writes where the script says.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    rc, _, err = call(capsys, "bench", "fake", "--quick", "--out", elsewhere)
    assert rc == 0, err
    assert (elsewhere / "fake.md").read_text() == f"--quick --out {elsewhere} {sys.executable}"
    assert (bench / "results" / "fake.md").read_text() == "committed"
    rc, _, err = call(capsys, "bench", "fake", "--seeds", "3")
    assert rc == 0, err
    assert (bench / "results" / "fake.md").read_text() == f"--seeds 3 {sys.executable}"
    assert "benchmarks/results/fake.md" in err
    (bench / "fails.py").write_text("raise SystemExit(4)\n")
    rc, _, err = call(capsys, "bench", "fails")
    assert rc == 4 and "exited with status 4" in err


# ------------------------------------------------------------------------- errors
def test_error_paths(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"budget": 10, "bounds": ')
    state = tmp_path / "s.json"
    cases = [
        (("ask", "--state", state, "--config", bad), "ask", ["--config", "not valid JSON", "line 1"]),
        (("ask", "--state", state, "--config", tmp_path / "missing.json"), "ask", ["no such file", "missing.json"]),
        (("ask", "--state", state), "ask", ["does not exist", "--config"]),
        (("ask", "--state", tmp_path / "nodir" / "s.json", "--config", json.dumps(CFG)), "ask",
         ["--state", "nodir/s.json", "folder", "does not exist"]),
        (("ask", "--state", state, "--config", '{"budget": 5, "bounds": {"x": {"min": 1, "max": 0}}}'), "ask",
         ["bounds['x']", "min must be < max"]),
        (("ask", "--state", state, "--config", '{"budget": 5, "bounds": {"x": {"min": 0, "max": 1, "scale": "Lgo"}}}'),
         "ask", ["Lgo"]),
        (("tell", "--state", state, tmp_path / "none.jsonl"), "tell", ["no such file", "none.jsonl"]),
        (("minimize", "--function", "rastrign"), "minimize", ["--function", "unknown test function", "rastrigin"]),
        (("minimize", "--function", "rosenbrock", "--dim", "1"), "minimize", ["--dim: expected an integer in [2, "]),
        (("minimize", "--objective", "m:f", "--bounds", "[[0, 1], [2]]"), "minimize", ["bounds[1]"]),
        (("minimize", "--objective", "m:f", "--bounds", "[[0, 1],"), "minimize", ["--bounds", "not valid JSON"]),
        (("minimize", "--objective", "m:f"), "minimize", ["needs bounds"]),
        (("minimize", "--objective", "no_such_module_xyz:f", "--bounds", "[[0, 1]]"), "minimize", ["cannot import"]),
        (("minimize", "--objective", "nocolon", "--bounds", "[[0, 1]]"), "minimize", ["MODULE:FUNCTION"]),
        (("minimize", "--function", "sphere", "--objective", "m:f"), "minimize", ["exactly one"]),
        (("minimize", "--function", "sphere", "--budget", "many"), "minimize", ["--budget", "invalid int"]),
        (("minimize", "--function", "sphere", "--method", "newton", "--budget", "10"), "minimize", ["method"]),
        (("minimize", "--function", "sphere", "--bogus"), "minimize", ["unrecognized arguments: --bogus"]),
        (("probe", "--config", bad, "--count", "3"), "probe", ["not valid JSON"]),
        (("probe", "--config", '{"budget": 3}', "--count", "3"), "probe", ["bounds"]),
        (("probe", "--config", json.dumps(CFG)), "probe", ["--count"]),
        (("frobnicate",), "", ["invalid choice"]),
    ]
    for args, cmd, needles in cases:
        rc, _, err = call(capsys, *args)
        assert_one_line_error(rc, err, cmd, *needles)
    assert not state.exists() and not (tmp_path / "s.json.lock").exists()


def test_tell_errors_leave_the_state_unchanged(capsys, tmp_path):
    state = tmp_path / "run.json"
    rc, out, err = call(capsys, "ask", "--state", state, "--config", json.dumps(CFG))
    assert rc == 0, err
    batch = json.loads(out)
    before = state.read_text()
    good = dict(batch[0], value=1.0)
    cases = [
        ("not json at all", ["line 1 is not valid JSON"]),
        (json.dumps([good, {"eval_id": 999, "value": 2.0}]), ["unknown eval_id 999", "nothing was recorded"]),
        (json.dumps([{"params": {"x": 99.0, "lr": 0.1, "n": 1}, "value": 1.0}]), ["outside the bounds"]),
        (json.dumps([{"eval_id": 0}]), ["missing 'value'"]),
        ("", ["empty input"]),
    ]
    for text, needles in cases:
        f = tmp_path / "r.txt"
        f.write_text(text)
        rc, _, err = call(capsys, "tell", "--state", state, f)
        assert_one_line_error(rc, err, "tell", *needles)
        assert state.read_text() == before
    rc, _, err = call(capsys, "ask", "--state", state, "--config", json.dumps(dict(CFG, seed=8)))
    assert_one_line_error(rc, err, "ask", "differs", "seed")
    state.write_text(before[: len(before) // 2])  # a truncated file (what atomic writes prevent)
    rc, _, err = call(capsys, "ask", "--state", state)
    assert_one_line_error(rc, err, "ask", "not a usable solver state")


# ------------------------------------------------- minimize: interrupts and failures
SLOW_OBJECTIVE = textwrap.dedent(
    """
    import pathlib, time
    import numpy as np

    LOG = pathlib.Path(__file__).with_name("evals.log")

    def slow(x):
        y = np.sum((np.asarray(x) - 1.3) ** 2, axis=1)
        with open(LOG, "a") as fh:
            fh.write(" ".join(repr(float(v)) for v in y) + "\\n")
        time.sleep(0.2)  # Ctrl-C lands here, after the batch is logged but before it is told
        return y

    CALLS = [0]

    def flaky(x):
        CALLS[0] += 1
        if CALLS[0] > 3:
            raise RuntimeError("flaky objective gave up")
        y = np.sum((np.asarray(x) - 1.3) ** 2, axis=1)
        with open(LOG, "a") as fh:
            fh.write(" ".join(repr(float(v)) for v in y) + "\\n")
        return y
    """
)


def _logged_batches(path: Path) -> list[list[float]]:
    return [[float(v) for v in ln.split()] for ln in path.read_text().splitlines()]


def test_minimize_ctrl_c_prints_the_best_so_far(cli_env, tmp_path):
    import signal
    import time

    (tmp_path / "objs.py").write_text(SLOW_OBJECTIVE)
    log = tmp_path / "evals.log"
    # Tests started as a background job inherit an ignored SIGINT; the CLI process gets
    # Python's Ctrl-C handler back, as in a terminal.
    launcher = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                "from arqon_jax.cli import main; sys.exit(main())")
    proc = subprocess.Popen(
        [sys.executable, "-c", launcher, "minimize", "--objective", "objs:slow", "--bounds",
         "[[-5, 5], [-5, 5]]", "--budget", "100000", "--batch-size", "4", "--method", "random", "--no-jit"],
        cwd=tmp_path, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300  # a guard against a hang, not a timing assertion
        while not (log.exists() and len(log.read_text().splitlines()) >= 3):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the objective was never called"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    fields = {ln[:12].strip(): ln[12:].strip() for ln in out.splitlines()}
    nfev = int(fields["evaluations"].split()[0])
    batches = _logged_batches(log)
    # The batch being evaluated when Ctrl-C came is not part of the result.
    assert nfev in (4 * len(batches), 4 * (len(batches) - 1)) and nfev >= 8
    best = min(v for batch in batches[: nfev // 4] for v in batch)
    assert float(fields["best f"]) == pytest.approx(best, rel=1e-6)
    x = [float(v) for v in fields["best x"].strip("[]").split(",")]
    assert sum((v - 1.3) ** 2 for v in x) == pytest.approx(best, rel=1e-4)
    assert f"interrupted after {nfev} evaluations" in err and "best so far" in err


def test_minimize_objective_failure_prints_the_best_so_far(capsys, tmp_path):
    (tmp_path / "objs.py").write_text(SLOW_OBJECTIVE)
    rc, out, err = call(capsys, "minimize", "--objective", f"{tmp_path / 'objs.py'}:flaky",
                        "--bounds", "[[-5, 5], [-5, 5]]", "--budget", 30, "--batch-size", 5, "--method", "random",
                        "--no-jit", "--json")
    assert_one_line_error(rc, err, "minimize", "RuntimeError: flaky objective gave up", "after 15 evaluations",
                          "best so far", code=1)
    doc = json.loads(out)
    batches = _logged_batches(tmp_path / "evals.log")
    assert len(batches) == 3 and doc["nfev"] == 15 and doc["status"] == 3 and not doc["success"]
    assert doc["fun"] == pytest.approx(min(min(b) for b in batches), rel=1e-6)
    assert sum((v - 1.3) ** 2 for v in doc["x"]) == pytest.approx(doc["fun"], rel=1e-4)


POINT_OBJECTIVES = textwrap.dedent(
    """
    import math
    import numpy as np

    def as_float(x):
        return float(x[0]) ** 2 + float(x[1]) ** 2

    def with_math(x):
        return math.sin(x[0]) + x[1] ** 2

    def with_branch(x):
        return x[0] if x[0] > 0 else -x[0]

    def one_number(x):
        return np.sum((np.asarray(x) - 1.0) ** 2)

    def named(p):
        return math.log(p["lr"]) ** 2

    def batch_axis(x):
        return np.sum(np.asarray(x) ** 2, axis=1)

    def batch_index(x):
        return x[:, 0] ** 2

    def batch_rows(x):
        return np.asarray(x) ** 2
    """
)


@pytest.mark.parametrize(("name", "extra", "needle"), [
    ("as_float", (), "pass --pointwise"),
    ("with_math", (), "pass --pointwise"),
    ("with_branch", (), "pass --pointwise"),
    ("one_number", (), "pass --pointwise"),
    ("named", ("--bounds", '{"lr": {"min": 1e-5, "max": 1, "scale": "log"}}'), "pass --pointwise"),
    ("batch_axis", ("--pointwise",), "drop --pointwise"),
    ("batch_index", ("--pointwise",), "drop --pointwise"),
])
def test_minimize_objective_of_the_wrong_form_is_a_usage_error(capsys, tmp_path, name, extra, needle):
    (tmp_path / "pts.py").write_text(POINT_OBJECTIVES)
    bounds = () if "--bounds" in extra else ("--bounds", "[[-5, 5], [-5, 5]]")
    rc, out, err = call(capsys, "minimize", "--objective", f"{tmp_path / 'pts.py'}:{name}", *bounds, *extra,
                        "--budget", 30, "--method", "random")
    assert_one_line_error(rc, err, "minimize", f"pts.py:{name} looks like", needle)
    assert out == ""


def test_minimize_one_point_objective_runs_with_pointwise(capsys, tmp_path):
    (tmp_path / "pts.py").write_text(POINT_OBJECTIVES)
    rc, out, err = call(capsys, "minimize", "--objective", f"{tmp_path / 'pts.py'}:as_float", "--pointwise",
                        "--bounds", "[[-5, 5], [-5, 5]]", "--budget", 30, "--method", "random", "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["nfev"] == 30 and doc["fun"] == pytest.approx(doc["x"][0] ** 2 + doc["x"][1] ** 2)


# -------------------------------------------------------------- probe: streaming
@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_probe_streams_in_chunks_with_the_same_output(capsys, monkeypatch, fmt):
    cfg = json.dumps(CFG)
    args = ("probe", "--config", cfg, "--start", 3, "--count", 10, "--format", fmt, "--shift")
    rc, whole, err = call(capsys, *args)
    assert rc == 0, err
    sizes = []
    real = ArqonProbe.sample_array

    def spy(self, start, count, **kw):
        sizes.append(count)
        return real(self, start, count, **kw)

    monkeypatch.setattr(cli, "PROBE_CHUNK", 4)
    monkeypatch.setattr(ArqonProbe, "sample_array", spy)
    rc, chunked, err = call(capsys, *args)
    assert rc == 0, err
    assert chunked == whole
    assert max(sizes) <= 4 and sum(sizes) >= 10  # the end check asks for one more point
    expected = ArqonProbe(CFG, seed=CFG["seed"], shift=True).sample_range(3, 10)
    if fmt == "json":
        assert [d["params"] for d in json.loads(chunked)] == expected
    elif fmt == "jsonl":
        assert [json.loads(ln)["index"] for ln in chunked.splitlines()] == list(range(3, 13))


def test_probe_huge_count_streams_to_a_closed_pipe(cli_env):
    # 2**31 points would need tens of GB at once; streamed, the first rows come at once
    # and the process ends quietly when the reader goes away.
    proc = subprocess.Popen([sys.executable, "-m", "arqon_jax.cli", "probe", "--config", json.dumps(CFG),
                             "--count", str(2**31)], env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        head = [proc.stdout.readline() for _ in range(4)]
        proc.stdout.close()
        err = proc.stderr.read()
        rc = proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 141 and err == ""
    expected = ArqonProbe(CFG, seed=CFG["seed"]).sample_range(0, 3)
    rows = list(csv.reader(io.StringIO("".join(head))))
    assert rows[0] == ["index", "lr", "n", "x"]
    for row, rec in zip(rows[1:], expected):
        assert [float(row[1]), int(row[2]), float(row[3])] == [rec["lr"], rec["n"], rec["x"]]


def test_probe_range_past_the_sequence_is_refused_before_output(capsys):
    rc, out, err = call(capsys, "probe", "--config", json.dumps(CFG), "--start", 2**32 - 10, "--count", 2**31)
    assert_one_line_error(rc, err, "probe", "--start/--count", "out of range")
    assert out == ""


# ------------------------------------------------- configs that JSON cannot carry
BAD_CHOICES = [
    ('{"budget": 10, "bounds": {"c": {"choices": [1.0, NaN]}}}', "bounds['c']['choices'][1] is nan"),
    ('{"budget": 10, "bounds": {"c": {"choices": [Infinity, 1.0]}}}', "bounds['c']['choices'][0] is inf"),
    ('{"budget": 10, "bounds": {"c": {"choices": ["a", -Infinity]}}}', "bounds['c']['choices'][1] is -inf"),
    ('{"budget": 10, "bounds": {"c": {"choices": [1e999, 2]}}}', "bounds['c']['choices'][0] is inf"),
    ('{"budget": 10, "bounds": {"x": {"min": 0, "max": Infinity}}}', "bounds['x']['max'] is inf"),
]


@pytest.mark.parametrize(("text", "needle"), BAD_CHOICES)
@pytest.mark.parametrize("command", ["ask", "probe", "minimize"])
def test_non_json_numbers_in_a_config_are_refused(capsys, tmp_path, text, needle, command):
    state = tmp_path / "s.json"
    args = {"ask": ("ask", "--state", state, "--config", text),
            "probe": ("probe", "--config", text, "--count", 3),
            "minimize": ("minimize", "--objective", "m:f", "--config", text)}[command]
    rc, out, err = call(capsys, *args)
    assert_one_line_error(rc, err, command, "--config", needle, "no JSON form")
    assert out == "" and not state.exists()


@pytest.mark.parametrize(("toml", "needle"), [
    ("budget = 10\n[bounds.c]\nchoices = [1.0, nan]\n", "bounds['c']['choices'][1] is nan"),
    ("budget = 10\n[bounds.c]\nchoices = [-inf, 2.0]\n", "bounds['c']['choices'][0] is -inf"),
    ("budget = 10\n[bounds.c]\nchoices = [1979-05-27, 1980-01-01]\n", "bounds['c']['choices'][0] is a date"),
])
def test_toml_values_without_a_json_form_are_refused(capsys, tmp_path, toml, needle):
    (tmp_path / "cfg.toml").write_text(toml)
    state = tmp_path / "s.json"
    rc, _, err = call(capsys, "ask", "--state", state, "--config", tmp_path / "cfg.toml")
    assert_one_line_error(rc, err, "ask", needle)
    assert not state.exists()


def test_non_json_numbers_in_bounds_flag_are_refused(capsys):
    rc, _, err = call(capsys, "minimize", "--objective", "m:f", "--bounds", "[[0, NaN]]")
    assert_one_line_error(rc, err, "minimize", "--bounds", "[0][1] is nan")


# ----------------------------------------------------------- deeply nested input
DEEP = "[" * 200_000


@pytest.mark.parametrize("where", ["config file", "inline config", "toml config", "bounds", "results file",
                                   "results lines", "results stdin", "state file", "probe config"])
def test_deeply_nested_input_is_a_one_line_error(capsys, tmp_path, monkeypatch, where):
    state = tmp_path / "run.json"
    if where.startswith(("results", "state")):
        rc, _, err = call(capsys, "ask", "--state", state, "--config", json.dumps(CFG))
        assert rc == 0, err
    (tmp_path / "deep.json").write_text(DEEP)
    (tmp_path / "deep.toml").write_text("a = " + DEEP)
    (tmp_path / "lines.jsonl").write_text('{"eval_id": 0, "value": 1.0}\n' + DEEP + "\n")
    # Nesting Python can parse but deeper than any config needs is refused as well.
    (tmp_path / "deep150.json").write_text("[" * 150 + "]" * 150)
    cases = {
        "config file": ("ask", "--state", state, "--config", tmp_path / "deep.json"),
        "inline config": ("ask", "--state", state, "--config", '{"a": ' + "[" * 150 + "]" * 150 + "}"),
        "toml config": ("minimize", "--objective", "m:f", "--config", tmp_path / "deep.toml"),
        "bounds": ("minimize", "--objective", "m:f", "--bounds", "[" * 20_000),
        "results file": ("tell", "--state", state, tmp_path / "deep150.json"),
        "results lines": ("tell", "--state", state, tmp_path / "lines.jsonl"),
        "results stdin": ("tell", "--state", state),
        "state file": ("ask", "--state", tmp_path / "deep.json"),
        "probe config": ("probe", "--config", tmp_path / "deep.json", "--count", 1),
    }
    if where == "results stdin":
        monkeypatch.setattr(sys, "stdin", io.StringIO(DEEP))
    before = state.read_text() if state.exists() else None
    rc, _, err = call(capsys, *cases[where])
    assert_one_line_error(rc, err, cases[where][0], "nested too deeply")
    assert (state.read_text() if state.exists() else None) == before


# ------------------------------------------------------------- state file writes
def test_state_through_a_symlink_updates_the_target(capsys, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "run.json"
    link.symlink_to(Path("real") / "state.json")  # dangling until the first ask
    rc, out, err = call(capsys, "ask", "--state", link, "--config", json.dumps(CFG))
    assert rc == 0, err
    batch = json.loads(out)
    assert link.is_symlink() and (real / "state.json").is_file()
    results = tmp_path / "r.json"
    results.write_text(json.dumps([dict(e, value=value_of(e["params"])) for e in batch]))
    rc, _, err = call(capsys, "tell", "--state", link, results)
    assert rc == 0, err
    assert link.is_symlink() and os.readlink(link) == str(Path("real") / "state.json")
    ref = ArqonSolver(CFG)
    ref.ask()
    ref.tell(json.loads(results.read_text()))
    assert json.loads((real / "state.json").read_text()) == json.loads(ref.export())
    # One lock for the link and its target: calls through either are serialized.
    assert sorted(p.name for p in real.iterdir()) == ["state.json", "state.json.lock"]


def test_atomic_write_through_symlink_chain_and_loop(tmp_path):
    (tmp_path / "target.json").write_text("old")
    (tmp_path / "b.json").symlink_to("target.json")
    (tmp_path / "a.json").symlink_to("b.json")
    cli.atomic_write_text(tmp_path / "a.json", "new")
    assert (tmp_path / "target.json").read_text() == "new"
    assert (tmp_path / "a.json").is_symlink() and (tmp_path / "b.json").is_symlink()
    (tmp_path / "loop1").symlink_to("loop2")
    (tmp_path / "loop2").symlink_to("loop1")
    with pytest.raises(OSError, match="symbolic links"):
        cli.atomic_write_text(tmp_path / "loop1", "x")
    assert os.readlink(tmp_path / "loop1") == "loop2"


def test_atomic_write_removes_temp_files_of_dead_writers_only(tmp_path):
    import time

    from arqon_jax.host import checkpoint

    target = tmp_path / "state.json"
    target.write_text("old")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    tag = checkpoint._HOST_TAG
    old = time.time() - 120
    ancient = time.time() - 2 * 3600
    files = {
        f".state.json.{tag}-{dead_pid}.abcdefgh.tmp": (old, False),  # writer gone: removed
        f".state.json.{tag}-{dead_pid}.abcdefg2.tmp": (None, True),  # just written: its writer may be finishing
        f".state.json.{tag}-{os.getppid()}.abcdefg3.tmp": (old, True),  # writer alive
        f".state.json.ffffffff-{dead_pid}.abcdefg4.tmp": (old, True),  # another host's writer
        ".state.json.k2j3h4g5.tmp": (ancient, False),  # an hour old: whoever wrote it is done
        ".state.json.k2j3h4g6.tmp": (old, True),
        ".state.json.bak": (ancient, True),  # not a temp file
        f".other.json.{tag}-{dead_pid}.abcdefgh.tmp": (old, True),  # another file's
    }
    for name, (mtime, _) in files.items():
        (tmp_path / name).write_text("partial")
        if mtime is not None:
            os.utime(tmp_path / name, (mtime, mtime))
    cli.atomic_write_text(target, "new")
    assert target.read_text() == "new"
    left = {p.name for p in tmp_path.iterdir()} - {"state.json"}
    assert left == {name for name, (_, kept) in files.items() if kept}


BUGGY_OBJECTIVES = textwrap.dedent(
    """
    import numpy as np

    def index_bug(x):  # one point, with a bug that raises a batch objective's message
        return float(np.arange(5.0)[int(abs(x[0])), 0])

    def scalar_bug(x):  # a batch, with a bug that raises a one-point objective's message
        return np.sum(x ** 2, axis=1) * float(np.array([0.1, 0.2]))

    calls = []

    def short_third_batch(x):  # right for two batches, then three values
        calls.append(1)
        return np.zeros(3) if len(calls) == 3 else np.sum(x ** 2, axis=1)
    """
)


@pytest.mark.parametrize(("name", "extra"), [("index_bug", ("--pointwise",)), ("scalar_bug", ())])
def test_minimize_objective_bug_is_not_blamed_on_its_form(capsys, tmp_path, name, extra):
    (tmp_path / "bugs.py").write_text(BUGGY_OBJECTIVES)
    rc, out, err = call(capsys, "minimize", "--objective", f"{tmp_path / 'bugs.py'}:{name}", *extra,
                        "--bounds", "[[-5, 5], [-5, 5]]", "--budget", 30, "--no-jit")
    assert rc == cli.EXIT_OBJECTIVE and "the objective raised" in err and "pointwise" not in err


def test_minimize_wrong_output_after_good_batches_prints_the_best_so_far(capsys, tmp_path):
    (tmp_path / "bugs.py").write_text(BUGGY_OBJECTIVES)
    rc, out, err = call(capsys, "minimize", "--objective", f"{tmp_path / 'bugs.py'}:short_third_batch",
                        "--bounds", "[[-5, 5], [-5, 5]]", "--budget", 40, "--batch-size", 10, "--no-jit", "--json")
    assert rc == cli.EXIT_OBJECTIVE and "returned shape (3,)" in err and "after 20 evaluations" in err
    assert "pointwise" not in err
    assert json.loads(out)["nfev"] == 20


@pytest.mark.parametrize(("source", "needle"), [
    ("import sys\nsys.exit(0)\n", "raised SystemExit"),
    ("import argparse\nargparse.ArgumentParser().parse_args(['--nope'])\n", "raised SystemExit"),
    ("import no_such_package_xyz\n", "raised ModuleNotFoundError"),
])
def test_minimize_objective_module_that_fails_at_import_is_the_objectives_error(capsys, tmp_path, source, needle):
    (tmp_path / "script.py").write_text(source + "def f(x):\n    return x[:, 0]\n")
    rc, out, err = call(capsys, "minimize", "--objective", f"{tmp_path / 'script.py'}:f", "--bounds", "[[0, 1]]")
    assert rc == cli.EXIT_OBJECTIVE and needle in err and out == ""


def test_demo_out_under_a_file_fails_before_the_run(capsys, tmp_path):
    (tmp_path / "afile").write_text("")
    rc, out, err = call(capsys, "demo", "--quick", "--out", str(tmp_path / "afile" / "x.png"))
    assert_one_line_error(rc, err, "demo", "--out: cannot create the folder")
    assert out == ""  # no banner: nothing ran


def test_minimize_objective_wrong_in_both_forms_gets_no_form_advice(capsys, tmp_path):
    (tmp_path / "pts.py").write_text(POINT_OBJECTIVES)  # batch_rows returns (batch, dim) values
    rc, out, err = call(capsys, "minimize", "--objective", f"{tmp_path / 'pts.py'}:batch_rows", "--pointwise",
                        "--bounds", "[[-5, 5], [-5, 5]]", "--budget", 30, "--method", "random")
    assert_one_line_error(rc, err, "minimize", "returned shape (2,) for one point")
    assert "pointwise" not in err


def test_minimize_one_point_objective_returning_two_values_is_not_sent_back_and_forth(capsys, tmp_path):
    (tmp_path / "two.py").write_text("import numpy as np\n\ndef f(x):\n"
                                     "    return np.array([float(np.sum(np.asarray(x) ** 2)), 0.9])\n")
    for extra in ((), ("--pointwise",)):
        rc, out, err = call(capsys, "minimize", "--objective", f"{tmp_path / 'two.py'}:f", *extra,
                            "--bounds", "[[-5, 5], [-5, 5]]", "--budget", 30, "--no-jit")
        assert rc == cli.EXIT_USAGE and "returned shape (2,)" in err and "pointwise" not in err


def test_minimize_json_says_when_a_finite_space_was_exhausted(capsys, tmp_path):
    (tmp_path / "objs.py").write_text(
        OBJECTIVES + "\ndef grid(X):\n    return (np.asarray(X['a']) - 1.0) ** 2 + (np.asarray(X['b']) - 1.0) ** 2\n")
    bounds = '{"a": {"min": 0, "max": 2, "scale": "int"}, "b": {"min": 0, "max": 3, "scale": "int"}}'
    for budget, exhausted in ((100, True), (8, False)):
        rc, out, err = call(capsys, "minimize", "--objective", f"{tmp_path / 'objs.py'}:grid", "--bounds", bounds,
                            "--budget", budget, "--no-jit", "--json")
        assert rc == 0, err
        doc = json.loads(out)
        assert doc["exhausted"] is exhausted and (doc["nfev"] < budget) is exhausted
        assert doc["fun"] == 0.0 if exhausted else doc["nfev"] == budget
