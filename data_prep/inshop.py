"""Prepare In-shop Clothes Retrieval:

  python data_prep/inshop.py img.zip list_eval_partition.txt DATA_ROOT
  python data_prep/inshop.py RELEASE_FOLDER DATA_ROOT      # the extracted release: img/ (or Img/img/) + Eval/

Expects list_eval_partition.txt (first line 52712, header ``image_name item_id evaluation_status``; beside img/
or in Eval/) and img/ (25,882 train images / 3,997 items; 14,218 query + 12,612 gallery / 3,985 items).
Result: DATA_ROOT/inshop (`inshop-openset`; standard query->gallery protocol by default).
"""

import shutil
import sys

from _common import Checklist, extract, is_archive, parser, place, summarise

URL = ("https://mmlab.ie.cuhk.edu.hk/projects/DeepFashion/InShopRetrieval.html "
       "(Img/img.zip and Eval/list_eval_partition.txt)")
PARTITION = "list_eval_partition.txt"


def _release_folder(source):
    """``source`` when it is a folder holding the partition (beside the images or in Eval/), else None."""
    if source.is_dir() and ((source / PARTITION).is_file() or (source / "Eval" / PARTITION).is_file()):
        return source
    return None


def main(argv=None) -> int:
    args = parser(__doc__, "img.zip, list_eval_partition.txt, or a folder holding both (e.g. the extracted release)"
                  ).parse_args(argv)
    check = Checklist("In-shop Clothes Retrieval", args.strict)
    target = args.data_root / "inshop"
    for source in sorted(args.source, key=lambda path: not path.is_dir()):  # a folder is linked first
        if _release_folder(source) is not None:
            place(check, source, target, args.copy)
        elif is_archive(source):
            extract(check, source, target, marker="img")
        elif source.name == PARTITION and source.is_file():
            target.mkdir(parents=True, exist_ok=True)
            if not (target / source.name).exists():
                shutil.copyfile(source, target / source.name)
                check.did(f"copied {source} to {target}")
            else:
                check.ok(f"{target / source.name} already there")
        elif source.is_dir():
            check.missing(f"{source} holds neither {PARTITION} (or Eval/{PARTITION}) with img/ nor is it a "
                          f"prepared folder", URL)
        else:
            check.missing(f"{source} is not img.zip, {PARTITION} or a prepared folder", URL)
    partition = next((p for p in (target / PARTITION, target / "Eval" / PARTITION) if p.is_file()), None)
    images = next((p for p in (target / "img", target / "Img" / "img") if p.is_dir()), None)
    (check.ok if partition else lambda t: check.missing(t, URL))(f"{partition or target / PARTITION}")
    (check.ok if images else lambda t: check.missing(t, URL))(f"{images or target / 'img'}")
    if not check.failed:
        summarise(check, "inshop-openset", target)
    return check.finish(f"ready: dataset_params.name=inshop-openset, data root {target}")


if __name__ == "__main__":
    sys.exit(main())
