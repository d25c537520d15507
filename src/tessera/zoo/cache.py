"""A cache of models that Tessera trains itself, stored as safetensors (never pickles).

The folder is ``$TESSERA_CACHE_DIR``, else ``~/.cache/tessera``, looked up at each call. A file
records the training recipe in its metadata; a file whose recipe differs, or that cannot be read,
is an error naming the file (delete it to retrain).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from torch import nn

from tessera.zoo.files import FileFormatError

CACHE_DIR_ENV = "TESSERA_CACHE_DIR"


def cache_dir() -> Path:
    """Where trained models are cached: ``$TESSERA_CACHE_DIR``, else ``~/.cache/tessera``."""
    configured = os.environ.get(CACHE_DIR_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "tessera"


def cached_model(
    name: str,
    recipe: dict[str, object],
    architecture: Callable[[], nn.Module],
    train: Callable[[], nn.Module],
) -> nn.Module:
    """The model trained by ``train`` with ``recipe``, from the cache if there, else trained and cached.

    ``architecture`` builds an untrained model to load cached weights into. Returns eval mode.
    """
    recipe_text = json.dumps(recipe, sort_keys=True)
    path = cache_dir() / f"{name}-{_short_hash(recipe_text)}.safetensors"
    if path.exists():
        model = architecture()
        _load_into(model, path, name, recipe_text)
        return model.eval()
    model = train().eval()
    _save(model, path, {"model": name, "recipe": recipe_text})
    return model


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _load_into(model: nn.Module, path: Path, name: str, recipe_text: str) -> None:
    from safetensors import SafetensorError, safe_open

    fix = "delete it and Tessera will retrain the model"
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            state = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError) as err:
        raise FileFormatError(path, f"not a readable safetensors file ({err}); {fix}") from err
    if metadata.get("model") != name or metadata.get("recipe") != recipe_text:
        raise FileFormatError(path, f"cached for another model or training recipe ({metadata}); {fix}")
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise FileFormatError(path, f"weights do not fit {name}: {err}; {fix}") from err


def _save(model: nn.Module, path: Path, metadata: dict[str, str]) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    state = {key: value.detach().contiguous() for key, value in model.state_dict().items()}
    save_file(state, str(partial), metadata=metadata)
    os.replace(partial, path)
