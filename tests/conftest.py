"""Shared fixtures: a glyphs data root for the session, the tiny-profile config of a method."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """A data root shared by the session's tests (glyphs are generated there once)."""
    return tmp_path_factory.mktemp("data")


def tiny_config(method: str = "arcface", dim: int = 16, seed: int = 0, overrides: list[str] = ()):
    """The validated tiny-profile config of a grid method."""
    from pml_core.config import parse_config
    from pml_core.experiments.grid import run_config_dict

    return parse_config(run_config_dict("tiny", "glyphs", method, dim, seed, list(overrides)))
