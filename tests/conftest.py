import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared data folder: TESSERA_DATA_DIR, or ../shared/data beside the project."""
    path = Path(os.environ.get("TESSERA_DATA_DIR", ROOT.parent / "shared" / "data"))
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"data folder {path} not found: CI must provide it (TESSERA_DATA_DIR)")
        pytest.skip(f"data folder {path} not found (set TESSERA_DATA_DIR)")
    return path
