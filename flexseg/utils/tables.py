"""Plain tables for result files: GitHub markdown and CSV from a header and rows."""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

__all__ = ["markdown_table", "write_csv"]


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return str(value).replace("|", "\\|")


def markdown_table(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub markdown table (ending in a newline); None/NaN body cells read "—" and
    their "|" is escaped; header cells are written as given."""
    lines = ["| " + " | ".join(str(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_csv(path: str | Path, header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> Path:
    """``header`` and ``rows`` as a CSV file at ``path``."""
    path = Path(path)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path
