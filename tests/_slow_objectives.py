"""Objectives slow enough to kill a run between two checkpoints (imported by a subprocess too)."""

import time

import jax
import jax.numpy as jnp
import numpy as np

BOUNDS = [(-2.0, 2.0)] * 3
TARGET = np.array([0.4, -1.1, 0.7])


def _pause():
    time.sleep(0.02)


def device_f(x):
    jax.debug.callback(_pause)  # still traceable: the device path runs, a little slowly
    return jnp.sum((x - jnp.asarray(TARGET, x.dtype)) ** 2, axis=-1)


def host_f(x):
    time.sleep(0.02)
    return np.sum((np.asarray(x) - TARGET) ** 2, axis=1)


RUN = {"budget": 405, "batch_size": 10, "seed": 3, "checkpoint_every": 2, "polish": False}
