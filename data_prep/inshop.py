"""Prepare In-shop Clothes Retrieval: ``python data_prep/inshop.py img.zip list_eval_partition.txt|FOLDER DATA_ROOT``.

Expects list_eval_partition.txt (first line 52712, header ``image_name item_id evaluation_status``) and
img/ (25,882 train images / 3,997 items; 14,218 query + 12,612 gallery / 3,985 items).
Result: DATA_ROOT/inshop (`inshop-openset`; standard query->gallery protocol by default).
"""

import shutil
import sys

from _common import Checklist, extract, is_archive, parser, place, summarise

URL = ("https://mmlab.ie.cuhk.edu.hk/projects/DeepFashion/InShopRetrieval.html "
       "(Img/img.zip and Eval/list_eval_partition.txt)")


def main(argv=None) -> int:
    args = parser(__doc__, "img.zip, list_eval_partition.txt, or a folder holding both").parse_args(argv)
    check = Checklist("In-shop Clothes Retrieval")
    target = args.data_root / "inshop"
    for source in args.source:
        if source.is_dir() and (source / "list_eval_partition.txt").is_file():
            place(check, source, target, args.copy)
        elif is_archive(source):
            extract(check, source, target, marker="img")
        elif source.name == "list_eval_partition.txt" and source.is_file():
            target.mkdir(parents=True, exist_ok=True)
            if not (target / source.name).exists():
                shutil.copyfile(source, target / source.name)
                check.did(f"copied {source} to {target}")
            else:
                check.ok(f"{target / source.name} already there")
        else:
            check.missing(f"{source} is not img.zip, list_eval_partition.txt or a prepared folder", URL)
    for name in ("list_eval_partition.txt", "img"):
        (check.ok if (target / name).exists() else lambda t: check.missing(t, URL))(f"{target / name}")
    if not check.failed:
        summarise(check, "inshop-openset", target)
    return check.finish(f"ready: dataset_params.name=inshop-openset, data root {target}")


if __name__ == "__main__":
    sys.exit(main())
