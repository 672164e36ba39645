"""Prepare Stanford Cars196 from either official form:

  python data_prep/cars196.py cars_train.tgz cars_test.tgz car_devkit.tgz cars_test_annos_withlabels.mat DATA_ROOT
  python data_prep/cars196.py car_ims.tgz cars_annos.mat DATA_ROOT

(or a folder already holding devkit/ + cars_train/ + cars_test/, or car_ims/ + cars_annos.mat). The devkit form
expects devkit/cars_train_annos.mat, devkit/cars_test_annos_withlabels.mat, cars_train/, cars_test/; the
single-file form cars_annos.mat and car_ims/ (16,185 images, 196 classes either way).
Result: DATA_ROOT/cars196 (`cars196-openset`).
"""

import shutil
import sys

from _common import Checklist, extract, is_archive, parser, place, summarise, verify_checksum

URL = ("https://ai.stanford.edu/~jkrause/cars/car_dataset.html (cars_train.tgz, cars_test.tgz, car_devkit.tgz, "
       "cars_test_annos_withlabels.mat; or car_ims.tgz + cars_annos.mat)")
KNOWN_MD5 = {"cars_train.tgz": "065e5b463ae28d29e77c1b4b166cfe61", "cars_test.tgz": "4ce7ebf6a94d07f1952d94dd34c4d501",
             "car_devkit.tgz": "c3b158d763b6e2245038c8ad08e45376",
             "cars_test_annos_withlabels.mat": "b0a2b23655a3edd16d84508592a98d10"}
MARKERS = {"cars_train.tgz": "cars_train", "cars_test.tgz": "cars_test", "car_devkit.tgz": "devkit",
           "car_ims.tgz": "car_ims"}
FORMS = {"devkit": ("devkit/cars_train_annos.mat", "devkit/cars_test_annos_withlabels.mat", "cars_train", "cars_test"),
         "single-file": ("cars_annos.mat", "car_ims")}
SINGLE_FILE_PIECES = ("cars_annos.mat", "car_ims.tgz", "car_ims")


def _copy_mat(check: Checklist, source, folder) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / source.name).exists():
        check.ok(f"{folder / source.name} already there")
        return
    shutil.copyfile(source, folder / source.name)
    check.did(f"copied {source.name} into {folder}")


def _is_prepared_folder(source) -> bool:
    return source.is_dir() and ((source / "devkit").is_dir() or (source / "cars_annos.mat").is_file())


def main(argv=None) -> int:
    args = parser(__doc__, "the Cars archives / .mat files, or a prepared folder").parse_args(argv)
    check = Checklist("Stanford Cars196", args.strict)
    target = args.data_root / "cars196"
    for source in sorted(args.source, key=lambda path: not path.is_dir()):  # a folder is linked first
        if _is_prepared_folder(source):
            place(check, source, target, args.copy)
        elif is_archive(source):
            verify_checksum(check, source, KNOWN_MD5)
            extract(check, source, target, marker=MARKERS.get(source.name))
        elif source.name == "cars_annos.mat" and source.is_file():  # the single-file form: beside car_ims/
            _copy_mat(check, source, target)
        elif source.suffix == ".mat" and source.is_file():  # devkit annotations
            verify_checksum(check, source, KNOWN_MD5)
            _copy_mat(check, source, target / "devkit")
        else:
            check.missing(f"{source} is not a Cars archive, .mat file or prepared folder", URL)
    single = any(source.name in SINGLE_FILE_PIECES for source in args.source) or (target / "cars_annos.mat").exists()
    devkit_complete = all((target / name).exists() for name in FORMS["devkit"])
    form = "single-file" if single and not devkit_complete else "devkit"
    check.ok(f"form: {form} ({', '.join(FORMS[form])})")
    for name in FORMS[form]:
        (check.ok if (target / name).exists() else lambda t: check.missing(t, URL))(f"{target / name}")
    if not check.failed:
        summarise(check, "cars196-openset", target)
    return check.finish(f"ready: dataset_params.name=cars196-openset, data root {target}")


if __name__ == "__main__":
    sys.exit(main())
