"""The product names only files it ships: no citations of unshipped notes, no issue numbers, no dead paths.

Citations go to the shipped copies (`docs/reference.md §N`, `docs/design.md`); relative markdown links and
backticked repository paths in README.md and docs/*.md must exist in the repository.
"""

from __future__ import annotations

import glob
import re
import subprocess
from pathlib import Path

from conftest import ROOT

TEXT_SUFFIXES = {".md", ".py", ".yaml", ".yml", ".ipynb", ".sh", ".toml", ".txt", ".cfg", ".ini", ".json", ".tex", ""}
SKIP_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", ".ipynb_checkpoints", "results", "reports", "runs",
             "data", "wandb", ".cache", "out"}
THIS_FILE = Path(__file__).resolve()
REWRITE_TOOL = ROOT / "tools" / "cite_shipped_docs.py"  # names the old forms to rewrite them

# Spelled in pieces so that this file does not match itself.
FORBIDDEN = {
    "REFERENCE" + ".md": re.compile(r"\bREFERENCE(\.md)?\b(?= ?(\.md|\d|§|App|section))"),
    "DESIGN" + ".md": re.compile(r"(?<![\w/])DESIGN\.md"),
    "../" + "shared": re.compile(r"\.\.[/]shared\b"),
    "issue <number>": re.compile(r"(?i)\bissues? ?#?\d+"),
}
# Repository paths a doc may name without shipping them: what the kit writes when it runs.
GENERATED = ("results/", "reports/", "runs/", "paper_figures/tiny", "paper_figures/paper", "benchmarks/out")


def _repository_files() -> list[Path]:
    """What the repository ships: git's tracked and not-ignored files (build outputs such as
    pml_core.egg-info/ are ignored); without git (an unpacked archive), every file outside SKIP_DIRS."""
    try:
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                                capture_output=True, text=True, check=True).stdout.splitlines()
        return sorted(ROOT / name for name in listed)
    except (OSError, subprocess.CalledProcessError):
        return [path for path in sorted(ROOT.rglob("*"))
                if not any(part in SKIP_DIRS for part in path.relative_to(ROOT).parts[:-1])]


def shipped_text_files() -> list[Path]:
    files = []
    for path in _repository_files():
        if not path.is_file():
            continue
        exempt = path.resolve() in (THIS_FILE, REWRITE_TOOL)
        if path.suffix in TEXT_SUFFIXES and not exempt and path.stat().st_size < 5_000_000:
            files.append(path)
    return files


def test_shipped_files_cite_only_shipped_files():
    offences = []
    files = shipped_text_files()
    assert any(path.name == "reference.md" for path in files) and len(files) > 100
    for path in files:
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for what, pattern in FORBIDDEN.items():
                if pattern.search(line):
                    offences.append(f"{path.relative_to(ROOT)}:{number}: {what}: {line.strip()[:100]}")
    assert not offences, ("cite docs/reference.md §N or docs/design.md, and no issue numbers:\n"
                          + "\n".join(offences))


def test_the_forbidden_patterns_catch_what_they_should():
    caught = ["see REFERENCE" + ".md 8.2", "(REFERENCE 12.3)", "REFERENCE App. C", "`DESIGN" + ".md`",
              "../" + "shared/golden", "(issue 9)", "Issue 3 (", "issues 2 and 8"]
    for text in caught:
        assert any(p.search(text) for p in FORBIDDEN.values()), text
    allowed = ["docs/reference.md §8.2", "docs/design.md", "_REFERENCE_UNDERFLOW = -700.92", "tissue 4",
               "a known issue", "shared/"]
    for text in allowed:
        assert not any(p.search(text) for p in FORBIDDEN.values()), text


def _markdown_files() -> list[Path]:
    """README.md and docs/*.md; docs/reference.md names the reference repository's files, not ours."""
    return [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "reference.md")]


def _without_fenced_blocks(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def _expand_braces(token: str) -> list[str]:
    match = re.search(r"\{([^{}]*)\}", token)
    if not match:
        return [token]
    return [expanded for choice in match.group(1).split(",")
            for expanded in _expand_braces(token[:match.start()] + choice + token[match.end():])]


def repo_path_exists(token: str) -> bool:
    """A path (with {a,b} and * patterns) exists; a pytest node id ``tests/x.py::test_y`` names a test in that file."""
    if "::" in token:
        file, _, name = token.partition("::")
        return (ROOT / file).is_file() and re.search(rf"def {re.escape(name.split('[')[0])}\b",
                                                     (ROOT / file).read_text()) is not None
    return all(glob.glob(str(ROOT / candidate)) for candidate in _expand_braces(token))


def _top_level() -> set[str]:
    return {path.name for path in ROOT.iterdir() if not path.name.startswith(".")}


def backticked_repo_paths(text: str) -> list[str]:
    """Inline-code spans that name a path in the repository (top-level folder or file first)."""
    top = _top_level() | {"results", "reports", "runs"}
    paths = []
    for token in re.findall(r"`([^`\n]+)`", _without_fenced_blocks(text)):
        token = token.strip().rstrip(".,:;")
        if " " in token or "<" in token or "..." in token or "://" in token or "|" in token or "=" in token:
            continue  # a command, a pattern with placeholders, a URL, a key=value
        first = token.split("/")[0]
        if first in top and ("/" in token or "." in first):
            paths.append(token)
    return paths


def test_readme_and_docs_name_paths_that_exist():
    missing = []
    for doc in _markdown_files():
        text = doc.read_text()
        for target in re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", _without_fenced_blocks(text)):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # URLs, mail, in-page anchors
            if not (doc.parent / target.split("#")[0]).exists():
                missing.append(f"{doc.relative_to(ROOT)}: link ({target})")
        for token in backticked_repo_paths(text):
            if token.startswith(GENERATED):
                continue
            if not repo_path_exists(token):
                missing.append(f"{doc.relative_to(ROOT)}: `{token}`")
    assert not missing, "named in the docs but not in the repository:\n" + "\n".join(missing)


def test_path_detection():
    text = ("`configs/methods/arcface.yaml`, `pml_core/functional/{bessel,vmf}.py`, `notebooks/*.ipynb`, "
            "`README.md`, `configs/best/<method>-<dim>-<d>.yaml`, `python -m pml_core train`, `recall@1`, "
            "`configs/nowhere.yaml`\n```bash\n`docs/ignored-in-a-block.md`\n```\n")
    found = backticked_repo_paths(text)
    assert found == ["configs/methods/arcface.yaml", "pml_core/functional/{bessel,vmf}.py", "notebooks/*.ipynb",
                     "README.md", "configs/nowhere.yaml"]
    assert [repo_path_exists(p) for p in found] == [True, True, True, True, False]


def test_the_citation_rewrite_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("cite", REWRITE_TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    old = "REFERENCE" + ".md"
    cases = {
        f"({old} 8.2)": "(docs/reference.md §8.2)",
        f"({old} section 1.4)": "(docs/reference.md §1.4)",
        f"({old} 7, 13.8)": "(docs/reference.md §7, §13.8)",
        "(REFERENCE 12.3)": "(docs/reference.md §12.3)",
        f"{old}, Appendix A": "docs/reference.md, Appendix A",
        "REFERENCE App. C": "docs/reference.md App. C",
        "`../" + "shared/DESIGN.md`": "`docs/design.md`",
        "the DESIGN" + ".md table": "the docs/design.md table",
        "Face verification (issue 9): x": "Face verification: x",
        "smoke profile (issues 2 and 8)": "smoke profile",
        "docs/reference.md §8.2": "docs/reference.md §8.2",  # idempotent
        "_REFERENCE_UNDERFLOW = -700.92": "_REFERENCE_UNDERFLOW = -700.92",
    }
    for before, after in cases.items():
        assert tool.rewrite(before) == after, before
        assert tool.rewrite(after) == after
