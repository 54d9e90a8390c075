"""Load plain dicts (from YAML) into frozen config dataclasses.

Config chooses, code does not branch: every node, device and tool has a frozen
dataclass whose fields carry units in their comments and whose ``__post_init__``
validates. :func:`from_dict` fills one from a mapping and turns every mistake into a
:class:`~abc_robot.errors.ConfigError` that names the file, the section and the field,
so an operator can fix a launch or calibration file without reading a traceback.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from abc_robot.errors import ConfigError

__all__ = ["from_dict", "load_yaml", "load_config"]

T = TypeVar("T")


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML file into a dict; a missing or malformed file names itself."""
    import yaml  # light, but keep it off the import path of the transport

    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read file ({exc.strerror})", file=str(p)) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=str(p)) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping at the top level, got {type(data).__name__}", file=str(p))
    return data


def load_config(cls: type[T], path: str | Path, section: str | None = None) -> T:
    """Load ``cls`` from a YAML file (optionally one top-level ``section`` of it)."""
    data = load_yaml(path)
    prefix = ""
    if section is not None:
        if section not in data:
            raise ConfigError(f"missing section (have: {sorted(data)})", file=str(path), field=section)
        data = data[section]
        prefix = section
    return from_dict(cls, data, file=str(path), prefix=prefix)


def from_dict(cls: type[T], data: Any, *, file: str | None = None, prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, checking names and types recursively.

    Args:
        cls: a dataclass type; nested dataclass fields, ``list[...]``, ``tuple[...]``,
            ``dict[str, ...]``, ``X | None`` and ``Literal[...]`` are understood.
        data: the mapping read from a file.
        file: the file the data came from, named in errors.
        prefix: dotted path of ``data`` inside that file (e.g. ``nodes.left.params``).

    Raises:
        ConfigError: unknown or missing field, wrong type, or a ``__post_init__``
            ``ValueError``/``TypeError``; the message names the file and the field.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping, got {type(data).__name__}", file=file, field=prefix or None)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown field(s) {unknown}; valid fields: {sorted(fields)}",
            file=file,
            field=_join(prefix, unknown[0]),
        )
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        path = _join(prefix, name)
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError("required field is missing", file=file, field=path)
            continue
        kwargs[name] = _convert(hints[name], data[name], file, path)
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        field = getattr(exc, "field", None)
        raise ConfigError(str(exc), file=file, field=_join(prefix, field) if field else (prefix or None)) from exc


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _convert(tp: Any, value: Any, file: str | None, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, file, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"value {value!r} matches none of {_name(tp)}", file=file, field=path)
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"must be one of {list(args)}, got {value!r}", file=file, field=path)
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(typing.cast(type, tp), value, file=file, prefix=path)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"expected a list, got {value!r}", file=file, field=path)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"expected {len(args)} values, got {len(value)}", file=file, field=path)
            return tuple(_convert(a, v, file, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        out = [_convert(item, v, file, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"expected a mapping, got {value!r}", file=file, field=path)
        vt = args[1] if len(args) == 2 else Any
        return {str(k): _convert(vt, v, file, f"{path}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"expected a number, got {value!r}", file=file, field=path)
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"expected an integer, got {value!r}", file=file, field=path)
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"expected true or false, got {value!r}", file=file, field=path)
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"expected a string, got {value!r}", file=file, field=path)
        return value
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        try:
            return tp(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"expected {tp.__name__}, got {value!r} ({exc})", file=file, field=path) from exc
    return value


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp)
