"""What the README's set-up commands install, and what CI runs.

The README promises two commands on a fresh machine: command 1 installs and runs the
demo (which writes a PNG), command 2 installs and runs the tests. These tests check that
the dependency lists in pyproject.toml back those promises, that the default set-up
uses JAX's compilation cache without warnings, and that ``.ci/run`` runs exactly the
README's test command in a fresh virtual environment and fails when it fails.
"""

from __future__ import annotations

import ast
import json
import math
import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
README = (ROOT / "README.md").read_text()


def _norm(requirement: str) -> str:
    """The distribution name of a requirement, normalized (PEP 503)."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0]).lower()


def _installed_by(command: str) -> set[str]:
    """Distributions a ``pip install -e ".[a,b]"`` command asks for: the core plus the extras named."""
    names = {_norm(d) for d in PROJECT["dependencies"]}
    extras = PROJECT.get("optional-dependencies", {})
    for group in re.findall(r"\.\[([^\]]+)\]", command):
        for extra in group.split(","):
            assert extra.strip() in extras, f"the README installs an unknown extra {extra!r}"
            names |= {_norm(d) for d in extras[extra.strip()]}
    return names


def _setup_command(*words: str) -> str:
    setup = README.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    lines = [ln.strip() for ln in setup.splitlines() if all(w in ln for w in words)]
    assert len(lines) == 1, (words, lines)
    return lines[0]


def test_demo_command_installs_what_the_demo_needs_for_its_png():
    command = _setup_command("pip install", "arqon-jax demo")
    assert "matplotlib" in _installed_by(command)


def test_persistent_cache_needs_filelock_in_the_core_dependencies():
    # The CLI sets jax_compilation_cache_max_size, and JAX's size-limited cache cannot
    # read or write entries without filelock.
    assert "filelock" in {_norm(d) for d in PROJECT["dependencies"]}


def test_cli_reuses_the_persistent_cache_without_warnings(tmp_path):
    env = dict(os.environ, ARQON_JAX_CACHE_DIR=str(tmp_path / "xla"), JAX_PLATFORMS="cpu")
    env.pop("JAX_COMPILATION_CACHE_DIR", None)  # the CLI's own cache set-up, not the test session's
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "arqon_jax.cli", "minimize", "--function", "sphere", "--dim", "3",
           "--budget", "200", "--batch-size", "20", "--json"]
    runs = [subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""  # e.g. no "Error reading persistent compilation cache entry"
    assert any((tmp_path / "xla").iterdir())
    assert runs[0].stdout.split('"wall_time_s"')[0] == runs[1].stdout.split('"wall_time_s"')[0]


_LIBRARY_RUN = (
    "import json, sys, numpy as np, jax, arqon_jax as aj; "
    "r = aj.minimize(lambda x: np.sum(x ** 2, 1), [(-1, 1)] * 2, budget=30, jit=False); "
    "print(json.dumps({'dir': jax.config.jax_compilation_cache_dir, 'fun': r.fun}))"
)


def _library_child(env_updates: dict, tmp_path) -> tuple[dict, str]:
    # The user's own cache settings stay out: each test sets the ones it checks.
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_") and k != "ARQON_JAX_CACHE_DIR"}
    env.update(env_updates, HOME=str(tmp_path / "home"), JAX_PLATFORMS="cpu")
    env.pop("XDG_CACHE_HOME", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    r = subprocess.run([sys.executable, "-c", _LIBRARY_RUN], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


def test_library_uses_a_persistent_cache_by_default(tmp_path):
    out, err = _library_child({}, tmp_path)
    default = tmp_path / "home" / ".cache" / "arqon_jax" / "xla"
    assert out["dir"] == str(default)
    assert any(default.iterdir())  # compiled programs were written for the next process
    assert "filelock" not in err and "Error reading" not in err
    again, _ = _library_child({}, tmp_path)
    assert again["fun"] == out["fun"]


def test_library_cache_opt_out_and_the_users_own_folder(tmp_path):
    off, _ = _library_child({"ARQON_JAX_CACHE_DIR": ""}, tmp_path)
    assert off["dir"] is None
    assert not (tmp_path / "home" / ".cache" / "arqon_jax").exists()
    own = tmp_path / "mine"
    mine, _ = _library_child({"JAX_COMPILATION_CACHE_DIR": str(own)}, tmp_path)
    assert mine["dir"] == str(own)  # left alone
    assert not (tmp_path / "home" / ".cache" / "arqon_jax").exists()


def test_an_unusable_cache_folder_turns_the_cache_off_with_one_warning(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out, err = _library_child({"ARQON_JAX_CACHE_DIR": str(blocker / "xla")}, tmp_path)
    assert out["dir"] is None and math.isfinite(out["fun"])
    assert err.count("cannot be used") == 1 and "ARQON_JAX_CACHE_DIR" in err
    assert "Error reading" not in err and "Error writing" not in err


def _third_party_imports(folder: Path) -> dict[str, set[str]]:
    local = {p.stem for p in ROOT.glob("*.py")} | {p.name for p in ROOT.iterdir() if p.is_dir()}
    local |= {p.stem for p in (ROOT / "tests").glob("*.py")}  # tests import their neighbours
    found: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            else:
                continue
            for mod in mods:
                top = mod.split(".")[0]
                if top in sys.stdlib_module_names or top in local or top.startswith("_"):
                    continue
                found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_test_command_installs_every_package_the_tests_and_library_import():
    declared = _installed_by(_setup_command("pip install", "pytest"))
    dists = md.packages_distributions()
    missing = {}
    for folder in ("arqon_jax", "tests"):
        for top, files in _third_party_imports(ROOT / folder).items():
            candidates = {_norm(d) for d in dists.get(top, [top])}
            if not candidates & declared:
                missing[top] = sorted(files)
    assert missing == {}


def test_ray_tune_optuna_searcher_used_by_the_examples_is_declared_for_tests():
    # examples/ray_tune_rastrigin.py (run by the tests) imports ray.tune.search.optuna,
    # which needs optuna although no file imports optuna by name.
    example = (ROOT / "examples" / "ray_tune_rastrigin.py").read_text()
    assert "ray.tune.search.optuna" in example
    assert "optuna" in _installed_by(_setup_command("pip install", "pytest"))


# ------------------------------------------------------------------------ .ci/run
def _scratch_repo(tmp_path: Path, readme: str) -> Path:
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "run", repo / ".ci" / "run")
    (repo / "README.md").write_text(readme)
    return repo


def _ci(repo: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, CI="true", TMPDIR=str(repo.parent))
    return subprocess.run(["bash", str(repo / ".ci" / "run")], cwd=repo.parent, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=600)


def test_ci_runs_the_readmes_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "README.md" in ci and "python3 -m venv" in ci
    # The command it finds in this README is the one users are told to run.
    found = [ln for ln in README.splitlines() if re.search(r"pip install.*&&.*pytest", ln)]
    assert found == [_setup_command("pip install", "pytest")]


def test_ci_refuses_a_readme_without_one_test_command(tmp_path):
    r = _ci(_scratch_repo(tmp_path, "# nothing to run\n"))
    assert r.returncode == 1 and "expected one test command" in r.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["repo"]


def test_ci_runs_in_a_fresh_venv_and_fails_on_pytest_exit_5(tmp_path):
    # A stand-in for the README's command with its shape ("pip install ... && ... pytest"):
    # it reports which interpreter `python3` is, and exits 5 as pytest does with no tests.
    probe = ("import sys; print('prefix', sys.prefix, sys.base_prefix != sys.prefix); "
             "print('stdin', repr(sys.stdin.read())); sys.exit(5)")
    readme = f'```bash\npython3 -m pip install --help > /dev/null && python3 -c "{probe}" pytest\n```\n'
    r = _ci(_scratch_repo(tmp_path, readme))
    assert r.returncode == 5, r.stderr
    assert "collected no tests" in r.stderr
    prefix_line = next(ln for ln in r.stdout.splitlines() if ln.startswith("prefix "))
    _, prefix, is_venv = prefix_line.split()
    assert is_venv == "True" and Path(prefix).parent.name.startswith("arqon-jax-ci.")
    assert "stdin ''" in r.stdout
    # The temporary environment is removed afterwards.
    assert not Path(prefix).exists() and [p.name for p in tmp_path.iterdir()] == ["repo"]


@pytest.mark.parametrize("extra", sorted(PROJECT.get("optional-dependencies", {})))
def test_readme_lists_every_extra(extra):
    assert f"| `{extra}` |" in README
