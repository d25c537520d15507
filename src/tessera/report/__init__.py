"""Rendering results for people: plain-text tables."""

from tessera.report.table import format_number, format_table

__all__ = ["format_number", "format_table"]
