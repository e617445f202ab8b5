"""Checkpoint and resume: a run killed with SIGKILL and resumed ends exactly like an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import arqon_jax as aj
from tests import _slow_objectives as slow
from tests._compiles import count_compiles

ROOT = Path(__file__).resolve().parent.parent


def _nfev_in(path: Path) -> int:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return 0  # not written yet (a torn file is impossible: writes are atomic)
    curve = doc["extra"]["nfev_curve"]
    return curve[-1] if curve else 0


def _kill_midway(objective: str, path: Path) -> int:
    code = (
        "import arqon_jax as aj\n"
        "from tests import _slow_objectives as s\n"
        f"aj.minimize(s.{objective}, s.BOUNDS, checkpoint={str(path)!r}, **s.RUN)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while _nfev_in(path) < 100:
            if proc.poll() is not None:
                raise AssertionError(f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError("no checkpoint with 100 evaluations within 240 s")
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return _nfev_in(path)


@pytest.mark.parametrize("objective", ["device_f", "host_f"])
def test_run_killed_with_sigkill_resumes_to_the_same_result(tmp_path, objective):
    f = getattr(slow, objective)
    killed_at = _kill_midway(objective, tmp_path / "run.json")
    assert 100 <= killed_at < slow.RUN["budget"]
    resumed = aj.minimize(f, slow.BOUNDS, checkpoint=tmp_path / "run.json", resume=True, **slow.RUN)
    full = aj.minimize(f, slow.BOUNDS, checkpoint=tmp_path / "other.json", **slow.RUN)
    assert resumed.info["path"] == full.info["path"] == ("device" if objective == "device_f" else "host")
    assert resumed.nfev == full.nfev == slow.RUN["budget"]
    assert resumed.fun == full.fun
    np.testing.assert_array_equal(resumed.x, full.x)
    np.testing.assert_array_equal(resumed.best_curve, full.best_curve)


def _rastrigin_np(x):
    z = np.asarray(x) - 0.7
    return 10 * z.shape[-1] + np.sum(z**2 - 10 * np.cos(2 * np.pi * z), axis=-1)


def stops_resume_exactly(folder: str, x64) -> None:
    """Stops a host run after each of batches 1-6 and resumes it: each must end as the uninterrupted run."""
    bounds, kw = [(-5.12, 5.12)] * 5, dict(budget=300, seed=4, jit=False, x64=x64)
    full = aj.minimize(_rastrigin_np, bounds, **kw)
    for stop in range(1, 7):
        path = Path(folder) / f"stop{stop}.json"
        batches = []
        aj.minimize(_rastrigin_np, bounds, callback=lambda r: batches.append(1) or len(batches) >= stop,
                    checkpoint=path, **kw)
        resumed = aj.minimize(_rastrigin_np, bounds, checkpoint=path, resume=True, **kw)
        assert resumed.fun == full.fun, (stop, resumed.fun, full.fun)
        np.testing.assert_array_equal(resumed.x, full.x)
        np.testing.assert_array_equal(resumed.best_curve, full.best_curve)


@pytest.mark.parametrize("x64", [None, False])
def test_a_host_run_stopped_after_any_batch_resumes_to_the_same_result(tmp_path, x64):
    # On resume the pending batch's values were recomputed from its unit points outside
    # the compiled step, which rounded some of them differently in the last bit (with
    # XLA's default settings; not with the suite's, so a child process without them runs
    # it too): runs stopped after batch 1 or 4 ended elsewhere (63 of 150 stops and
    # crashes over 8 problems differed).
    stops_resume_exactly(str(tmp_path), x64)
    flags = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split()
                     if not f.startswith(("--xla_backend_optimization_level", "--xla_cpu_use_fusion_emitters")))
    code = (f"from tests.test_checkpoint import stops_resume_exactly\n"
            f"stops_resume_exactly({str(tmp_path / 'child')!r}, {x64!r})\n")
    (tmp_path / "child").mkdir()
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "XLA_FLAGS": flags, "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "xla")})
    assert out.returncode == 0, out.stderr[-3000:]
    # A checkpoint written before the pending values were recorded still resumes (the
    # values recomputed from the unit points, as before).
    bounds, kw = [(-5.12, 5.12)] * 5, dict(budget=300, seed=4, jit=False, x64=x64)
    doc = json.loads((tmp_path / "stop3.json").read_text())
    del doc["extra"]["pending_values"]
    (tmp_path / "old.json").write_text(json.dumps(doc))
    old = aj.minimize(_rastrigin_np, bounds, checkpoint=tmp_path / "old.json", resume=True, **kw)
    assert old.nfev == 300 and np.isfinite(old.fun)
    doc["extra"]["pending_values"] = [[1.0, 2.0]]
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="corrupt checkpoint: field 'pending_values'"):
        aj.minimize(_rastrigin_np, bounds, checkpoint=tmp_path / "bad.json", resume=True, **kw)


def test_checkpointed_device_run_equals_a_plain_one(tmp_path):
    plain = aj.minimize(_quick, slow.BOUNDS, budget=95, batch_size=10, seed=1, polish=False)
    chunked = aj.minimize(_quick, slow.BOUNDS, budget=95, batch_size=10, seed=1, polish=False,
                          checkpoint=tmp_path / "c.json", checkpoint_every=3)
    assert plain.info["path"] == chunked.info["path"] == "device"
    assert plain.fun == chunked.fun
    np.testing.assert_array_equal(plain.best_curve, chunked.best_curve)


def _quick(x):
    import jax.numpy as jnp

    return jnp.sum((x - 0.25) ** 2, axis=-1)


@pytest.fixture()
def finished(tmp_path):
    path = tmp_path / "done.json"
    aj.minimize(_quick, slow.BOUNDS, budget=40, batch_size=10, seed=0, polish=False, checkpoint=path, checkpoint_every=2)
    return path


def test_resume_refuses_another_problem(finished):
    with pytest.raises(ValueError, match="another search space"):
        aj.minimize(_quick, [(-2.0, 2.0)] * 4, budget=40, batch_size=10, polish=False, resume=finished, checkpoint_every=2)
    with pytest.raises(ValueError, match="budget"):
        aj.minimize(_quick, slow.BOUNDS, budget=50, batch_size=10, polish=False, resume=finished, checkpoint_every=2)
    with pytest.raises(ValueError, match="path"):
        aj.minimize(_quick, slow.BOUNDS, budget=40, batch_size=10, polish=False, resume=finished, checkpoint_every=2, jit=False)


def test_resume_names_the_change_a_derived_setting_follows(tmp_path):
    # Without batch_size, another dimension derives another batch and probe: the message
    # must name the space, not those. A host-path checkpoint resumed with an objective
    # JAX can trace names the path (its budget differs only by the device path's polish
    # reserve) and says how to resume it.
    path = tmp_path / "host.json"
    f = lambda X: np.sum(np.asarray(X) ** 2, axis=1)  # noqa: E731
    g = lambda X: jnp.sum(X ** 2, axis=-1)  # noqa: E731  the same values, traceable
    kw = dict(budget=400, seed=3, checkpoint=path)
    aj.minimize(f, [(-5.0, 5.0)] * 4, callback=lambda r: r.nfev >= 100, **kw)
    with pytest.raises(ValueError, match=r"another search space \(the state has 4 dimensions, this space 3\)$"):
        aj.minimize(f, [(-5.0, 5.0)] * 3, resume=True, **kw)
    with pytest.raises(ValueError, match=r"\(high of dimension 2: state 5.0, this space 6.0\)$"):
        aj.minimize(f, [(-5.0, 5.0)] * 2 + [(-5.0, 6.0), (-5.0, 5.0)], resume=True, **kw)
    with pytest.raises(ValueError, match=r"on the host path, this run takes the device path.*pass jit=False") as err:
        aj.minimize(g, [(-5.0, 5.0)] * 4, resume=True, **kw)
    assert "budget" not in str(err.value)
    resumed = aj.minimize(g, [(-5.0, 5.0)] * 4, resume=True, jit=False, **kw)
    assert resumed.nfev == 400 and resumed.fun == aj.minimize(f, [(-5.0, 5.0)] * 4, budget=400, seed=3).fun


def test_resume_refuses_newer_versions_and_corrupt_files(finished, tmp_path):
    doc = json.loads(finished.read_text())
    doc["version"] = 99
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="newer"):
        aj.minimize(_quick, slow.BOUNDS, budget=40, batch_size=10, polish=False, resume=newer, checkpoint_every=2)
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text(finished.read_text()[:-40])
    with pytest.raises(ValueError, match="JSON"):
        aj.minimize(_quick, slow.BOUNDS, budget=40, batch_size=10, polish=False, resume=corrupt, checkpoint_every=2)
    with pytest.raises(FileNotFoundError, match="resume"):
        aj.minimize(_quick, slow.BOUNDS, budget=40, batch_size=10, resume=tmp_path / "missing.json")
    binary = tmp_path / "binary.json"
    binary.write_bytes(bytes(range(128, 256)))  # not UTF-8: was a bare UnicodeDecodeError
    with pytest.raises(ValueError, match=r"resume: .*binary.json' is not a checkpoint \(not UTF-8 text\)"):
        aj.minimize(_quick, slow.BOUNDS, budget=40, batch_size=10, polish=False, resume=binary, checkpoint_every=2)
    with pytest.raises(ValueError, match=r"resume: .* is a folder"):
        aj.minimize(_quick, slow.BOUNDS, budget=40, batch_size=10, polish=False, resume=tmp_path, checkpoint_every=2)
    with pytest.raises(ValueError, match="checkpoint"):
        aj.minimize(_quick, slow.BOUNDS, budget=40, resume=True)


def test_a_checkpoint_in_a_missing_folder_is_refused_by_its_own_name(tmp_path):
    # The write goes through a temporary file beside the checkpoint; the message names
    # the path the user gave, not that file.
    path = tmp_path / "no" / "such" / "run.json"
    with pytest.raises(FileNotFoundError) as info:
        aj.minimize(_quick, slow.BOUNDS, budget=40, batch_size=10, polish=False, checkpoint=path, checkpoint_every=2)
    msg = str(info.value)
    assert msg.startswith(f"checkpoint: cannot write {str(path)!r}") and ".tmp" not in msg, msg


def test_errors_record_keeps_the_run_going():
    seen = []

    def f(x):
        x = np.asarray(x)
        seen.append(len(x))
        if np.any(x[:, 0] > 0.8):
            raise RuntimeError("solver diverged")
        return np.sum(x**2, axis=1)

    r = aj.minimize(f, slow.BOUNDS, budget=60, batch_size=10, seed=0, errors="record")
    assert r.nfev == 60 and r.n_failed >= 1
    assert r.n_failed == len(r.info["errors"]) and all("diverged" in m for m in r.info["errors"].values())
    assert np.isfinite(r.fun) and r.x[0] <= 0.8
    with pytest.raises(RuntimeError, match="diverged"):
        aj.minimize(f, slow.BOUNDS, budget=60, batch_size=10, seed=0)  # the default lets it propagate


@pytest.mark.parametrize("vectorized", [True, False])
def test_an_interrupted_errors_record_run_resumes_with_its_errors(tmp_path, vectorized):
    calls = {"n": 0, "stop_at": None}

    def f(x):
        calls["n"] += 1
        if calls["n"] == calls["stop_at"]:
            raise KeyboardInterrupt
        x = np.asarray(x)
        if np.any(x[..., 0] > 0.5):
            raise RuntimeError("solver diverged")
        return np.sum(x**2, axis=-1)

    run = dict(budget=120, batch_size=10, seed=3, errors="record", vectorized=vectorized, checkpoint_every=1)
    full = aj.minimize(f, slow.BOUNDS, **run)
    assert full.info["n_errors"] >= 2
    calls.update(n=0, stop_at=calls["n"] // 2)  # well after the first errors
    with pytest.raises(aj.OptimizationInterrupted):
        aj.minimize(f, slow.BOUNDS, checkpoint=tmp_path / "run.json", **run)
    calls["stop_at"] = None
    resumed = aj.minimize(f, slow.BOUNDS, checkpoint=tmp_path / "run.json", resume=True, **run)
    assert resumed.fun == full.fun and resumed.n_failed == full.n_failed
    assert resumed.info["errors"] == full.info["errors"] and resumed.info["n_errors"] == full.info["n_errors"]


def test_checkpoint_in_another_precision_says_which_x64_resumes_it(tmp_path):
    # Host-path checkpoints written in float32 (x64=False) before float64 became the default.
    f = lambda X: np.sum(np.asarray(X) ** 2, axis=1)  # noqa: E731
    path = tmp_path / "run.json"
    done = aj.minimize(f, [(-1, 1)] * 3, budget=60, checkpoint=path, x64=False)
    with pytest.raises(ValueError, match=r"dtype: checkpoint 'float32', this run 'float64' \(x64=False resumes it\)"):
        aj.minimize(f, [(-1, 1)] * 3, budget=60, checkpoint=path, resume=True)
    again = aj.minimize(f, [(-1, 1)] * 3, budget=60, checkpoint=path, resume=True, x64=False)
    assert again.fun == done.fun and again.nfev == 60


def test_checkpoint_with_another_probe_ratio_names_it(tmp_path):
    f = lambda X: np.sum(np.asarray(X) ** 2, axis=1)  # noqa: E731
    path = tmp_path / "run.json"
    done = aj.minimize(f, [(-1, 1)] * 3, budget=60, batch_size=10, checkpoint=path)
    with pytest.raises(ValueError, match=r"probe_count: checkpoint 10, this run 30 \(set by probe_ratio, the budget"):
        aj.minimize(f, [(-1, 1)] * 3, budget=60, batch_size=10, checkpoint=path, resume=True, probe_ratio=0.5)
    again = aj.minimize(f, [(-1, 1)] * 3, budget=60, batch_size=10, checkpoint=path, resume=True)
    assert again.fun == done.fun and again.nfev == 60


def test_resumes_of_one_size_class_share_the_compiled_state_template(tmp_path):
    # Budgets differ only in data (the probe length) within a size class, so resuming a
    # run of another budget of that class compiles nothing: the checkpoint's state
    # template is built by the init that takes the probe length as an argument.
    f = lambda X: np.sum(np.asarray(X) ** 2, axis=1)  # noqa: E731
    bounds = [(-5.0, 5.0)] * 3
    runs = {b: tmp_path / f"b{b}.json" for b in (300, 310)}
    for b, path in runs.items():
        aj.minimize(f, bounds, budget=b, batch_size=10, seed=1, checkpoint=path, polish=False,
                    callback=lambda r: r.nfev >= 150)
    first = aj.minimize(f, bounds, budget=300, batch_size=10, seed=1, resume=runs[300], polish=False)
    other, n_compiles = count_compiles(
        lambda: aj.minimize(f, bounds, budget=310, batch_size=10, seed=1, resume=runs[310], polish=False))
    assert (first.nfev, other.nfev) == (300, 310)
    assert other.fun == aj.minimize(f, bounds, budget=310, batch_size=10, seed=1, polish=False).fun
    assert n_compiles == 0
