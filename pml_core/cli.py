"""``python -m pml_core <command>``: every command of the kit (docs/design.md, "Stable contracts").

Each command lives in ``pml_core/commands/<name>.py`` and exposes ``add_parser(subparsers)``, which
registers its sub-parser with ``func=run``. Errors of the kit end the command with a one-line reason
and a non-zero status; other exceptions keep their traceback (they are bugs).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import PMLError

COMMANDS = ("train", "test", "evaluate", "cval", "evaluate_cval", "hopt", "hopt_cval", "metrics", "data", "grid", "ijb",
            "trace_embedder")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pml_core",
                                     description="Probabilistic metric learning kit (Probabilistic Embeddings Revisited).")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"pml_core.commands.{name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except PMLError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: completed epochs are checkpointed; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
