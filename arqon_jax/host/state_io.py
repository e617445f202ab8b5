"""One versioned JSON format for solver states: PyTree <-> text, bit for bit.

Used by :meth:`arqon_jax.ArqonSolver.export` / ``from_state`` and meant to be shared by
every other place that checkpoints a solver, so a state written by one can be checked
(and refused with a clear message) by another. The document is::

    {
      "format": "arqon_jax.state",
      "version": 1,
      "kind": "ArqonSolver",            # who wrote it; readers name the kind they expect
      "arqon_jax_version": "0.1.0",
      "config": {...},                  # the writer's configuration (JSON-able)
      "space": {...},                   # Space.fingerprint() or null
      "leaves": [                       # the PyTree's leaves in tree_flatten order
        {"path": ".key", "dtype": "key<threefry2x32>", "shape": [], "data": "<base64>"},
        {"path": ".history.X", "dtype": "float32", "shape": [100, 2], "data": "<base64>"},
        ...
      ],
      "extra": {...}                    # anything else the writer needs (JSON-able)
    }

Array bytes are little-endian C order, so a state moves between machines and processes
unchanged; typed PRNG keys are stored as their raw ``key_data`` plus the implementation
name and rebuilt with ``jax.random.wrap_key_data``. The PyTree's structure is not stored
as code: the reader supplies a template (a PyTree of the expected structure, shapes and
dtypes, e.g. ``solver.init(key)``) and every leaf is checked against it.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from .config import is_typed_key

__all__ = [
    "FORMAT", "VERSION", "state_to_json", "state_from_json", "read_state_header", "encode_array", "decode_array",
]

FORMAT = "arqon_jax.state"
VERSION = 1
_KEY_PREFIX = "key<"


def _version() -> str:
    from .. import __version__

    return __version__


def _encode_leaf(path: str, leaf: Any) -> dict:
    if is_typed_key(leaf):
        impl = str(jax.random.key_impl(leaf))
        data = np.asarray(jax.random.key_data(leaf))
        dtype = f"{_KEY_PREFIX}{impl}>"
        shape = list(np.shape(leaf))
    else:
        data = np.asarray(leaf)
        dtype = data.dtype.name
        shape = list(data.shape)
    raw = np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<"), copy=False).tobytes()
    return {"path": path, "dtype": dtype, "shape": shape, "data": base64.b64encode(raw).decode("ascii")}


def _leaf_signature(leaf: Any) -> tuple[str, tuple[int, ...]]:
    if is_typed_key(leaf):
        return f"{_KEY_PREFIX}{jax.random.key_impl(leaf)}>", tuple(np.shape(leaf))
    arr = np.asarray(leaf) if not hasattr(leaf, "dtype") else leaf
    return np.dtype(arr.dtype).name, tuple(np.shape(arr))


def _decode_leaf(entry: dict, template_leaf: Any, index: int, path: str) -> Any:
    want_dtype, want_shape = _leaf_signature(template_leaf)
    if not isinstance(entry, dict) or not {"dtype", "shape", "data"} <= set(entry):
        raise ValueError(f"state: leaf {index} ({path}) is malformed (needs 'dtype', 'shape', 'data')")
    dtype, shape = entry["dtype"], entry["shape"]
    if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise ValueError(f"state: leaf {index} ({path}) has an invalid shape {shape!r}")
    if dtype != want_dtype or tuple(shape) != want_shape:
        raise ValueError(
            f"state: structure mismatch at leaf {index} ({path}): the state holds {dtype}{list(shape)}, "
            f"this solver expects {want_dtype}{list(want_shape)} (another problem, dimension, budget or "
            "configuration, or another float precision)"
        )
    try:
        raw = base64.b64decode(entry["data"], validate=True)
    except (binascii.Error, TypeError, ValueError) as exc:
        raise ValueError(f"state: leaf {index} ({path}) is corrupt (bad base64: {exc})") from None
    if dtype.startswith(_KEY_PREFIX):
        data_template = np.asarray(jax.random.key_data(template_leaf))
        np_dtype, data_shape = data_template.dtype, data_template.shape
    else:
        np_dtype, data_shape = np.dtype(dtype), tuple(shape)
    expected = int(np.prod(data_shape, dtype=np.int64)) * np_dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"state: leaf {index} ({path}) is corrupt ({len(raw)} bytes, expected {expected})")
    arr = np.frombuffer(raw, dtype=np_dtype.newbyteorder("<")).astype(np_dtype).reshape(data_shape)
    if dtype.startswith(_KEY_PREFIX):
        return jax.random.wrap_key_data(jnp.asarray(arr), impl=dtype[len(_KEY_PREFIX) : -1])
    return jnp.asarray(arr)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"state: cannot store a {type(obj).__name__} ({obj!r}) in JSON")


def state_to_json(kind: str, config: dict, space: Any, pytree: Any, extra: dict | None = None) -> str:
    """Serializes a PyTree of arrays (plus JSON-able config and extras) to versioned JSON.

    Args:
        kind: Who writes the state (e.g. ``"ArqonSolver"``); readers check it.
        config: JSON-able configuration needed to rebuild the writer.
        space: A :class:`~arqon_jax.Space` (its fingerprint is stored) or ``None``.
        pytree: The state: a PyTree whose leaves are arrays or typed PRNG keys.
        extra: Further JSON-able data. NaN and infinities are allowed (written as
            ``NaN``/``Infinity``, which Python's ``json`` reads back).

    Returns:
        The JSON text.

    Raises:
        TypeError: If ``config`` or ``extra`` hold something JSON cannot store.
    """
    flat, _ = jax.tree_util.tree_flatten_with_path(pytree)
    leaves = [_encode_leaf(jax.tree_util.keystr(p), leaf) for p, leaf in flat]
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "arqon_jax_version": _version(),
        "config": config,
        "space": space.fingerprint() if space is not None else None,
        "leaves": leaves,
        "extra": extra or {},
    }
    return json.dumps(doc, default=_json_default, separators=(",", ":"))


def read_state_header(text: Any, kind: str) -> dict:
    """Parses and checks a state document's envelope (format, version, kind).

    Returns:
        The parsed document (a dict), for :func:`state_from_json`.

    Raises:
        ValueError: For text that is not JSON, not an arqon_jax state, a newer version,
            or a state of another kind.
    """
    if isinstance(text, dict):
        doc = text
    else:
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8", errors="replace")
        if not isinstance(text, str):
            raise TypeError(f"state: expected the JSON text from export(), got {type(text).__name__}")
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"state: not valid JSON ({exc}); expected the text written by export()") from None
        except RecursionError:
            raise ValueError("state: JSON nested too deeply; expected the text written by export()") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"state: not an arqon_jax state (format={found!r}, expected {FORMAT!r})")
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"state: invalid version {version!r}")
    if version > VERSION:
        raise ValueError(
            f"state: version {version} was written by a newer arqon_jax "
            f"({doc.get('arqon_jax_version')}); this one reads versions up to {VERSION}: upgrade arqon_jax"
        )
    if doc.get("kind") != kind:
        raise ValueError(f"state: this is a {doc.get('kind')!r} state, expected a {kind!r} state")
    for field, typ in (("config", dict), ("leaves", list), ("extra", dict)):
        if not isinstance(doc.get(field), typ):
            raise ValueError(f"state: field {field!r} is missing or not a {typ.__name__}")
    return doc


def state_from_json(
    text: Any,
    kind: str,
    template_pytree: Any | Callable[[dict], Any],
    space: Any = None,
) -> tuple[dict, Any, dict]:
    """Reads a state written by :func:`state_to_json`.

    Args:
        text: The JSON text (or the dict from :func:`read_state_header`).
        kind: The kind the caller expects.
        template_pytree: A PyTree with the expected structure, shapes and dtypes (values
            are ignored), or a callable ``config -> template`` when the template depends
            on the stored configuration.
        space: If given, the stored space fingerprint must equal ``space.fingerprint()``.

    Returns:
        ``(config, pytree, extra)``.

    Raises:
        ValueError: Corrupt JSON, wrong format, newer version, another kind, another
            space, or a structure that does not match the template.
    """
    doc = read_state_header(text, kind)
    config = doc["config"]
    if space is not None:
        check_space(doc, space)
    template = template_pytree(config) if callable(template_pytree) else template_pytree
    flat, treedef = jax.tree_util.tree_flatten_with_path(template)
    entries = doc["leaves"]
    if len(entries) != len(flat):
        raise ValueError(
            f"state: structure mismatch: the state holds {len(entries)} arrays, this solver expects {len(flat)} "
            "(written by another solver configuration or version)"
        )
    leaves = []
    for i, ((p, leaf), entry) in enumerate(zip(flat, entries)):
        path = jax.tree_util.keystr(p)
        if isinstance(entry, dict) and entry.get("path") not in (None, path):
            raise ValueError(f"state: structure mismatch at leaf {i}: the state has {entry.get('path')!r}, expected {path!r}")
        leaves.append(_decode_leaf(entry, leaf, i, path))
    return config, jax.tree_util.tree_unflatten(treedef, leaves), doc["extra"]


def check_space(doc: dict, space: Any) -> None:
    """Raises ValueError naming how the state's search space differs from ``space``.

    ``doc`` is a header from :func:`read_state_header`; ``space`` a ``Space``.
    """
    stored, this = doc.get("space"), _normalize(space.fingerprint())
    if stored == this:
        return
    what = []
    if isinstance(stored, dict) and isinstance(stored.get("low"), list):
        n_old, n_new = len(stored["low"]), len(this["low"])
        if n_old != n_new:
            what = [f"the state has {n_old} dimensions, this space {n_new}"]
        else:
            def column(fp, field):
                v = fp.get(field)
                return v if isinstance(v, list) and len(v) == n_old else [None] * n_old

            names = this["names"] if this.get("names") else [f"dimension {i}" for i in range(n_new)]
            what = [f"{field} of {names[i]}: state {old!r}, this space {new!r}"
                    for field in ("low", "high", "scales", "choices")
                    for i, (old, new) in enumerate(zip(column(stored, field), column(this, field)))
                    if old != new][:4]
            if stored.get("names") != this.get("names"):
                what.insert(0, f"names: state {stored.get('names')}, this space {this.get('names')}")
    if not what:
        raise ValueError(f"state: written for another search space ({stored}), not {this}")
    raise ValueError("state: written for another search space (" + "; ".join(what) + ")")


def _normalize(obj: Any) -> Any:
    """What ``obj`` looks like after a JSON round trip (tuples become lists)."""
    return json.loads(json.dumps(obj, default=_json_default))


def encode_array(arr: Any) -> dict:
    """A numpy array as a JSON-able dict (dtype, shape, base64 bytes), exact."""
    return _encode_leaf("", np.asarray(arr))


def decode_array(entry: Any, where: str = "state") -> np.ndarray:
    """Inverse of :func:`encode_array`.

    Raises:
        ValueError: If ``entry`` is malformed or corrupt (``where`` names it).
    """
    if not isinstance(entry, dict) or not {"dtype", "shape", "data"} <= set(entry):
        raise ValueError(f"{where}: malformed array (needs 'dtype', 'shape', 'data')")
    try:
        dtype = np.dtype(entry["dtype"])
        shape = tuple(int(s) for s in entry["shape"])
        raw = base64.b64decode(entry["data"], validate=True)
        arr = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
    except (TypeError, ValueError, binascii.Error) as exc:
        raise ValueError(f"{where}: corrupt array ({exc})") from None
    return arr
