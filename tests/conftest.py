"""Shared pytest fixtures."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster for the whole test session: 2 CPUs and one logical GPU.

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
