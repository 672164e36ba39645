"""README.md's commands run as written: every ``bash`` block, in order, as a new user would after the set-up.

The blocks run in a temporary folder that looks like the repository root (its files linked, ``runs/`` empty),
with the kit's virtualenv on PATH (as after ``source .venv/bin/activate``), this tree's ``pml_core`` first on
PYTHONPATH and a temporary data root as ``$PML_DATA_ROOT``. A command is skipped only when it matches an entry
of `NOT_RUN` (commands that need the real datasets, a server or many minutes), so a new command is tested
unless someone lists it here with a reason. The README's first ``train`` command must show the method working.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import ROOT

README = ROOT / "README.md"
MIN_FIRST_RECALL = 0.40

# regex on a command (continuation lines joined) -> why the suite does not run it
NOT_RUN = {
    r"^(\w+=\S+ )*\./run_all\.sh\b": "sets up .venv, then runs every notebook (~25 min), the whole suite, JupyterLab "
                                     "(a server) or the real grid; tests/test_notebooks.py runs the notebooks (tiny)",
    r"^pml grid --profile paper\b": "the paper grid needs the real retrieval datasets (and GPUs)",
    r"^pml train .*configs/datasets/faces-": "needs an InsightFace face set (RecordIO) and GPUs",
    r"^pml ijb\b": "needs the IJB-B / IJB-C release and a trained face model",
    r"^tensorboard --logdir\b": "a server that runs until stopped; tests/test_train_loggers.py reads the logs it shows",
}
OUTPUTS = {"runs", "results", "reports", ".git", ".venv", "__pycache__", ".pytest_cache"}


@dataclass
class Block:
    section: str
    line: int  # 1-based line of the opening fence
    text: str
    commands: list[str] = field(default_factory=list)  # logical commands (continuations and heredocs joined)

    @property
    def name(self) -> str:
        return f"README.md:{self.line} ({self.section})"


def fenced_blocks(text: str) -> list[tuple[str, int, str, str]]:
    """(language, line, body, section) of every fenced block; an unclosed fence is an error."""
    blocks, section, lines = [], "top", text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#") and not line.startswith("#!"):
            section = line.lstrip("#").strip()
        match = re.match(r"^\s*```(\S*)\s*$", line)
        if match:
            start, body = index, []
            index += 1
            while index < len(lines) and not re.match(r"^\s*```\s*$", lines[index]):
                body.append(lines[index])
                index += 1
            assert index < len(lines), f"README.md:{start + 1}: unclosed code fence"
            indent = len(line) - len(line.lstrip())
            blocks.append((match.group(1), start + 1, "\n".join(b[indent:] for b in body), section))
        index += 1
    return blocks


def split_commands(text: str) -> list[str]:
    """Logical commands of a bash block: comments and blank lines dropped, ``\\`` continuations and heredoc
    bodies joined to their command."""
    commands, lines, index = [], text.splitlines(), 0
    while index < len(lines):
        line = lines[index].rstrip()
        index += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        command = line
        while command.endswith("\\") and index < len(lines):
            command = command[:-1].rstrip() + " " + lines[index].strip()
            index += 1
        heredoc = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", command)
        if heredoc:
            terminator = heredoc.group(1)
            while index < len(lines) and lines[index].strip() != terminator:
                command += "\n" + lines[index]
                index += 1
            command += "\n" + terminator
            index += 1
        commands.append(command.strip())
    return commands


def readme_blocks() -> list[Block]:
    blocks = []
    for language, line, body, section in fenced_blocks(README.read_text()):
        if language in ("bash", "sh", "shell", "console"):
            blocks.append(Block(section, line, body, split_commands(body)))
    return blocks


def not_run_reason(command: str) -> str | None:
    for pattern, reason in NOT_RUN.items():
        if re.search(pattern, command):
            return reason
    return None


def script_of(block: Block) -> str:
    """The block's commands minus the NOT_RUN ones, stopping at the first failure and naming it."""
    kept = [command if not not_run_reason(command) else f": not run: {shlex.quote(command.splitlines()[0])}"
            for command in block.commands]
    return ("set -eo pipefail\ntrap 'echo \"README command failed: $BASH_COMMAND\" >&2' ERR\n"
            + "\n".join(kept) + "\n")


# ---------------------------------------------------------------------------------------------------------
# static checks (fast)


def test_every_fenced_block_names_its_language():
    untagged = [f"README.md:{line}" for language, line, _, _ in fenced_blocks(README.read_text()) if not language]
    assert not untagged, f"tag these blocks (```bash for commands, ```text for output): {untagged}"


def test_the_not_run_list_is_exact():
    commands = [command for block in readme_blocks() for command in block.commands]
    assert len(commands) >= 10
    stale = [pattern for pattern in NOT_RUN if not any(re.search(pattern, command) for command in commands)]
    assert not stale, f"NOT_RUN entries that match no README command (remove them): {stale}"
    ran = [command for command in commands if not not_run_reason(command)]
    assert any(command.startswith("pml train") for command in ran), "the first train command must run"


def test_commands_are_split_like_bash_reads_them():
    text = "# comment\nA=1  # set\npml train --x \\\n    --y \"$A\"\npython - <<'EOF'\nprint(1)\nEOF\necho done\n"
    assert split_commands(text) == ["A=1  # set", 'pml train --x --y "$A"', "python - <<'EOF'\nprint(1)\nEOF",
                                    "echo done"]
    assert not_run_reason("PML_SCREENSHOTS=shots ./run_all.sh test x") and not not_run_reason("pml train x")


# ---------------------------------------------------------------------------------------------------------
# the README run as written


@dataclass
class Outcome:
    block: Block
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def _user_folder(tmp: Path) -> Path:
    """A folder that looks like a fresh clone's root: the repository's files linked, no outputs."""
    home = tmp / "clone"
    home.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in OUTPUTS:
            (home / entry.name).symlink_to(entry)
    venv = Path(sys.prefix)
    if not (venv / "bin" / "activate").is_file():
        pytest.skip(f"the README's commands need the kit's virtualenv; {sys.prefix} is not one (./run_all.sh test)")
    (home / ".venv").symlink_to(venv)
    return home


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory, data_root) -> tuple[Path, list[Outcome]]:
    home = _user_folder(tmp_path_factory.mktemp("readme"))
    env = dict(os.environ, PML_DATA_ROOT=str(data_root), WANDB_MODE="offline", MPLBACKEND="Agg",
               PATH=f"{Path(sys.prefix) / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    outcomes = []
    for block in readme_blocks():
        started = time.perf_counter()
        result = subprocess.run(["bash", "-c", script_of(block)], cwd=home, env=env, capture_output=True, text=True,
                                timeout=1200)
        outcomes.append(Outcome(block, result.returncode, result.stdout, result.stderr, time.perf_counter() - started))
    summary = [{"block": o.block.name, "seconds": round(o.seconds, 1), "rc": o.returncode} for o in outcomes]
    print("README blocks:", json.dumps(summary, indent=1))
    return home, outcomes


@pytest.mark.slow
def test_readme_blocks_run_as_written(readme_run):
    _, outcomes = readme_run
    failed = [f"{o.block.name}: exit {o.returncode}\n{o.stderr[-3000:]}" for o in outcomes if o.returncode]
    assert not failed, "\n\n".join(failed)


@pytest.mark.slow
def test_the_first_train_command_shows_the_method_working(readme_run):
    home, _ = readme_run
    first = next(command for block in readme_blocks() for command in block.commands
                 if command.startswith("pml train") and not not_run_reason(command))
    train_root = re.search(r"--train-root\s+(\S+)", first).group(1)
    metrics = json.loads((home / train_root / "metrics.json").read_text())
    assert metrics["infer-glyphs"]["recall@1"] >= MIN_FIRST_RECALL, (first, metrics["infer-glyphs"])


@pytest.mark.slow
def test_the_readme_path_prints_no_warning_or_traceback(readme_run):
    _, outcomes = readme_run
    noisy = [f"{o.block.name}: {line.strip()[:200]}" for o in outcomes for line in (o.stdout + o.stderr).splitlines()
             if re.search(r"\b\w*Warning\b|Traceback|DeprecationWarning|^\s*warnings\.warn", line)]
    assert not noisy, "\n".join(noisy)
