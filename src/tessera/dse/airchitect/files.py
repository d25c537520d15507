"""Output folders and strict JSON files for datasets and models: every error names the file and key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tessera.strict_json import loads_strict
from tessera.workload.strict import Fields


def prepare_folder(folder: str | Path, names: tuple[str, ...], force: bool) -> Path:
    """``folder``, created if needed, to receive the files ``names``. FileExistsError if one of them
    exists already and ``force`` is false, or if ``folder`` is a file."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a folder")
    existing = [name for name in names if (path / name).exists()]
    if existing and not force:
        raise FileExistsError(f"{path / existing[0]} exists; pass force=True (--force) to overwrite it")
    path.mkdir(parents=True, exist_ok=True)
    return path


def require_file(folder: str | Path, name: str, what: str) -> Path:
    """The path of ``name`` in ``folder``; FileNotFoundError naming it when the folder or file is
    missing (``what`` says what the folder should hold, e.g. ``an AIRCHITECT dataset``)."""
    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a folder holding {what}")
    if not (path / name).is_file():
        raise FileNotFoundError(f"{path / name} is missing: {path} does not hold {what}")
    return path / name


def write_json(path: Path, data: dict[str, Any]) -> None:
    """``data`` as indented JSON with a final newline."""
    path.write_text(json.dumps(data, indent=1) + "\n")


def read_json(path: Path, kind: str, schema_version: int, allowed: tuple[str, ...]) -> Fields:
    """The top-level mapping of ``path``: valid JSON, no duplicate key, no key outside ``allowed``,
    ``kind`` and ``schema_version`` as written by this version. ValueError naming the file otherwise."""

    data = loads_strict(path.read_text(), str(path))
    fields = Fields(data, str(path), allowed)
    found_kind = fields.take("kind", str)
    if found_kind != kind:
        raise ValueError(f"{fields.field('kind')}: expected {kind!r}, got {found_kind!r}")
    version = fields.take("schema_version", int)
    if version != schema_version:
        raise ValueError(
            f"{fields.field('schema_version')}: this version reads schema {schema_version}, got {version}"
        )
    return fields


def recorded_space(meta: Fields, made: str):
    """The design space a saved file names (its ``case``), checked against the ``space`` it recorded;
    ``made`` says what was done in it (e.g. "the model was trained on") for the error message."""
    from tessera.dse.airchitect.spaces import get_space

    case = meta.take("case", int)
    try:
        space = get_space(case)
    except ValueError as err:
        raise ValueError(f"{meta.field('case')}: {err}") from None
    if meta.take("space", dict) != space.to_dict():
        raise ValueError(f"{meta.field('space')}: {made} a different definition of case {case}")
    return space
