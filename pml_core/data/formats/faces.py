"""InsightFace face sets: RecordIO train set + verification bins (docs/reference.md §8.2 "MXNet face sets").

``<root>/train.rec``, ``train.idx``, ``property`` ("num_classes,height,width"); record 0's label holds
(first index after the images, ...); images are records 1 .. images_end - 1, label = int(header label).
Bins ``<root>/<name>.bin`` (the official lists: CASIA lfw, cfp_fp, cfp_ff, calfw, cplfw, agedb_30, MS1M also
vgg2_fp; InsightFace's CASIA zip ships lfw, cfp_fp and agedb_30): the bins present are used and the absent ones
named in one DataWarning, unless ``dataset_params.verification_bins`` names the bins to use (each must be there).
A bin is a pickle of (list of encoded images, list of same/different booleans), two consecutive images per pair.
Bins are read with a restricted unpickler: only bytes and numpy array
reconstruction are allowed; any other global (os.system, eval, ...) is refused with a DataError before
anything runs.
"""

from __future__ import annotations

import io
import pickle
import warnings
from pathlib import Path

import numpy as np

from ...errors import DataError
from ..base import BaseDataset, DataWarning, decode_bytes
from ..pairs import PairsDataset
from .common import locate, prep_hint
from .recordio import IndexedRecordIO

SCRIPT = "insightface"
CASIA_BINS = ("lfw", "cfp_fp", "cfp_ff", "calfw", "cplfw", "agedb_30")
MS1M_BINS = CASIA_BINS + ("vgg2_fp",)

_ALLOWED_GLOBALS = {
    ("builtins", "bytes"), ("__builtin__", "bytes"), ("builtins", "bytearray"), ("__builtin__", "bytearray"),
    ("_codecs", "encode"),  # how protocol-2 pickles of Python 3 store bytes
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals of ``_ALLOWED_GLOBALS``; anything else raises DataError."""

    def __init__(self, file, source: str):
        super().__init__(file, encoding="bytes")
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise DataError(f"{self.source} refers to {module}.{name}, which a verification bin never needs; "
                            f"the file is not a genuine insightface .bin (refused without running it); "
                            f"re-fetch it and check it with `python data_prep/{SCRIPT}.py`")
        return super().find_class(module, name)


def load_bin(path: str | Path) -> tuple[list[bytes], np.ndarray]:
    """(encoded images, (P,) bool same-flags) of a verification .bin, read safely."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"verification bin {path} is missing; {prep_hint(SCRIPT)}")
    try:
        with open(path, "rb") as handle:
            data = RestrictedUnpickler(handle, str(path)).load()
    except DataError:
        raise
    except Exception as error:  # any malformed pickle
        raise DataError(f"verification bin {path} cannot be read ({type(error).__name__}: {error}); "
                        f"{prep_hint(SCRIPT)}") from None
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise DataError(f"verification bin {path} must hold (images, same-flags); {prep_hint(SCRIPT)}")
    images, flags = data
    images = [bytes(np.asarray(item, np.uint8).tobytes()) if isinstance(item, np.ndarray) else bytes(item)
              for item in images]
    flags = np.asarray([bool(flag) for flag in flags], bool)
    if len(images) != 2 * len(flags):
        raise DataError(f"verification bin {path}: {len(images)} images for {len(flags)} pairs (need two per pair); "
                        f"{prep_hint(SCRIPT)}")
    return images, flags


class EncodedImagesDataset(BaseDataset):
    """Images held encoded in memory (a .bin), labels given."""

    def __init__(self, encoded: list[bytes], labels, source: str):
        self.encoded = encoded
        self.labels = np.asarray(labels, np.int64)
        self.source = source

    def image(self, index: int):
        return decode_bytes(self.encoded[index], f"{self.source}, image {index}", prep_hint(SCRIPT))


def bin_pairs(path: str | Path) -> PairsDataset:
    """Verification pairs of a .bin: pair i = images (2i, 2i+1), label 1 when same person."""
    images, flags = load_bin(path)
    base = EncodedImagesDataset(images, np.arange(len(images)) // 2, str(path))
    pairs = np.arange(len(images)).reshape(-1, 2)
    return PairsDataset(base, pairs, flags.astype(np.int64))


class RecordIODataset(BaseDataset):
    """Images of an indexed RecordIO file: ``keys`` records, labels given (or read from the headers)."""

    def __init__(self, reader: IndexedRecordIO, keys, labels=None, *, hint: str = ""):
        self.reader = reader
        self.keys = np.asarray(keys, np.int64)
        self.hint = hint
        if labels is None:
            labels = [_label_of(reader.read_header(int(key))) for key in self.keys]
        self.labels = np.asarray(labels, np.int64)

    def image(self, index: int):
        key = int(self.keys[index])
        _, payload = self.reader.read_image(key)
        return decode_bytes(payload, f"{self.reader.rec_path}, record {key}", self.hint)


def _label_of(label) -> int:
    return int(label) if np.ndim(label) == 0 else int(np.asarray(label).reshape(-1)[0])


def insightface_trainset(root: Path) -> RecordIODataset:
    """The train.rec images with their labels (a ``labels.npy`` cache beside it is used when valid)."""
    hint = prep_hint(SCRIPT)
    reader = IndexedRecordIO(root / "train.rec", root / "train.idx", hint)
    if 0 not in reader.offsets:
        raise DataError(f"{root / 'train.idx'} has no record 0 (the insightface header record); {hint}")
    header = reader.read_header(0)
    if np.ndim(header) == 0 or len(header) < 1:
        raise DataError(f"{root / 'train.rec'}: record 0 carries no (images_end, ...) label; {hint}")
    images_end = int(header[0])
    keys = np.arange(1, images_end)
    labels = None
    cache = root / "labels.npy"
    if cache.is_file():
        try:
            cached = np.load(cache, allow_pickle=False)
            if cached.shape == keys.shape:
                labels = cached.astype(np.int64)
        except (OSError, ValueError):
            labels = None
    dataset = RecordIODataset(reader, keys, labels, hint=hint)
    prop = root / "property"
    if prop.is_file():
        try:
            declared = int(prop.read_text().split(",")[0])
        except ValueError:
            raise DataError(f"{prop} must start with the number of classes; {hint}") from None
        if dataset.num_classes != declared:
            raise DataError(f"{root}: {dataset.num_classes} classes in train.rec but {prop} declares {declared}; {hint}")
    return dataset


def select_bins(folder: Path, known: tuple[str, ...], requested: list[str] | None) -> tuple[list[str], list[str]]:
    """(bins to test on, known bins absent from ``folder``).

    ``requested`` None: every bin of ``known`` present in ``folder`` (at least one). A requested bin that is
    absent is a DataError naming all such bins and the folder at once."""
    present = [name for name in known if (folder / f"{name}.bin").is_file()]
    absent = [name for name in known if name not in present]
    if requested is None:
        if not present:
            raise DataError(f"{folder} holds no verification bin (looked for {', '.join(f'{b}.bin' for b in known)}); "
                            f"{prep_hint(SCRIPT)}")
        return present, absent
    missing = [name for name in requested if not (folder / f"{name}.bin").is_file()]
    if missing:
        have = sorted(p.stem for p in folder.glob("*.bin"))
        raise DataError(f"dataset_params.verification_bins asks for {', '.join(missing)}, but {folder} has no "
                        f"{', '.join(f'{b}.bin' for b in missing)} (bins there: {', '.join(have) or 'none'}); copy "
                        f"the bin(s) there or remove them from verification_bins")
    return list(requested), [name for name in absent if name not in requested]


def faces_openset(root: Path, bins: tuple[str, ...], subfolders: tuple[str, ...], requested: list[str] | None = None):
    """Train set and {bin name: pairs} of an InsightFace folder; absent official bins are one DataWarning
    (unless ``requested``, `DatasetParams.verification_bins`, names the bins to use)."""
    folder = locate(root, "train.rec", subfolders, SCRIPT)
    chosen, absent = select_bins(folder, bins, requested)
    if absent and requested is None:
        warnings.warn(f"{folder}: no {', '.join(f'{b}.bin' for b in absent)}; testing on {', '.join(chosen)} only "
                      f"(name the bins you use with dataset_params.verification_bins to silence this)",
                      DataWarning, stacklevel=2)
    train = insightface_trainset(folder)
    return train, {name: bin_pairs(folder / f"{name}.bin") for name in chosen}


def casia_openset(params, root):
    return faces_openset(Path(root), CASIA_BINS, ("casia", "faces_webface_112x112", "CASIA"), params.verification_bins)


def ms1mv2_openset(params, root):
    return faces_openset(Path(root), MS1M_BINS, ("ms1mv2", "faces_emore"), params.verification_bins)


def ms1mv3_openset(params, root):
    return faces_openset(Path(root), MS1M_BINS, ("ms1mv3", "ms1m-retinaface-t1"), params.verification_bins)
