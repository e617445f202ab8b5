"""The user's JSON (and TOML) in and out: one set of rules for every front door.

Readers raise ``ValueError``/``TypeError`` with one-line messages that start with
``where`` (the argument or file the text came from); writers give strict JSON that any
language reads (non-finite numbers become ``null``).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MAX_DEPTH", "TOO_DEEP", "F64_MAX", "huge_float", "parse_json", "check_depth", "check_plain",
           "read_text", "load_config_file", "parse_results", "jsonable", "dumps"]

MAX_DEPTH = 100  # nesting of user JSON/TOML; real configs and results need a handful of levels
TOO_DEEP = f"nested too deeply (more than {MAX_DEPTH} levels of arrays/objects)"
F64_MAX = float(np.finfo(np.float64).max)


def huge_float(text: str) -> float:
    """A JSON number literal: a finite one beyond float64 (``1e400``) is the largest float, not inf."""
    v = float(text)
    return v if math.isfinite(v) else math.copysign(F64_MAX, v)


def parse_json(text: str | bytes, where: str, *, huge: bool = False) -> Any:
    """``json.loads`` with one-line errors: NaN and Infinity accepted, bytes read as UTF-8.

    ``huge``: finite numbers beyond float64 become its largest float (:func:`huge_float`).
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{where}: not UTF-8 text ({exc})") from None
    text = text.removeprefix("\ufeff")  # the byte-order mark some Windows editors write
    try:
        return json.loads(text, parse_float=huge_float if huge else None)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise ValueError(f"{where}: {TOO_DEEP}") from None


def check_depth(data: Any, where: str) -> None:
    """Refuses data nested deeper than ``MAX_DEPTH``: the library walks it recursively."""
    stack = [(data, 1)]  # iterative, so that the check itself cannot hit the recursion limit
    while stack:
        obj, depth = stack.pop()
        if isinstance(obj, (dict, list)):
            if depth > MAX_DEPTH:
                raise ValueError(f"{where}: {TOO_DEEP}")
            stack.extend((v, depth + 1) for v in (obj.values() if isinstance(obj, dict) else obj))


def check_plain(data: Any, where: str) -> None:
    """Refuses config values that do not survive a JSON round trip.

    State files and batches are strict JSON, and results are matched to proposals by
    value: a NaN or infinite choice would come back as null and never match, and a
    TOML date would turn into a string.
    """
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        obj, at = stack.pop()
        if isinstance(obj, dict):
            stack.extend(reversed([(v, f"{at}[{k!r}]" if at else str(k)) for k, v in obj.items()]))
        elif isinstance(obj, list):
            stack.extend(reversed([(v, f"{at}[{i}]") for i, v in enumerate(obj)]))  # the first bad one is named
        elif isinstance(obj, float):
            if not math.isfinite(obj):
                raise ValueError(f"{where}: {at or 'the value'} is {obj!r}; NaN and infinite numbers have no JSON "
                                 "form, so state files and batches could not carry them (write such a choice as a "
                                 "string)")
        elif not (obj is None or isinstance(obj, (str, int, bool))):
            raise ValueError(f"{where}: {at or 'the value'} is a {type(obj).__name__} ({obj!r}); "
                             "only strings, numbers, booleans, null, arrays and tables are supported")


def read_text(path: str, where: str) -> str:
    """Text of the file ``path`` (``-``: stdin)."""
    if path == "-":
        return sys.stdin.read()
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{where}: no such file: {path}")
    if p.is_dir():
        raise ValueError(f"{where}: {path} is a directory, expected a file")
    try:
        return p.read_text(encoding="utf-8-sig")  # a byte-order mark (Windows editors) is dropped
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{where}: cannot read {path} ({exc})") from None


def load_config_file(spec: str, where: str = "--config") -> dict:
    """A config from a JSON or TOML file (by suffix ``.toml``), ``-`` (stdin, JSON) or inline JSON text.

    Raises:
        ValueError: For a missing file, bad JSON/TOML, nesting deeper than ``MAX_DEPTH``,
            a top level that is not an object, or values :func:`check_plain` refuses.
    """
    inline = spec.lstrip().startswith("{")
    src = where if inline else f"{where} {spec}"
    if inline or not spec.lower().endswith(".toml"):
        data = parse_json(spec if inline else read_text(spec, where), src)
    else:
        import tomllib

        try:
            data = tomllib.loads(read_text(spec, where))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{where}: {spec} is not valid TOML ({exc})") from None
        except RecursionError:
            raise ValueError(f"{src}: {TOO_DEEP}") from None
    check_depth(data, src)
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a JSON object (or a TOML table), got {type(data).__name__}")
    check_plain(data, where)
    return data


def parse_results(text: str, where: str) -> list:
    """Results as a JSON array, one JSON object, or JSON lines (finite literals beyond float64 stay finite).

    Raises:
        ValueError: For empty or invalid text, naming the line of JSON lines.
    """
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise ValueError(f"{where}: no results (empty input)")
    try:
        data = json.loads(text, parse_float=huge_float)
    except RecursionError:
        raise ValueError(f"{where}: {TOO_DEEP}") from None
    except json.JSONDecodeError:
        data = []
        for i, line in enumerate(text.splitlines(), start=1):
            try:
                data.extend([json.loads(line, parse_float=huge_float)] if line.strip() else [])
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: line {i} is not valid JSON ({exc.msg} at column {exc.colno}); "
                                 "expected a JSON array or one JSON object per line") from None
            except RecursionError:
                raise ValueError(f"{where}: line {i} is {TOO_DEEP}") from None
    check_depth(data, where)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ValueError(f"{where}: expected a JSON array of results or JSON lines, got {type(data).__name__}")
    return data


def jsonable(obj: Any) -> Any:
    """Plain JSON types; non-finite floats become null, unknown objects their ``str``."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)


def dumps(obj: Any, indent: int | None = None) -> str:
    """``obj`` as strict JSON text (see :func:`jsonable`)."""
    return json.dumps(jsonable(obj), indent=indent, allow_nan=False)
