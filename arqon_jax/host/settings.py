"""The solver configuration shared by ``ArqonSolver``, ``ArqonProbe`` and the CLI.

ArqonHPO's JSON schema plus optional fields of ours (see :mod:`arqon_jax.compat`);
one parser, so the three front doors accept and refuse the same configurations with
the same messages.
"""

from __future__ import annotations

import json
import math
import numbers
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..core.solver import PROBE_RATIO, check_method, default_batch_size
from ..core.validate import check_fraction
from ..core.space import LOG, Space
from .config import check_int, check_seed
from .jsonio import parse_json

__all__ = ["SOLVER_FIELDS", "MAX_BUDGET", "check_bounds", "config_space", "load_config", "solver_config", "warn_unknown"]

SOLVER_FIELDS = (
    "seed", "budget", "bounds", "probe_ratio", "strategy_params", "batch_size", "method", "capacity", "x64",
)
MAX_BUDGET = 2**31 - 2**25


def load_config(config: Any, where: str = "config") -> dict:
    """A configuration given as JSON text, bytes or a mapping, as a dict (messages name ``where``)."""
    if isinstance(config, (str, bytes, bytearray)):
        config = parse_json(config, where)
    if not isinstance(config, Mapping):
        raise TypeError(f"{where}: expected a JSON object (str) or a dict, got {type(config).__name__}")
    return dict(config)


def _int_field(cfg: Mapping, name: str, low: int, high: int | None = None, default: Any = ...) -> Any:
    if name not in cfg or cfg[name] is None:
        if default is ...:
            raise ValueError(f"config: missing required field {name!r}")
        return default
    value = cfg[name]
    if isinstance(value, float) and value.is_integer():  # JSON writers often emit 100.0
        value = int(value)
    return check_int(name, value, low, high)


def _scale_of(scale: Any) -> int | None:
    """The scale code Space gives an ArqonHPO scale name, or None if Space refuses it."""
    try:
        return Space.from_bounds({"p": {"min": 1.0, "max": 2.0, "scale": scale}}).scales[0]
    except (TypeError, ValueError):
        return None  # unknown or categorical: Space.from_bounds on the real bounds says why


def check_bounds(bounds: Any) -> Space:
    """Validates ArqonHPO-style bounds with messages naming the parameter, then builds the Space."""
    if not isinstance(bounds, Mapping):
        # The config's parameters are named (the proposals are dicts), so a list of
        # (low, high) pairs, which minimize takes, has no names to hand out.
        hint = (" (ArqonHPO's config form names each parameter, e.g. {'x0': {'min': -5, 'max': 5}}; a list of "
                "(low, high) pairs is for minimize)") if isinstance(bounds, (list, tuple)) else ""
        raise TypeError(f"bounds: expected a dict name -> {{'min', 'max', 'scale'}}, got {type(bounds).__name__}{hint}")
    if not bounds:
        raise ValueError("bounds: the search space is empty; give at least one parameter")
    for name, spec in bounds.items():
        where = f"bounds[{name!r}]"
        if not isinstance(spec, Mapping) or "choices" in spec:
            continue  # (low, high) pairs and choices: Space's own checks name the field
        for side in ("min", "max"):
            alt = {"min": "low", "max": "high"}[side]
            if side not in spec and alt not in spec:
                raise ValueError(f"{where}: missing {side!r}")
            value = spec.get(side, spec.get(alt))
            if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.number)):
                raise TypeError(f"{where}[{side!r}]: expected a number, got {type(value).__name__} {value!r}")
            if not math.isfinite(float(value)):
                raise ValueError(f"{where}[{side!r}]: must be finite, got {value!r}")
        lo, hi = float(spec.get("min", spec.get("low"))), float(spec.get("max", spec.get("high")))
        scale = spec.get("scale", "Linear")
        code = _scale_of(scale)
        if not lo < hi:
            raise ValueError(f"{where}: min must be < max, got min={lo!r}, max={hi!r}")
        if code == LOG and lo <= 0:
            raise ValueError(f"{where}: scale {scale!r} needs min > 0, got min={lo!r}")
    return Space.from_bounds(dict(bounds))


def config_space(cfg: Mapping) -> Space:
    """The :class:`Space` of a config's required ``bounds`` (see :func:`check_bounds`)."""
    if "bounds" not in cfg:
        raise ValueError("config: missing required field 'bounds'")
    return check_bounds(cfg["bounds"])


def warn_unknown(cfg: Mapping, known: tuple, who: str) -> None:
    unknown = sorted(str(k) for k in cfg if k not in known)
    if unknown:
        warnings.warn(f"{who}: ignoring unknown config fields {unknown}", UserWarning, stacklevel=3)


def solver_config(config: Any) -> tuple[dict, Space]:
    """Validates an ArqonHPO-style solver configuration (JSON text or a dict).

    Returns:
        The configuration normalized (every field filled in) and its :class:`Space`.

    Raises:
        TypeError, ValueError: For an invalid field, naming it.

    Warns:
        UserWarning: For unknown fields (ignored), and when float32 cannot represent or
            resolve the bounds (the configuration then gets ``"x64": true``).
    """
    cfg = load_config(config)
    warn_unknown(cfg, SOLVER_FIELDS, "ArqonSolver")
    seed = 0 if cfg.get("seed") is None else check_seed(cfg["seed"])
    budget = _int_field(cfg, "budget", 1, MAX_BUDGET)
    space = config_space(cfg)
    ratio = check_fraction("probe_ratio", PROBE_RATIO if cfg.get("probe_ratio") is None else cfg["probe_ratio"])
    params = cfg.get("strategy_params")
    if params is not None and not isinstance(params, Mapping):
        raise TypeError(f"strategy_params: expected a dict, got {type(params).__name__}")
    # The caller evaluates the proposals itself, row by row as far as the solver knows
    # (the seed's ask_one loop): minimize's host-path default. Measured with ArqonSolver's
    # ask_one loop (float32) on BBOB, instances 1-10, 5-D/100 and 10-D/200: batch 5 against
    # the older 10 better on 6 / 7 functions, worse on 0 / 2 (Wilcoxon p < 0.05).
    batch = _int_field(cfg, "batch_size", 1, budget, default=default_batch_size(budget, space.dim, wide=False))
    method = check_method("auto" if cfg.get("method") is None else cfg["method"], any_case=True)
    capacity = _int_field(cfg, "capacity", 1, default=None)
    x64 = cfg.get("x64", False)
    x64 = False if x64 is None else x64
    if not isinstance(x64, (bool, np.bool_)):
        raise TypeError(f"x64: expected true or false, got {type(x64).__name__} {x64!r}")
    x64 = bool(x64)
    issues = [] if x64 else space.float32_issues(np.float32)
    if issues:
        # Refusing would break ArqonHPO configurations that work there (it runs in
        # float64); staying in float32 would propose a few distinct points or points
        # outside the bounds.
        warnings.warn(
            f"ArqonSolver: {'; '.join(issues)}: running the solver in float64 (\"x64\": true) instead; "
            "set \"x64\": true in the config to silence this warning",
            UserWarning,
            stacklevel=3,
        )
        x64 = True
    norm = {
        "seed": seed,
        "budget": budget,
        "bounds": json.loads(json.dumps(cfg["bounds"])) if _jsonable(cfg["bounds"]) else cfg["bounds"],
        "probe_ratio": ratio,
        "strategy_params": dict(params or {}),
        "batch_size": batch,
        "method": method,
        "capacity": capacity,
        "x64": x64,
    }
    return norm, space


def _jsonable(obj: Any) -> bool:
    try:
        json.dumps(obj)
    except (TypeError, ValueError):
        return False
    return True
