"""Stanford Online Products (docs/reference.md §8.2): Ebay_train.txt, Ebay_test.txt, images relative to root."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..base import ImageListDataset, dense_labels
from .common import bad_line, locate, prep_hint, read_lines

SCRIPT = "sop"
HEADER = "image_id class_id super_class_id path"


def read_part(folder: Path, name: str) -> ImageListDataset:
    path = folder / name
    lines = read_lines(path, SCRIPT)
    if not lines or lines[0].split() != HEADER.split():
        raise bad_line(path, 1, lines[0] if lines else "", f"the header {HEADER!r}", SCRIPT)
    paths, classes = [], []
    for number, line in enumerate(lines[1:], 2):
        fields = line.split()
        try:
            classes.append(int(fields[1]))
            paths.append(folder / fields[3])
        except (ValueError, IndexError):
            raise bad_line(path, number, line, "'image_id class_id super_class_id path'", SCRIPT) from None
    # Train: class_id - 1; test: class_id - 1 - 11318 -- both are the dense re-indexing of contiguous ids.
    return ImageListDataset(paths, dense_labels(np.asarray(classes)), hint=prep_hint(SCRIPT))


def sop_openset(params, root):
    folder = locate(root, "Ebay_train.txt", ("Stanford_Online_Products", "sop"), SCRIPT)
    return read_part(folder, "Ebay_train.txt"), {"sop": read_part(folder, "Ebay_test.txt")}
