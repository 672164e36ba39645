"""Shared checklist helpers of the data_prep scripts (nothing is ever downloaded)."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

ARCHIVE_SUFFIXES = (".tgz", ".tar.gz", ".tar", ".zip", ".tar.bz2")


class Checklist:
    """Prints what was expected, found, done and missing; ``failed`` when something is missing."""

    def __init__(self, title: str, strict: bool = False):
        self.failed = False
        self.strict = strict  # differences from the official form ([!]) fail too
        self.warnings = 0
        print(f"== {title}")

    def ok(self, text: str) -> None:
        print(f"  [x] {text}")

    def did(self, text: str) -> None:
        print(f"  [+] {text}")

    def warn(self, text: str) -> None:
        """A difference from the official form: a warning, a failure under --strict."""
        if self.strict:
            self.failed = True
            print(f"  [ ] {text} (an error under --strict)")
            return
        self.warnings += 1
        print(f"  [!] {text}")

    def missing(self, text: str, where: str) -> None:
        self.failed = True
        print(f"  [ ] {text}\n      get it from: {where}")

    def finish(self, ok_text: str) -> int:
        if not self.failed and self.warnings:
            ok_text += f" ({self.warnings} warning(s) marked [!] above; --strict makes them failures)"
        print(f"== {'FAILED: fix the [ ] items above and rerun' if self.failed else ok_text}")
        return 1 if self.failed else 0


def parser(description: str, source_help: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("source", type=Path, nargs="+", help=source_help)
    p.add_argument("data_root", type=Path, help="data root; the dataset lands in DATA_ROOT/<folder>")
    p.add_argument("--copy", action="store_true", help="copy an extracted folder instead of symlinking it")
    add_strict(p)
    return p


def add_strict(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strict", action="store_true",
                   help="fail on differences from the official form (counts, bins); default: warn ([!])")


def is_archive(path: Path) -> bool:
    return path.is_file() and any(path.name.endswith(s) for s in ARCHIVE_SUFFIXES)


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_checksum(check: Checklist, path: Path, known: dict[str, str]) -> None:
    expected = known.get(path.name)
    if expected is None:
        return
    actual = md5(path)
    if actual == expected:
        check.ok(f"{path.name}: md5 {actual} matches the official archive")
    else:
        check.warn(f"{path.name}: md5 {actual} differs from the known {expected} (a repackaged or damaged archive?)")


def _safe_members(archive_root: Path, names: list[str]) -> None:
    for name in names:
        target = (archive_root / name).resolve()
        if not str(target).startswith(str(archive_root.resolve())):
            raise SystemExit(f"refusing to extract {name!r}: it points outside {archive_root}")


def extract(check: Checklist, archive: Path, destination: Path, marker: str | None = None) -> None:
    """Extract ``archive`` into ``destination`` unless ``destination/marker`` already exists (idempotent)."""
    if marker and (destination / marker).exists():
        check.ok(f"{archive.name} already extracted ({destination / marker} exists)")
        return
    destination.mkdir(parents=True, exist_ok=True)
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as handle:
            _safe_members(destination, handle.namelist())
            handle.extractall(destination)
    else:
        with tarfile.open(archive) as handle:
            _safe_members(destination, handle.getnames())
            handle.extractall(destination, filter="data")
    check.did(f"extracted {archive} into {destination}")


def place(check: Checklist, source: Path, target: Path, copy: bool = False) -> None:
    """Make ``target`` the extracted folder ``source``: symlink (default) or copy; nothing if already there."""
    if target.exists() or target.is_symlink():
        if target.resolve() == source.resolve():
            check.ok(f"{target} -> {source} already in place")
            return
        check.ok(f"{target} exists; left as it is")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if copy:
        shutil.copytree(source, target)
        check.did(f"copied {source} to {target}")
    else:
        os.symlink(source.resolve(), target)
        check.did(f"linked {target} -> {source}")


def find_file(roots: list[Path], name: str) -> Path | None:
    """The first file called ``name`` under any of ``roots`` (searching two levels deep)."""
    for root in roots:
        for candidate in (root / name, *root.glob(f"*/{name}"), *root.glob(f"*/*/{name}")):
            if candidate.is_file():
                return candidate
    return None


def summarise(check: Checklist, name: str, root: Path, overrides: list[str] = ()) -> None:
    """Run the kit's `check_dataset` (the verdict of ``python -m pml_core data check NAME ROOT [--strict]``) and
    print it as checklist lines: splits [x], differences from the official form [!] (failures under
    ``check.strict``), problems [ ]. ``overrides``: ``--set`` texts over the shipped configs of ``name``."""
    from pml_core.data.check import check_dataset

    result = check_dataset(name, root, overrides=overrides)
    check.ok(f"checked as a run of {' + '.join(result['configs']) or 'the dataset defaults'} would use it")
    for split, info in result["splits"].items():
        details = ", ".join(f"{key} {value}" for key, value in info.items() if value is not None and key != "kind")
        check.ok(f"{split}: {details}")
    for warning in result["warnings"]:
        check.warn(warning)
    for problem in result["problems"]:
        check.failed = True
        print(f"  [ ] {problem}")
    if os.environ.get("PML_DATA_PREP_JSON"):
        print(json.dumps(result))


def _holder(folder: Path, marker: str) -> Path | None:
    """``folder`` or its first sub-folder (any depth) that holds ``marker``."""
    if not folder.is_dir():
        return None
    if (folder / marker).exists():
        return folder
    return next((p.parent for p in sorted(folder.glob(f"**/{marker}"))), None)


def prepare_folder(check: Checklist, sources: list[Path], target: Path, marker: str, known_md5: dict[str, str],
                   copy: bool = False) -> Path | None:
    """Archives are verified and extracted into ``target`` (once); a folder holding ``marker`` is linked
    (or copied) as ``target``. Returns the folder that holds ``marker``, or None."""
    for source in sources:
        if not source.exists():
            check.missing(f"{source} does not exist", "see the URL below")
        elif is_archive(source):
            verify_checksum(check, source, known_md5)
            done = _holder(target, marker)
            if done is not None:
                check.ok(f"{source.name} already extracted ({done / marker} exists)")
            else:
                extract(check, source, target)
        elif source.is_dir():
            holder = _holder(source, marker)
            if holder is None:
                check.missing(f"{marker} not found under {source}", "the official archive (URL below)")
            else:
                place(check, holder, target, copy)
    return _holder(target, marker)
