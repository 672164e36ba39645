"""Prepare Stanford Cars196: ``python data_prep/cars196.py cars_train.tgz cars_test.tgz car_devkit.tgz
cars_test_annos_withlabels.mat DATA_ROOT`` (or a folder already holding devkit/, cars_train/, cars_test/).

Expects devkit/cars_train_annos.mat, devkit/cars_test_annos_withlabels.mat, cars_train/, cars_test/
(16,185 images, 196 classes). Result: DATA_ROOT/cars196 (`cars196-openset`).
"""

import shutil
import sys

from _common import Checklist, extract, is_archive, parser, place, summarise, verify_checksum

URL = ("https://ai.stanford.edu/~jkrause/cars/car_dataset.html (cars_train.tgz, cars_test.tgz, car_devkit.tgz, "
       "cars_test_annos_withlabels.mat)")
KNOWN_MD5 = {"cars_train.tgz": "065e5b463ae28d29e77c1b4b166cfe61", "cars_test.tgz": "4ce7ebf6a94d07f1952d94dd34c4d501",
             "car_devkit.tgz": "c3b158d763b6e2245038c8ad08e45376",
             "cars_test_annos_withlabels.mat": "b0a2b23655a3edd16d84508592a98d10"}
MARKERS = {"cars_train.tgz": "cars_train", "cars_test.tgz": "cars_test", "car_devkit.tgz": "devkit"}
EXPECTED = ("devkit/cars_train_annos.mat", "devkit/cars_test_annos_withlabels.mat", "cars_train", "cars_test")


def main(argv=None) -> int:
    args = parser(__doc__, "the Cars archives / .mat file, or a prepared folder").parse_args(argv)
    check = Checklist("Stanford Cars196")
    target = args.data_root / "cars196"
    for source in args.source:
        if source.is_dir() and (source / "devkit").is_dir():
            place(check, source, target, args.copy)
        elif is_archive(source):
            verify_checksum(check, source, KNOWN_MD5)
            extract(check, source, target, marker=MARKERS.get(source.name))
        elif source.suffix == ".mat" and source.is_file():
            verify_checksum(check, source, KNOWN_MD5)
            (target / "devkit").mkdir(parents=True, exist_ok=True)
            if not (target / "devkit" / source.name).exists():
                shutil.copyfile(source, target / "devkit" / source.name)
                check.did(f"copied {source.name} into {target / 'devkit'}")
            else:
                check.ok(f"{target / 'devkit' / source.name} already there")
        else:
            check.missing(f"{source} is not a Cars archive, .mat file or prepared folder", URL)
    for name in EXPECTED:
        (check.ok if (target / name).exists() else lambda t: check.missing(t, URL))(f"{target / name}")
    if not check.failed:
        summarise(check, "cars196-openset", target)
    return check.finish(f"ready: dataset_params.name=cars196-openset, data root {target}")


if __name__ == "__main__":
    sys.exit(main())
