"""Finding the data folder and the files in it, and the error raised for a malformed file."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

DATA_DIR_ENV = "TESSERA_DATA_DIR"
_HOW_TO = f"pass --data-dir PATH or set the environment variable {DATA_DIR_ENV}"


class FileFormatError(ValueError):
    """A file that exists but cannot be used: truncated, corrupted, or not in the expected layout."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def resolve_data_dir(path: str | Path | None) -> Path:
    """The data folder: ``path`` if given, else ``$TESSERA_DATA_DIR``.

    Raises ValueError when neither is set and FileNotFoundError when the folder does not exist;
    both messages say how to point Tessera at the data.
    """
    chosen = path if path is not None else os.environ.get(DATA_DIR_ENV)
    if chosen is None or str(chosen) == "":
        raise ValueError(f"this model needs the data folder: {_HOW_TO}")
    folder = Path(chosen).expanduser()
    if not folder.is_dir():
        source = "given" if path is not None else f"from {DATA_DIR_ENV}"
        raise FileNotFoundError(f"data folder {folder} ({source}) does not exist: {_HOW_TO}")
    return folder


def require_file(data_dir: Path, relative: str) -> Path:
    """``data_dir / relative``, or FileNotFoundError naming the missing file."""
    path = data_dir / relative
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: the data folder {data_dir} should hold {relative} "
            "(see the data folder's README for the expected layout)"
        )
    return path


def find_one(data_dir: Path, folder: str, pattern: str) -> Path:
    """The single file in ``data_dir / folder`` matching the glob ``pattern``."""
    matches = sorted((data_dir / folder).glob(pattern))
    if len(matches) != 1:
        found = "none" if not matches else ", ".join(p.name for p in matches)
        raise FileNotFoundError(
            f"expected exactly one file matching {folder}/{pattern} in {data_dir}, found {found}"
        )
    return matches[0]


def check_hash_in_name(path: Path) -> None:
    """If the file name carries a SHA-256 prefix (``name-1234abcd.ext``), check the contents match."""
    match = re.search(r"-([0-9a-f]{8})$", path.stem)
    if match is None:
        return
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if not digest.startswith(match.group(1)):
        raise FileFormatError(
            path,
            f"corrupted or modified: its SHA-256 starts {digest[:8]}, the name says {match.group(1)}",
        )
