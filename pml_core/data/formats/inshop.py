"""In-shop Clothes Retrieval (docs/reference.md §8.2): list_eval_partition.txt, images under img/.

Read from the prepared folder (``list_eval_partition.txt`` beside ``img/``) or the extracted release
(``Eval/list_eval_partition.txt`` beside ``img/``, or ``Img/img/``); the partition's paths (``img/...``) are relative
to the folder holding ``img/``.

Test set = query then gallery rows in file order (as the reference). The standard protocol (default,
``inshop_protocol: query-gallery``) exposes ``query_mask`` / ``gallery_mask``: queries are searched in
the gallery only. ``inshop_protocol: pooled`` leaves them out (the reference's leave-one-out retrieval
over query and gallery together).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import DataError
from ..base import ImageListDataset
from .common import bad_line, prep_hint, read_lines

SCRIPT = "inshop"
SUBFOLDERS = ("inshop", "In-shop", "InShop", "In-shop Clothes Retrieval Benchmark")
PARTITION = "list_eval_partition.txt"


def find_partition(root) -> Path:
    """``list_eval_partition.txt`` in ``root`` or a usual sub-folder, beside the images or in ``Eval/``."""
    root = Path(root)
    places = [folder / sub / PARTITION for folder in (root, *(root / name for name in SUBFOLDERS)) for sub in ("", "Eval")]
    found = next((path for path in places if path.is_file()), None)
    if found is None:
        raise DataError(f"{PARTITION} not found (looked for {', '.join(str(p) for p in places)}); {prep_hint(SCRIPT)}")
    return found


def image_base(partition: Path) -> Path:
    """The folder the partition's ``img/...`` paths are relative to (the release's top or its ``Img/``)."""
    top = partition.parent.parent if partition.parent.name == "Eval" else partition.parent
    return next((base for base in (top, top / "Img") if (base / "img").is_dir()), top)


def read_partition(path: Path):
    lines = read_lines(path, SCRIPT)
    if len(lines) < 2 or lines[1].split() != ["image_name", "item_id", "evaluation_status"]:
        raise bad_line(path, 2, lines[1] if len(lines) > 1 else "", "the header 'image_name item_id evaluation_status'",
                       SCRIPT)
    rows = []
    for number, line in enumerate(lines[2:], 3):
        fields = line.split()
        if len(fields) != 3 or fields[2] not in ("train", "query", "gallery"):
            raise bad_line(path, number, line, "'image_name item_id train|query|gallery'", SCRIPT)
        rows.append(fields)
    try:
        declared = int(lines[0].split()[0])
    except ValueError:
        raise bad_line(path, 1, lines[0], "the number of images", SCRIPT) from None
    if declared != len(rows):
        raise DataError(f"{path} declares {declared} images but lists {len(rows)}; {prep_hint(SCRIPT)}")
    return rows


def _labels(items: list[str]) -> np.ndarray:
    order = {item: rank for rank, item in enumerate(sorted(set(items)))}
    return np.array([order[item] for item in items], np.int64)


def inshop_openset(params, root):
    partition = find_partition(root)
    folder = image_base(partition)
    rows = read_partition(partition)
    train_rows = [r for r in rows if r[2] == "train"]
    test_rows = [r for r in rows if r[2] != "train"]
    hint = prep_hint(SCRIPT)
    train = ImageListDataset([folder / r[0] for r in train_rows], _labels([r[1] for r in train_rows]), hint=hint)
    test = ImageListDataset([folder / r[0] for r in test_rows], _labels([r[1] for r in test_rows]), hint=hint)
    protocol = getattr(params, "inshop_protocol", "query-gallery")
    test.protocol = protocol
    if protocol == "query-gallery":
        test.query_mask = np.array([r[2] == "query" for r in test_rows])
        test.gallery_mask = ~test.query_mask
    return train, {"inshop": test}
