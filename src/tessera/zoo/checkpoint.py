"""Reading PyTorch checkpoints safely: ``torch.load(weights_only=True)``, never a full unpickle."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from tessera.zoo.files import FileFormatError, check_hash_in_name


def load_state_dict(path: str | Path, prefix: str = "module.") -> dict[str, torch.Tensor]:
    """The tensors of a ``torch.save`` checkpoint, with ``prefix`` stripped from their names.

    Accepts a bare state dict or a dict holding one under ``"state_dict"``. A file name ending
    in ``-XXXXXXXX`` (8 hex digits) must match the start of the file's SHA-256. Corrupted,
    truncated or unsafe files (pickled Python objects) raise FileFormatError naming the file.
    """
    path = Path(path)
    check_hash_in_name(path)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        lines = str(err).split("WeightsUnpickler error:")[-1].split(" Please")[0].strip().splitlines()
        detail = lines[0] if lines else type(err).__name__
        raise FileFormatError(
            path,
            "not a plain tensor checkpoint: it holds Python objects that loading would have to "
            f"execute, or is not a pickle at all, and is refused ({detail})",
        ) from err
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        reason = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        raise FileFormatError(path, f"corrupted or truncated checkpoint ({reason})") from err
    state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else loaded
    if not isinstance(state, dict) or not state:
        raise FileFormatError(path, f"expected a dict of tensors, found {type(state).__name__}")
    strange = [key for key, value in state.items() if not isinstance(value, torch.Tensor)]
    if strange:
        raise FileFormatError(path, f"entries that are not tensors: {', '.join(map(str, strange[:5]))}")
    return {key.removeprefix(prefix): value for key, value in state.items()}
