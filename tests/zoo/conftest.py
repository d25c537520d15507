import pytest


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A fresh, empty model cache for this test (never the user's ~/.cache/tessera)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("TESSERA_CACHE_DIR", str(folder))
    return folder
