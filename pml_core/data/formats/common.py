"""Helpers shared by the format readers: locating a dataset folder and reporting what is missing."""

from __future__ import annotations

from pathlib import Path

from ...errors import DataError


def prep_hint(script: str) -> str:
    """The fix named in DataErrors: the data_prep command of the dataset."""
    return f"prepare the dataset with `python data_prep/{script}.py SOURCE DATA_ROOT` (see docs/datasets.md)"


def locate(root: str | Path, marker: str, subfolders: tuple[str, ...], script: str) -> Path:
    """The folder holding ``marker``: ``root`` itself or one of ``root/<subfolder>``; else a DataError."""
    root = Path(root)
    for candidate in (root, *(root / name for name in subfolders)):
        if (candidate / marker).exists():
            return candidate
    looked = ", ".join(str(c / marker) for c in (root, *(root / n for n in subfolders)))
    raise DataError(f"{marker} not found (looked for {looked}); {prep_hint(script)}")


def read_lines(path: Path, script: str) -> list[str]:
    """Non-empty lines of a text file; a missing or unreadable file is a DataError naming it."""
    try:
        return [line.rstrip("\r\n") for line in path.read_text(encoding="utf-8", errors="strict").splitlines()
                if line.strip()]
    except FileNotFoundError:
        raise DataError(f"{path} is missing; {prep_hint(script)}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path} cannot be read ({error}); {prep_hint(script)}") from None


def bad_line(path: Path, number: int, line: str, expected: str, script: str) -> DataError:
    return DataError(f"{path}, line {number}: expected {expected}, got {line[:80]!r}; {prep_hint(script)}")
