"""Plain-text tables with aligned columns."""

from __future__ import annotations

import math
from collections.abc import Sequence


def format_number(value: object) -> str:
    """Short text for a cell: tiny or huge powers of two as 2^k, other floats with 6 significant digits."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value > 0 and math.isfinite(value):
            mantissa, exponent = math.frexp(value)
            if mantissa == 0.5 and not -4 <= exponent - 1 <= 20:
                return f"2^{exponent - 1}"
        return f"{value:.6g}"
    return "" if value is None else str(value)


def format_table(rows: Sequence[dict[str, object]], columns: Sequence[str], title: str = "") -> str:
    """Rows (dicts) as an aligned table with a header; numbers right-aligned."""
    cells = [[format_number(row.get(col)) for col in columns] for row in rows]
    widths = [max([len(col)] + [len(r[i]) for r in cells]) for i, col in enumerate(columns)]
    numeric = [all(isinstance(row.get(col), (int, float)) for row in rows) for col in columns]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(parts).rstrip()

    out = [title] if title else []
    out += [line(columns), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)
