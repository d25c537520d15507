"""Strict JSON reading shared by every file Tessera reads: duplicate keys and bad syntax are errors
that name the source."""

from __future__ import annotations

import json
from typing import Any


def loads_strict(text: str, source: str) -> Any:
    """Parse ``text``; ValueError ``"<source>: duplicate key 'k'"`` or ``"<source>: not valid JSON: ..."``."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in pairs:
            if key in found:
                raise ValueError(f"{source}: duplicate key {key!r}")
            found[key] = value
        return found

    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as err:
        raise ValueError(f"{source}: not valid JSON: {err}") from None
