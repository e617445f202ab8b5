"""Counting XLA compilations, for tests that a call reuses compiled programs."""

from __future__ import annotations

import jax


def count_compiles(fn):
    """Runs ``fn()`` and returns (its result, the number of XLA compilations it caused)."""
    events = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            events.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        out = fn()
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    return out, len(events)
