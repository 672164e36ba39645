"""``evaluate``: ``num_evaluation_seeds`` runs of a config in ``<train-root>/seed-<s>``, aggregated.

Writes ``<train-root>/metrics.json``: mean and ``<metric>_std`` (population) per set and metric over the
seeds, the selection score of every run and the mean / std of the best ``--best-k`` runs by it.
"""

from __future__ import annotations

from .common import (add_launcher_arguments, add_train_arguments, add_wait_argument,
                     run_protocol_command)


def add_protocol_arguments(parser) -> None:
    parser.add_argument("--from-seed", type=int, default=0, help="first seed (default 0); earlier ones are skipped")
    parser.add_argument("--best-k", type=int, default=5,
                        help="also aggregate the best k runs by the selection score (default 5, the paper's)")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="num_evaluation_seeds runs, aggregated", description=__doc__)
    add_train_arguments(parser)
    add_protocol_arguments(parser)
    add_wait_argument(parser)
    add_launcher_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    return run_protocol_command(args, "evaluate")
