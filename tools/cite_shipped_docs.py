"""Rewrite citations of unshipped notes into citations of the shipped docs; idempotent.

    .venv/bin/python tools/cite_shipped_docs.py          # rewrite in place, print the files changed
    .venv/bin/python tools/cite_shipped_docs.py --check  # only list them (exit 1 when any)

``REFERENCE.md 8.2`` / ``REFERENCE 12.3`` / ``REFERENCE.md section 1.4`` -> ``docs/reference.md §8.2`` (lists
of sections too: ``7, 13.8`` -> ``§7, §13.8``), ``REFERENCE.md Appendix A`` -> ``docs/reference.md Appendix A``,
``DESIGN.md`` and the sibling ``shared/*.md`` notes -> ``docs/design.md`` / ``docs/reference.md``, and `` (issue 9)`` /
`` (issues 2 and 8)`` parentheticals are dropped. Run it after merging text that still cites the notes;
``tests/test_docs_shipped.py`` lists what is left (issue numbers in running text need a hand edit).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = ("docs/reference.md", "tests/test_docs_shipped.py", "tools/cite_shipped_docs.py")
SECTION = r"\d+(?:\.\d+)*"
NEXT_SECTION = rf"(?<=, )({SECTION})\b(?![\d%])"


def _reference(match: re.Match) -> str:
    rest = re.sub(rf"^(?:section |sections |§ ?)?({SECTION})", r"§\1", match.group("rest"))
    return "docs/reference.md" + match.group("sep") + re.sub(NEXT_SECTION, r"§\1", rest)


RULES = [
    (re.compile(r"\.\.[/]shared/DESIGN\.md"), "docs/design.md"),
    (re.compile(r"\.\.[/]shared/REFERENCE\.md"), "docs/reference.md"),
    (re.compile(rf"\bREFERENCE(?:\.md)?(?P<sep>,? )(?P<rest>(?:section |sections |§ ?)?{SECTION}"
                rf"(?:, {SECTION}\b(?![\d%]))*)"), _reference),
    (re.compile(r"\bREFERENCE(?:\.md)?(?P<sep>,? )(?=App)"), lambda m: "docs/reference.md" + m.group("sep")),
    (re.compile(r"(?<![/\w])REFERENCE\.md"), "docs/reference.md"),
    (re.compile(r"(?<![/\w])DESIGN\.md"), "docs/design.md"),
    (re.compile(r" \(issues? \d+(?:(?: and |/|, )\d+)*\)"), ""),
]


def rewrite(text: str) -> str:
    for pattern, replacement in RULES:
        text = pattern.sub(replacement, text)
    return text


def candidate_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\n")
    return [ROOT / name for name in listed
            if name and name not in SKIP and not name.startswith("paper_figures/") and (ROOT / name).is_file()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="list the files that would change, change nothing")
    args = parser.parse_args(argv)
    changed = []
    for path in candidate_files():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        new = rewrite(text)
        if new != text:
            changed.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(new)
    for name in changed:
        print(name)
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
