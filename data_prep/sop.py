"""Prepare Stanford Online Products: ``python data_prep/sop.py Stanford_Online_Products.zip|FOLDER DATA_ROOT``.

Expects Ebay_train.txt / Ebay_test.txt (header ``image_id class_id super_class_id path``) and the
*_final image folders (59,551 train images / 11,318 classes, 60,502 test / 11,316).
Result: DATA_ROOT/Stanford_Online_Products (`sop-openset`).
"""

import sys

from _common import Checklist, parser, prepare_folder, summarise

URL = "https://cvgl.stanford.edu/projects/lifted_struct/ (Stanford_Online_Products.zip)"


def main(argv=None) -> int:
    args = parser(__doc__, "Stanford_Online_Products.zip or its extracted folder").parse_args(argv)
    check = Checklist("Stanford Online Products", args.strict)
    folder = prepare_folder(check, args.source, args.data_root / "Stanford_Online_Products", "Ebay_train.txt", {},
                            args.copy)
    if folder is None:
        check.missing("Stanford_Online_Products with Ebay_train.txt", URL)
        return check.finish("")
    for name in ("Ebay_train.txt", "Ebay_test.txt"):
        (check.ok if (folder / name).is_file() else lambda t: check.missing(t, URL))(f"{folder / name}")
    if not check.failed:
        summarise(check, "sop-openset", folder)
    return check.finish(f"ready: dataset_params.name=sop-openset, data root {folder}")


if __name__ == "__main__":
    sys.exit(main())
