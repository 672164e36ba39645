"""``train``: train every stage of a config in a run folder, then test the selected checkpoint."""

from __future__ import annotations

from .common import add_train_arguments, add_wait_argument, load_config, print_json


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train + test one run (multi-stage if configured)",
                                   description=__doc__)
    add_train_arguments(parser)
    parser.add_argument("--from-stage", type=int, default=0, help="skip the stages before this one")
    add_wait_argument(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    cfg = load_config(args)  # before importing torch: a bad config fails at once
    from ..experiments.run import train_run

    metrics = train_run(cfg, args.train_root, args.data_root, logger=args.logger, progress=not args.no_progress,
                        from_stage=args.from_stage, wait=args.wait)
    print_json(metrics)
    return 0
