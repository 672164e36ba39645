"""Prepare CUB-200-2011: ``python data_prep/cub200.py CUB_200_2011.tgz|FOLDER DATA_ROOT``.

Expects images.txt, image_class_labels.txt, train_test_split.txt and images/ (11,788 images, 200
classes). Result: DATA_ROOT/CUB_200_2011 (train on classes 1-100, test on 101-200: `cub200-openset`).
"""

import sys

from _common import Checklist, parser, prepare_folder, summarise

URL = "https://www.vision.caltech.edu/datasets/cub_200_2011/ (CUB_200_2011.tgz)"
KNOWN_MD5 = {"CUB_200_2011.tgz": "97eceeb196236b17998738112f37df78"}
FILES = ("images.txt", "image_class_labels.txt", "train_test_split.txt", "images")


def main(argv=None) -> int:
    args = parser(__doc__, "CUB_200_2011.tgz or its extracted folder").parse_args(argv)
    check = Checklist("CUB-200-2011", args.strict)
    folder = prepare_folder(check, args.source, args.data_root / "CUB_200_2011", "images.txt", KNOWN_MD5, args.copy)
    if folder is None:
        check.missing("CUB_200_2011 with images.txt", URL)
        return check.finish("")
    for name in FILES:
        if (folder / name).exists():
            check.ok(f"{folder / name}")
        else:
            check.missing(f"{folder / name}", URL)
    if not check.failed:
        summarise(check, "cub200-openset", folder)
    return check.finish(f"ready: dataset_params.name=cub200-openset, data root {folder}")


if __name__ == "__main__":
    sys.exit(main())
