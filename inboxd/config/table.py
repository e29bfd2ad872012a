"""The checked reader every configuration section is parsed with.

A :class:`Table` hands out typed values of one TOML table and raises :class:`ConfigError`
naming the dotted key; ``reject_unknown`` turns leftover keys (typos) into errors.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from inboxd.errors import ConfigError


MISSPELLING_CUTOFF = 0.7  # difflib's similarity from which an unknown key is taken for a typo


class Table:
    """One TOML table with its dotted path; hands out checked values and tracks unknown keys."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(path, f"must be a table, got {kind_name(data)}")
        self.data: dict[str, Any] = data
        self.path = path
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ..., *,
            choices: tuple[Any, ...] = ()) -> Any:
        self.used.add(name)
        if name not in self.data:
            if default is ...:
                raise self.missing([name], "is required but missing")
            return default
        value = self.data[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise ConfigError(self.key(name), f"must be {_names(kinds)}, got a boolean")
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds):
            raise ConfigError(self.key(name), f"must be {_names(kinds)}, got {kind_name(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(self.key(name), f"must be a finite number, got {value}")
        if choices and value not in choices:
            allowed = ", ".join(repr(c) for c in choices)
            raise ConfigError(self.key(name), f"must be one of {allowed}, got {value!r}")
        return value

    def table(self, name: str, required: bool = True) -> Table:
        self.used.add(name)
        if name not in self.data and not required:
            return Table({}, self.key(name))
        if name not in self.data:
            raise self.missing([name], "table is required but missing")
        return Table(self.data[name], self.key(name))

    def missing(self, names: Sequence[str], problem: str) -> ConfigError:
        """The error for a required key that is missing: when a key not read yet looks like a
        misspelling of one of ``names`` (``pasword_env``), that unknown key is the problem."""
        unread = [k for k in self.data if k not in self.used and k not in names]
        for name in names:
            close = difflib.get_close_matches(name, unread, n=1, cutoff=MISSPELLING_CUTOFF)
            if close:
                return ConfigError(self.key(close[0]),
                                   f"unknown key (check its spelling: {self.key(name)}?)")
        return ConfigError(self.key(names[0]), problem)

    def reject_unknown(self) -> None:
        for name in self.data:
            if name not in self.used:
                raise ConfigError(self.key(name), "unknown key (check its spelling)")


def kind_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def _names(kinds: tuple[type, ...]) -> str:
    return " or ".join(kind_name(k()) if k is not type(None) else "absent" for k in kinds)


def positive(t: Table, name: str, default: float) -> float:
    value = t.get(name, float, default)
    if value <= 0:
        raise ConfigError(t.key(name), f"must be greater than 0, got {value}")
    return value


def duration(t: Table, name: str, default: str) -> timedelta:
    """A duration longer than 0, written like "2h", "90m", "1h30m" or "7d"."""
    from inboxd.core.clocks import parse_duration

    text = t.get(name, str, default)
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise ConfigError(t.key(name), str(exc)) from None
    if value <= timedelta():
        raise ConfigError(t.key(name), f"must be longer than 0, got {text!r}")
    return value


def resolve_path(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p).resolve()
