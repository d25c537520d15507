"""Strict YAML reading shared by every YAML file Tessera reads: safe loading only, duplicate keys
are errors naming the key and line, and every mapping remembers its line for later messages."""

from __future__ import annotations

from typing import Any


class LineDict(dict):
    """A mapping read from YAML that remembers its line (1-based) for error messages."""

    line: int


def loads_yaml_strict(text: str, source: str) -> Any:
    """Parse ``text`` with PyYAML's safe loader; mappings come back as ``LineDict``.

    ValueError ``"<source>: line N: duplicate key 'k'"`` or ``"<source>: not valid YAML: ..."``.
    """
    import yaml

    class StrictLoader(yaml.SafeLoader):
        """Safe YAML whose mappings reject repeated keys and carry their line."""

    def mapping(loader: StrictLoader, node: yaml.MappingNode) -> LineDict:
        loader.flatten_mapping(node)
        found = LineDict()
        found.line = node.start_mark.line + 1
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in found:
                raise ValueError(f"{source}: line {key_node.start_mark.line + 1}: duplicate key {key!r}")
            found[key] = loader.construct_object(value_node, deep=True)
        return found

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:
        return yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError as err:
        raise ValueError(f"{source}: not valid YAML: {err}") from None
