"""Prepare an InsightFace face set (CASIA-WebFace, MS1MV2, MS1MV3): ``python data_prep/insightface.py
FOLDER DATA_ROOT [--name casia|ms1mv2|ms1mv3]``.

Expects, from the insightface dataset zip (extracted), train.rec, train.idx, property and verification bins
(official lists: lfw, cfp_fp, cfp_ff, calfw, cplfw, agedb_30; MS1M also vgg2_fp; InsightFace's CASIA zip
faces_webface_112x112 ships lfw, cfp_fp and agedb_30). The bins present are used and every absent one is named
at once (a warning [!], a failure with --strict), unless the shipped config or ``--bins lfw,cfp_fp,agedb_30``
names the bins to use: then exactly those must be there. Checks the RecordIO index and header without mxnet,
writes the label cache labels.npy (read once from the record headers), and opens every bin with the restricted
unpickler (a bin carrying foreign code is refused).
Result: DATA_ROOT/<name> (`casia-openset`, `ms1mv2-openset`, `ms1mv3-openset`).
"""

import sys
from pathlib import Path

import numpy as np

from _common import Checklist, parser, place, summarise

URL = ("https://github.com/deepinsight/insightface/tree/master/recognition/_datasets_ "
       "(faces_webface_112x112, faces_emore = MS1MV2, ms1m-retinaface-t1 = MS1MV3)")


def main(argv=None) -> int:
    p = parser(__doc__, "the extracted insightface folder (train.rec, train.idx, property, *.bin)")
    p.add_argument("--name", choices=("casia", "ms1mv2", "ms1mv3"), default="casia")
    p.add_argument("--bins", type=lambda text: [b for b in text.split(",") if b], default=None, metavar="B1,B2",
                   help="the bins your runs test on (dataset_params.verification_bins; default: every bin present)")
    args = p.parse_args(argv)
    from pml_core.data.formats.faces import CASIA_BINS, MS1M_BINS, insightface_trainset, load_bin, select_bins
    from pml_core.errors import DataError
    from pml_core.utils import atomic_path

    check = Checklist(f"InsightFace {args.name}", args.strict)
    target = args.data_root / args.name
    for source in args.source:
        if source.is_dir() and (source / "train.rec").is_file():
            place(check, source, target, args.copy)
        else:
            check.missing(f"{source} is not a folder holding train.rec (extract the zip first)", URL)
    for name in ("train.rec", "train.idx", "property"):
        (check.ok if (target / name).is_file() else lambda t: check.missing(t, URL))(f"{target / name}")
    if check.failed:
        return check.finish("")
    official = CASIA_BINS if args.name == "casia" else MS1M_BINS
    try:
        bins, absent = select_bins(target, official, args.bins)
        check.ok(f"verification bins used: {', '.join(bins)}; absent of the official list: {', '.join(absent) or 'none'}")
        if not (target / "labels.npy").is_file():
            train = insightface_trainset(Path(target))
            with atomic_path(target / "labels.npy") as tmp:
                with open(tmp, "wb") as handle:
                    np.save(handle, train.labels)
            check.did(f"wrote the label cache {target / 'labels.npy'} ({len(train)} images, {train.num_classes} classes)")
        else:
            check.ok(f"{target / 'labels.npy'} (label cache) present")
        for name in bins:
            images, flags = load_bin(target / f"{name}.bin")
            check.ok(f"{name}.bin: {len(flags)} pairs ({int(flags.sum())} same)")
    except (DataError, OSError) as error:
        check.missing(str(error), URL)
        return check.finish("")
    overrides = [f"dataset_params.verification_bins=[{','.join(args.bins)}]"] if args.bins else []
    summarise(check, f"{args.name}-openset", target, overrides)
    return check.finish(f"ready: dataset_params.name={args.name}-openset, data root {target}")


if __name__ == "__main__":
    sys.exit(main())
