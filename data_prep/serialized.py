"""Write a registry dataset in the serialized format (docs/reference.md §8.2): ``python data_prep/serialized.py
NAME SOURCE_ROOT OUTPUT_FOLDER``, or check a serialized folder: ``python data_prep/serialized.py --check FOLDER``.

Each split becomes <stem>.rec/.idx (JPEG quality 75, header label = class), <stem>.labels and <stem>.yaml;
`train` is the train split, test sets keep their names without `infer-` (no validation, lossy or pair sets).
"""

import argparse
import sys
from pathlib import Path

from _common import Checklist, add_strict, summarise


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("paths", nargs="+", help="NAME SOURCE_ROOT OUTPUT_FOLDER, or FOLDER with --check")
    p.add_argument("--check", action="store_true")
    add_strict(p)
    args = p.parse_args(argv)
    check = Checklist("serialized open-set folder", args.strict)
    if args.check:
        summarise(check, "serialized-openset", Path(args.paths[0]))
        return check.finish(f"ready: dataset_params.name=serialized-openset, data root {args.paths[0]}")
    if len(args.paths) != 3:
        p.error("expected NAME SOURCE_ROOT OUTPUT_FOLDER")
    from pml_core.config import DatasetParams
    from pml_core.data import build_datasets
    from pml_core.data.formats.serialized import serialize_dataset
    from pml_core.errors import DataError

    name, source, output = args.paths[0], Path(args.paths[1]), Path(args.paths[2])
    try:
        collection = build_datasets(DatasetParams(name=name, add_verification_testsets=False), source)
        splits = {"train": collection.train, **{k[len("infer-"):]: v for k, v in collection.tests.items()}}
        for stem, dataset in splits.items():
            if (output / f"{stem}.yaml").is_file():
                check.ok(f"{output / stem}.* already written")
                continue
            serialize_dataset(dataset, output, stem)
            check.did(f"wrote {output / stem}.rec/.idx/.labels/.yaml ({len(dataset)} images)")
    except DataError as error:
        check.missing(str(error), "docs/datasets.md")
        return check.finish("")
    summarise(check, "serialized-openset", output)
    return check.finish(f"ready: dataset_params.name=serialized-openset, data root {output}")


if __name__ == "__main__":
    sys.exit(main())
