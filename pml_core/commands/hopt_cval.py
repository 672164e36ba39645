"""``hopt-cval``: the ``hopt`` search where every trial is a ``cval`` (its value: the mean over folds)."""

from __future__ import annotations

from .hopt import add_hopt_arguments, run


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("hopt-cval", help="hyper-parameter search, each trial cross-validated",
                                   description=__doc__)
    add_hopt_arguments(parser)
    parser.set_defaults(func=run, cval=True)
