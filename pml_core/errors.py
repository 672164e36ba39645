"""Errors raised by the kit. Each message says what was wrong and what to do about it."""

from __future__ import annotations

import difflib
from typing import Iterable


class PMLError(Exception):
    """Base class of the kit's errors."""


class ConfigError(PMLError, ValueError):
    """A configuration is invalid: unknown key, wrong type, unknown registry name, bad value."""


class DataError(PMLError):
    """A dataset is missing, malformed or inconsistent; the message names the file and the fix."""


class RunError(PMLError, RuntimeError):
    """A run cannot go on: NaN loss, missing checkpoint, incompatible resume."""


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``name`` (difflib ratio >= 0.6), or None."""
    matches = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_name_error(kind: str, name: str, choices: Iterable[str]) -> ConfigError:
    """ConfigError for an unknown registry name, listing valid names and the closest one."""
    choices = sorted(str(c) for c in choices)
    hint = closest(name, choices)
    suggestion = f" Did you mean {hint!r}?" if hint else ""
    return ConfigError(f"unknown {kind} {name!r}.{suggestion} Valid: {', '.join(choices)}.")
