"""Strict reading of plain data (from YAML or JSON) into dataclasses: every error names its field.

Mappings read by ``tessera.workload.serialize`` from YAML carry a ``line`` attribute (1-based),
which the messages include.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")
_REQUIRED = object()


def check_shape(shape: Any, field_name: str) -> tuple[int, ...]:
    """``shape`` as a tuple of positive ints; ValueError naming ``field_name`` otherwise."""
    if not isinstance(shape, (tuple, list)):
        raise ValueError(f"{field_name} must be a list of sizes, got {shape!r}")
    for size in shape:
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"{field_name} must hold positive integer sizes, got {list(shape)!r}")
    return tuple(shape)


class Fields:
    """The fields of one mapping, read one by one; keys outside ``allowed`` are errors at once."""

    def __init__(self, data: Any, where: str, allowed: tuple[str, ...]) -> None:
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected a mapping, got {type(data).__name__} {data!r}")
        line = getattr(data, "line", None)
        self.where = f"{where} (line {line})" if line else where
        self.data = data
        for key in data:
            if key not in allowed:
                raise ValueError(f"{self.where}: unknown key {key!r}; valid keys: {', '.join(allowed)}")

    def take(self, key: str, kind: type, default: Any = _REQUIRED) -> Any:
        """The value of ``key``, which must be a ``kind`` (ints exclude booleans)."""
        if key not in self.data:
            if default is _REQUIRED:
                raise ValueError(f"{self.where}: missing key {key!r}")
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"{self.field(key)}: expected {_describe(kind)}, got {value!r}")
        return value

    def field(self, key: str) -> str:
        """The location of one field, for messages."""
        return f"{self.where}, field {key!r}"

    def text(self, key: str) -> str:
        """A required non-empty string."""
        value = self.take(key, str)
        if not value:
            raise ValueError(f"{self.field(key)}: must not be empty")
        return value

    def optional_text(self, key: str) -> str | None:
        """A string or null (required key)."""
        value = self.take(key, object)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{self.field(key)}: expected a string or null, got {value!r}")
        return value

    def text_list(self, key: str) -> list[str]:
        """A list of strings; empty when the key is absent."""
        values = self.take(key, list, [])
        for value in values:
            if not isinstance(value, str):
                raise ValueError(f"{self.field(key)}: expected strings, got {value!r}")
        return values

    def shape(self, key: str) -> tuple[int, ...]:
        return check_shape(self.take(key, list), self.field(key))

    def shapes(self, key: str, required: bool = True) -> tuple[tuple[int, ...], ...]:
        """A list of shapes (empty when absent and not ``required``)."""
        values = self.take(key, list) if required else self.take(key, list, [])
        return tuple(check_shape(value, f"{self.field(key)}[{i}]") for i, value in enumerate(values))

    def record(self, key: str, cls: Callable[..., T], names: tuple[str, ...]) -> T | None:
        """An optional mapping of integer fields ``names`` built into ``cls``; None when absent."""
        data = self.take(key, Mapping, None)
        if data is None:
            return None
        inner = Fields(data, self.field(key), names)
        return inner.build(cls, **{name: inner.take(name, int) for name in names})

    def build(self, cls: Callable[..., T], **values: Any) -> T:
        """``cls(**values)``, its ValueErrors prefixed with this mapping's location."""
        try:
            return cls(**values)
        except ValueError as err:
            raise ValueError(f"{self.where}: {err}") from None


def _describe(kind: type) -> str:
    names = {int: "an integer", str: "a string", list: "a list", Mapping: "a mapping", object: "a value"}
    return names.get(kind, kind.__name__)
