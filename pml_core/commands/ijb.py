"""``ijb``: IJB-B / IJB-C 1:1 template verification (TAR at FAR 1e-6 ... 1e-1) of a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("ijb", help="IJB-B / IJB-C 1:1 verification of a checkpoint", description=__doc__)
    parser.add_argument("--config", action="append", required=True, metavar="C",
                        help="YAML config of the run; repeat to compose (later files patch earlier ones)")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override one config key (value parsed as YAML)")
    parser.add_argument("--checkpoint", type=Path, required=True, metavar="K", help="a .pth written by train")
    parser.add_argument("ijb_root", type=Path, metavar="IJB_ROOT", help="folder holding meta/ and loose_crop/")
    parser.add_argument("--set", dest="ijb_set", choices=("ijbb", "ijbc"), default="ijbb", help="IJB-B or IJB-C")
    parser.add_argument("--aggregation", choices=("mean", "pfe"), default="mean",
                        help="template = media-balanced mean (default) or PFE fusion of the image densities")
    parser.add_argument("--scorer", choices=("cosine", "mls"), default="cosine", help="template-pair score")
    parser.add_argument("--no-flip", action="store_true", help="do not fuse each image with its mirror image")
    parser.add_argument("--face-scores", action="store_true",
                        help="weight images by the detector scores of <set>_name_5pts_score.txt (mean aggregation)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON (default: one line per FAR)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..config import compose, parse_config
    from ..evaluate_ijb import ijb_evaluate
    from ..experiments.runstore import finite_or_none

    cfg = parse_config(compose(args.config, args.overrides))
    result = ijb_evaluate(cfg, args.checkpoint, args.ijb_root, args.ijb_set, aggregation=args.aggregation,
                          scorer=args.scorer, flip=not args.no_flip, use_face_scores=args.face_scores,
                          progress=not args.no_progress)
    if args.json:
        print(json.dumps(finite_or_none(result), indent=2, sort_keys=True))
    else:
        for key, value in result.items():
            if key.startswith("tar@"):
                print(f"{args.ijb_set} {key}: {value:.4f}")
    return 0
