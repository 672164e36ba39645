"""Serialized open-set folders (docs/reference.md §8.2 "Serialized"): per split ``<stem>.rec/.idx/.labels/.yaml``.

``train`` is mandatory; every other stem becomes the test set ``infer-<stem>``. Also the writer used by
tests and ``data_prep`` (`serialize_dataset`): images re-encoded as JPEG (PIL, quality 75).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import yaml

from ...errors import DataError
from ...utils import write_text_atomic
from ..base import BaseDataset
from .common import prep_hint
from .faces import RecordIODataset
from .recordio import IndexedRecordIO, pack_header, write_indexed_recordio

SCRIPT = "serialized"


def load_split(folder: Path, stem: str) -> RecordIODataset:
    hint = prep_hint(SCRIPT)
    reader = IndexedRecordIO(folder / f"{stem}.rec", folder / f"{stem}.idx", hint)
    labels_path = folder / f"{stem}.labels"
    meta_path = folder / f"{stem}.yaml"
    for path in (labels_path, meta_path):
        if not path.is_file():
            raise DataError(f"{path} is missing; {hint}")
    try:
        labels = yaml.safe_load(labels_path.read_text())
        meta = yaml.safe_load(meta_path.read_text()) or {}
    except yaml.YAMLError as error:
        raise DataError(f"{labels_path} or {meta_path} is not valid YAML ({error}); {hint}") from None
    if not isinstance(labels, list) or len(labels) != len(reader):
        raise DataError(f"{labels_path}: expected a list of {len(reader)} labels (one per record); {hint}")
    if not meta.get("classification", True):
        raise DataError(f"{meta_path}: only classification splits are supported; {hint}")
    dataset = RecordIODataset(reader, reader.keys, np.asarray(labels, np.int64), hint=hint)
    if "num_samples" in meta and int(meta["num_samples"]) != len(dataset):
        raise DataError(f"{meta_path} declares {meta['num_samples']} samples but {stem}.rec has {len(dataset)}; {hint}")
    return dataset


def serialized_openset(params, root):
    folder = Path(root)
    if not (folder / "train.rec").is_file() and (folder / "serialized" / "train.rec").is_file():
        folder = folder / "serialized"
    if not (folder / "train.rec").is_file():
        raise DataError(f"{folder / 'train.rec'} is missing (a serialized folder needs a train split); "
                        f"{prep_hint(SCRIPT)}")
    train = load_split(folder, "train")
    stems = sorted(p.stem for p in folder.glob("*.rec") if p.stem != "train")
    return train, {stem: load_split(folder, stem) for stem in stems}


def serialize_dataset(dataset: BaseDataset, folder: str | Path, stem: str, quality: int = 75) -> None:
    """Write ``dataset`` as ``<stem>.rec/.idx/.labels/.yaml`` (JPEG payloads, header label = class)."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    def records():
        for index in range(len(dataset)):
            image = dataset.image(index)
            if not isinstance(image, Image.Image):
                image = Image.fromarray(np.asarray(image, np.uint8))
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="JPEG", quality=quality)
            yield index, pack_header(float(dataset.labels[index]), buffer.getvalue(), record_id=index)

    write_indexed_recordio(folder / f"{stem}.rec", folder / f"{stem}.idx", records())
    write_text_atomic(folder / f"{stem}.labels", yaml.safe_dump([int(v) for v in dataset.labels]))
    write_text_atomic(folder / f"{stem}.yaml", yaml.safe_dump({"classification": True, "num_classes": int(dataset.num_classes),
                                                              "num_samples": len(dataset)}))
