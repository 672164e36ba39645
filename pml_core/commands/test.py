"""``test``: metrics of a checkpoint on the validation and test sets (the last stage's config)."""

from __future__ import annotations

import json
from pathlib import Path

from .common import add_config_arguments, load_config


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("test", help="metrics of a checkpoint", description=__doc__)
    add_config_arguments(parser)
    parser.add_argument("--checkpoint", type=Path, required=True, metavar="K", help="a .pth written by train")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args) -> int:
    cfg = load_config(args)  # before importing torch: a bad config fails at once
    from ..experiments.run import test_checkpoint
    from ..experiments.runstore import finite_or_none

    metrics, _ = test_checkpoint(cfg, args.checkpoint, args.data_root, progress=not args.no_progress)
    print(json.dumps(finite_or_none(metrics), indent=2, sort_keys=True))
    return 0
