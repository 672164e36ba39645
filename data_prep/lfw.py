"""Prepare LFW: ``python data_prep/lfw.py lfw-deepfunneled.tgz peopleDevTrain.txt peopleDevTest.txt
pairsDevTrain.txt pairsDevTest.txt DATA_ROOT`` (or a folder already holding them).

Expects lfw-deepfunneled/<Name>/<Name>_NNNN.jpg (13,233 images, 5,749 people) and the View 1 files
peopleDevTrain.txt (4,038 people), peopleDevTest.txt, pairsDevTrain.txt, pairsDevTest.txt (1,000 pairs).
Result: DATA_ROOT/lfw (`lfw-openset`: DevTrain people train, pairsDevTest pairs test).
"""

import shutil
import sys

from _common import Checklist, extract, is_archive, parser, place, summarise, verify_checksum

URL = "http://vis-www.cs.umass.edu/lfw/ (lfw-deepfunneled.tgz and the View 1 text files)"
KNOWN_MD5 = {"lfw-deepfunneled.tgz": "68331da3eb755a505a502b5aacb3c201"}
TEXT_FILES = ("peopleDevTrain.txt", "peopleDevTest.txt", "pairsDevTrain.txt", "pairsDevTest.txt")


def main(argv=None) -> int:
    args = parser(__doc__, "lfw-deepfunneled.tgz, the View 1 text files, or a prepared folder").parse_args(argv)
    check = Checklist("LFW", args.strict)
    target = args.data_root / "lfw"
    for source in sorted(args.source, key=lambda path: not path.is_dir()):  # a folder is linked first
        if source.is_dir() and (source / "peopleDevTrain.txt").is_file():
            place(check, source, target, args.copy)
        elif is_archive(source):
            verify_checksum(check, source, KNOWN_MD5)
            extract(check, source, target, marker="lfw-deepfunneled")
        elif source.name in TEXT_FILES and source.is_file():
            target.mkdir(parents=True, exist_ok=True)
            if not (target / source.name).exists():
                shutil.copyfile(source, target / source.name)
                check.did(f"copied {source.name} into {target}")
            else:
                check.ok(f"{target / source.name} already there")
        else:
            check.missing(f"{source} is not an LFW archive, View 1 file or prepared folder", URL)
    for name in ("lfw-deepfunneled", *TEXT_FILES):
        (check.ok if (target / name).exists() else lambda t: check.missing(t, URL))(f"{target / name}")
    if not check.failed:
        summarise(check, "lfw-openset", target)
    return check.finish(f"ready: dataset_params.name=lfw-openset, data root {target}")


if __name__ == "__main__":
    sys.exit(main())
