"""Checkpoints: full training state for exact resume, model weights for the next stage and for tests."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import RunError
from ..utils import save_torch_atomic


def stage_dir(train_root: str | Path, stage: int) -> Path:
    return Path(train_root) / "checkpoints" / f"stage-{stage}"


def save_checkpoint(path: str | Path, **state) -> None:
    """Write a checkpoint atomically: a kill mid-write leaves the previous file intact."""
    save_torch_atomic(path, state)


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise RunError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # a truncated or foreign file
        raise RunError(f"checkpoint {path} cannot be read ({error}); delete it to restart that stage") from None


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
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as error:
        raise RunError(f"checkpoint does not fit the model: {str(error).splitlines()[0]}") from None
    return list(state)
