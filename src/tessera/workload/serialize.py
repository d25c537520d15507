"""Workloads as YAML or JSON files: ``Workload.to_dict`` written out, read back strictly.

Reading rejects duplicate keys, unknown keys, missing keys and malformed values with a
ValueError that names the key; YAML messages also give the line. PyYAML is imported only when
YAML is read or written.
"""

from __future__ import annotations

import json
from pathlib import Path

from tessera.strict_json import loads_strict
from tessera.strict_yaml import loads_yaml_strict
from tessera.workload.graph import Workload

YAML_SUFFIXES = (".yaml", ".yml")


def to_yaml(workload: Workload) -> str:
    """The workload as YAML text (shapes as inline lists)."""
    import yaml

    return yaml.safe_dump(workload.to_dict(), sort_keys=False, default_flow_style=None, width=110)


def from_yaml(text: str, source: str = "workload.yaml") -> Workload:
    """The workload in YAML text; ValueError naming the key and line of any problem."""
    return Workload.from_dict(loads_yaml_strict(text, source), source)


def to_json(workload: Workload) -> str:
    """The workload as indented JSON text."""
    return json.dumps(workload.to_dict(), indent=1)


def from_json(text: str, source: str = "workload.json") -> Workload:
    """The workload in JSON text; ValueError naming the key of any problem."""

    data = loads_strict(text, source)
    return Workload.from_dict(data, source)


def save_workload(workload: Workload, path: str | Path) -> None:
    """Write ``workload`` as YAML (``.yaml``, ``.yml``) or JSON (any other suffix)."""
    path = Path(path)
    path.write_text(to_yaml(workload) if path.suffix in YAML_SUFFIXES else to_json(workload))


def load_workload(path: str | Path) -> Workload:
    """Read a workload written by ``save_workload`` (YAML or JSON by suffix)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    return from_yaml(text, str(path)) if path.suffix in YAML_SUFFIXES else from_json(text, str(path))
