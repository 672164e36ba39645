"""``evaluate-cval``: ``cval`` in ``<train-root>/seed-<s>`` for every evaluation seed, aggregated over seeds."""

from __future__ import annotations

from .common import (add_launcher_arguments, add_train_arguments, add_wait_argument,
                     run_protocol_command)
from .evaluate import add_protocol_arguments


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("evaluate-cval", help="cval for every evaluation seed, aggregated",
                                   description=__doc__)
    add_train_arguments(parser)
    add_protocol_arguments(parser)
    add_wait_argument(parser)
    add_launcher_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    return run_protocol_command(args, "evaluate-cval")
