"""Prepare an InsightFace face set (CASIA-WebFace, MS1MV2, MS1MV3): ``python data_prep/insightface.py
FOLDER DATA_ROOT [--name casia|ms1mv2|ms1mv3]``.

Expects, from the insightface dataset zip (extracted), train.rec, train.idx, property and the
verification bins (lfw, cfp_fp, cfp_ff, calfw, cplfw, agedb_30; MS1M also vgg2_fp). Checks the RecordIO
index and header without mxnet, writes the label cache labels.npy (read once from the record headers),
and opens every bin with the restricted unpickler (a bin carrying foreign code is refused).
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
    args = p.parse_args(argv)
    from pml_core.data.formats.faces import CASIA_BINS, MS1M_BINS, insightface_trainset, load_bin
    from pml_core.errors import DataError
    from pml_core.utils import atomic_path

    check = Checklist(f"InsightFace {args.name}")
    target = args.data_root / args.name
    for source in args.source:
        if source.is_dir() and (source / "train.rec").is_file():
            place(check, source, target, args.copy)
        else:
            check.missing(f"{source} is not a folder holding train.rec (extract the zip first)", URL)
    bins = CASIA_BINS if args.name == "casia" else MS1M_BINS
    for name in ("train.rec", "train.idx", "property", *(f"{b}.bin" for b in bins)):
        (check.ok if (target / name).is_file() else lambda t: check.missing(t, URL))(f"{target / name}")
    if check.failed:
        return check.finish("")
    try:
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
    summarise(check, f"{args.name}-openset", target)
    return check.finish(f"ready: dataset_params.name={args.name}-openset, data root {target}")


if __name__ == "__main__":
    sys.exit(main())
