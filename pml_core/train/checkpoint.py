"""Checkpoints: full training state for exact resume, model weights for the next stage and for tests.

A checkpoint is a ``torch.save`` file of plain containers (dict, list, tuple), numbers, strings and
tensors, so that it loads with ``torch.load(path, weights_only=True)``: a file that needs any other
Python object is refused, since unpickling it could run code. Every checkpoint carries its own
checksum, ``integrity = {"format": 2, "sha256": ...}``: the SHA-256 of its content (`state_digest`),
verified on every load, so flipped or truncated bytes are a clear RunError instead of silently
different weights. Checkpoints of older kits (no checksum, the numpy RNG state as an array) still load.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import RunError
from ..utils import save_torch_atomic

FORMAT = 2
INTEGRITY_KEY = "integrity"


def stage_dir(train_root: str | Path, stage: int) -> Path:
    return Path(train_root) / "checkpoints" / f"stage-{stage}"


def save_checkpoint(path: str | Path, **state) -> None:
    """Write a checkpoint atomically (a kill mid-write leaves the previous file intact), with its checksum."""
    state = _to_cpu(state)
    state[INTEGRITY_KEY] = {"format": FORMAT, "sha256": state_digest(state)}
    save_torch_atomic(path, state)


def load_checkpoint(path: str | Path) -> dict:
    """The state a checkpoint holds (tensors on the CPU), checked: weights only, checksum verified."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"checkpoint {path} does not exist")
    try:
        with torch.serialization.safe_globals(_LEGACY_NUMPY_GLOBALS):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        foreign = re.search(r"GLOBAL ([\w.]+)", str(error))
        if foreign:
            raise RunError(f"checkpoint {path} is refused: it refers to {foreign.group(1)}, not only to tensors and "
                           f"plain values, and loading it could run code. The kit never writes such files: use a "
                           f"checkpoint written by `train`") from None
        raise _damaged(path, error) from None
    except Exception as error:  # a truncated, garbled or foreign file
        raise _damaged(path, error) from None
    if not isinstance(state, dict):
        raise RunError(f"checkpoint {path} holds a {type(state).__name__}, not a checkpoint of the kit "
                       f"(a mapping with a 'model' entry)")
    integrity = state.pop(INTEGRITY_KEY, None)
    if integrity is None:
        warnings.warn(f"checkpoint {path} has no checksum (written by an older kit): its integrity is not verified",
                      stacklevel=2)
        return state
    try:
        digest = state_digest(state)
    except TypeError as error:
        raise _damaged(path, error) from None
    if not isinstance(integrity, dict) or integrity.get("sha256") != digest:
        raise _damaged(path, "its content does not match the checksum written with it (the bytes changed on disk "
                             "or in a copy)")
    return state


def load_model_weights(path: str | Path) -> dict:
    """The model state_dict of a checkpoint (best.pth or last.pth), checked as `load_checkpoint` does."""
    state = load_checkpoint(path)
    if not isinstance(state.get("model"), dict):
        raise RunError(f"checkpoint {path} has no 'model' entry (it holds {', '.join(map(str, state)) or 'nothing'}); "
                       f"pass a best.pth or last.pth that train wrote (checkpoints/stage-<i>/ of a run folder)")
    return state["model"]


def _damaged(path: Path, reason: Any) -> RunError:
    return RunError(f"checkpoint {path} is damaged ({reason}); delete it and run the same train command again: the "
                    f"stage it belongs to is trained again from its start (a copy elsewhere: copy it again)")


def state_digest(state: Any) -> str:
    """SHA-256 hex digest of a checkpoint's content: structure, keys, plain values, tensor dtypes, shapes, bytes."""
    digest = hashlib.sha256()
    _feed(digest, state)
    return digest.hexdigest()


def _feed(digest, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"T{tensor.dtype}{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    elif isinstance(value, dict):
        digest.update(f"D{len(value)}|".encode())
        for key, item in value.items():
            _feed(digest, key)
            _feed(digest, item)
    elif isinstance(value, (list, tuple)):
        digest.update(f"{type(value).__name__[0]}{len(value)}|".encode())
        for item in value:
            _feed(digest, item)
    elif value is None or isinstance(value, (bool, int, float, str, bytes)):
        digest.update(f"{type(value).__name__}:{value!r}|".encode())
    else:
        raise TypeError(f"a checkpoint cannot hold a {type(value).__name__}")


def _to_cpu(value: Any) -> Any:
    """A copy of a state with its tensors on the CPU (saved and hashed from one copy)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return type(value)((key, _to_cpu(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(item) for item in value)
    return value


# What the numpy RNG state of an older kit's last.pth needs (an uint32 array): array reconstruction only.
_NUMPY_CORE = np._core if hasattr(np, "_core") else np.core
_LEGACY_NUMPY_GLOBALS = [np.ndarray, np.dtype, type(np.dtype(np.uint32)), _NUMPY_CORE.multiarray._reconstruct]


def load_model_state(model: nn.Module, state: dict, prefixes: str | None = None, strict: bool = True) -> list[str]:
    """Load ``state`` into ``model``; with ``prefixes`` ("a.,b.") only the entries starting with one of them.

    With prefixes, loading is non-strict (missing entries keep their fresh initialisation) but a prefix
    that matches nothing in the checkpoint is an error. Returns the names loaded.
    """
    if prefixes:
        wanted = [p.strip() for p in prefixes.split(",") if p.strip()]
        for prefix in wanted:
            if not any(key.startswith(prefix) for key in state):
                raise RunError(f"resume prefix {prefix!r} matches nothing in the checkpoint "
                               f"(its entries start with {sorted({k.split('.')[0] for k in state})})")
        state = {k: v for k, v in state.items() if k.startswith(tuple(wanted))}
        own = model.state_dict()
        unexpected = [k for k in state if k not in own]
        if unexpected:
            raise RunError(f"checkpoint entries {unexpected[:5]} do not exist in the model of this stage")
        mismatched = [k for k, v in state.items() if own[k].shape != v.shape]
        if mismatched:
            raise RunError(f"checkpoint entries {mismatched[:5]} have other shapes than in the model of this stage")
        model.load_state_dict(state, strict=False)
        return list(state)
    if strict:
        problems = state_mismatch(model.state_dict(), state)
        if problems:
            raise RunError(f"checkpoint does not fit the model of this config: {problems}; use the config the "
                           f"checkpoint was trained with (its run folder's config.yaml)")
    model.load_state_dict(state, strict=strict)
    return list(state)


def state_mismatch(own: dict, state: dict, limit: int = 8) -> str:
    """What keeps ``state`` from loading strictly into a model whose state_dict is ``own`` ("" when it fits)."""
    def names(keys: list[str]) -> str:
        return ", ".join(keys[:limit]) + (f" and {len(keys) - limit} more" if len(keys) > limit else "")

    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape)]
    parts = []
    if missing:
        parts.append(f"missing keys {names(missing)}")
    if unexpected:
        parts.append(f"unexpected keys {names(unexpected)}")
    if shapes:
        parts.append(f"other shapes (checkpoint vs model) {names(shapes)}")
    return "; ".join(parts)
