"""Shared pytest fixtures and settings."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

# The tests compile hundreds of small programs and run most of them briefly: XLA's
# backend optimization level 0 compiles faster (tests/test_strategies.py: 86 s -> 63 s
# on 2 cores). Its programs round differently in the last bits (a 4-D minimize differs
# by ~1e-6 relative from level 3's), which no test depends on: the suite passes at both
# levels, and subprocesses that tests start inherit the setting, so cross-process
# comparisons compare like with like.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

# XLA's CPU fusion emitters (jaxlib 0.10's default) take about twice as long to compile
# our programs as its older elemental emitters: TPE's 4-D ask 2.6 s -> 1.3 s,
# the GP's 5.8 s -> 2.2 s, a 4-D minimize 4.0 s -> 2.2 s of compile, with last-bit
# differences in the values (as level 0's); compiling is about 57% of the suite's time.
# XLA aborts the process on a flag it does not know, so the flag is first tried in a
# child process: a jaxlib that drops it runs the suite with its defaults instead of
# failing to start.
_EMITTERS = "--xla_cpu_use_fusion_emitters=false"
if "xla_cpu_use_fusion_emitters" not in os.environ.get("XLA_FLAGS", ""):
    _flags = (os.environ.get("XLA_FLAGS", "") + " " + _EMITTERS).strip()
    try:
        _accepted = subprocess.run(
            [sys.executable, "-c", "import jax.numpy as jnp; jnp.zeros(1).block_until_ready()"],
            env={**os.environ, "XLA_FLAGS": _flags, "JAX_PLATFORMS": "cpu"},
            capture_output=True, timeout=120,
        ).returncode == 0
    except subprocess.TimeoutExpired:
        _accepted = False
    if _accepted:
        os.environ["XLA_FLAGS"] = _flags

# One persistent XLA compile cache for this test session: tests that start Python
# subprocesses (CLI, kill -9 and cross-process determinism checks) inherit it through
# the environment and reuse executables instead of compiling the same programs again.
# It lives in a fresh temporary folder, so nothing leaks between sessions; pytest-xdist's
# workers inherit it from the controller's environment and share it.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="arqon-jax-test-xla-")
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    import jax

    jax.config.update("jax_compilation_cache_dir", _cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster per test process: 2 CPUs and one logical GPU.

    Each ``pytest -n`` worker starts its own when its first Ray test runs.

    The GPU is declared, not real (``num_gpus=1`` on a CPU-only machine): enough to test
    fractional GPU scheduling. JAX stays on the CPU (``JAX_PLATFORMS=cpu``) here and in
    the Ray workers, which inherit this environment.
    """
    os.environ["RAY_AUTH_MODE"] = "disabled"
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ["JAX_PLATFORMS"] = "cpu"
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(
            num_cpus=2,
            num_gpus=1,
            include_dashboard=False,
            object_store_memory=200_000_000,
            log_to_driver=False,
        )
    yield ray
    if started:
        ray.shutdown()
