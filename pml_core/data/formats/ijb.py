"""IJB-B / IJB-C 1:1 verification meta files (the InsightFace release of the IJB protocols).

Layout under IJB_ROOT (``IJB_ROOT``, ``IJB_ROOT/IJBB`` or ``IJB_ROOT/IJBC``)::

    meta/ijbb_face_tid_mid.txt          "<image> <template id> <media id>" per face
    meta/ijbb_template_pair_label.txt   "<template 1> <template 2> <1 genuine | 0 impostor>" per pair
    meta/ijbb_name_5pts_score.txt       optional: "<image> x1 y1 ... x5 y5 <detector score>"
    loose_crop/<image>                  the face crops

(``ijbc_`` for IJB-C; meta files directly in the root are accepted too). Crops that are not already
112x112 are aligned to the ArcFace five-point template with a least-squares similarity transform of
their landmarks (when the landmark file is present; otherwise they are resized).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ...errors import DataError
from ..base import BaseDataset, decode_bytes

SETS = ("ijbb", "ijbc")
HINT = ("get the InsightFace IJB release (IJB_B.tar / IJB_C.tar: meta/ and loose_crop/) and pass the folder "
        "holding meta/ as IJB_ROOT")
# Five landmark positions (eyes, nose tip, mouth corners) of the standard 112x112 ArcFace crop.
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], np.float64)


@dataclass
class IJBMeta:
    """Parsed meta files. images (N,) names, templates (N,), media (N,), pairs (Q, 2), labels (Q,),
    landmarks (N, 5, 2) or None, scores (N,) or None."""

    folder: Path
    images: np.ndarray
    templates: np.ndarray
    media: np.ndarray
    pairs: np.ndarray
    labels: np.ndarray
    landmarks: np.ndarray | None = None
    scores: np.ndarray | None = None


def ijb_folder(root: str | Path, name: str) -> Path:
    """The folder whose ``meta/`` (or itself) holds ``<name>_face_tid_mid.txt``."""
    if name not in SETS:
        raise DataError(f"unknown IJB set {name!r}; valid: {', '.join(SETS)}")
    root = Path(root).expanduser()
    marker = f"{name}_face_tid_mid.txt"
    candidates = [root, root / name.upper(), root / f"IJB_{name[-1].upper()}", root / name]
    for folder in candidates:
        if (folder / "meta" / marker).is_file() or (folder / marker).is_file():
            return folder
    looked = ", ".join(str(c / "meta" / marker) for c in candidates)
    raise DataError(f"{marker} not found (looked for {looked}); {HINT}")


def _meta_file(folder: Path, filename: str) -> Path:
    return folder / "meta" / filename if (folder / "meta" / filename).is_file() else folder / filename


def _rows(path: Path, columns: int) -> list[list[str]]:
    if not path.is_file():
        raise DataError(f"{path} is missing; {HINT}")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < columns:
            raise DataError(f"{path}, line {number}: expected {columns} fields, got {line[:80]!r}; {HINT}")
        rows.append(fields)
    if not rows:
        raise DataError(f"{path} is empty; {HINT}")
    return rows


def read_ijb_meta(root: str | Path, name: str) -> IJBMeta:
    """Read the template-media map, the template pairs and (if present) landmarks and face scores."""
    folder = ijb_folder(root, name)
    faces = _rows(_meta_file(folder, f"{name}_face_tid_mid.txt"), 3)
    try:
        images = np.array([r[0] for r in faces])
        templates = np.array([int(r[1]) for r in faces], np.int64)
        media = np.array([int(r[2]) for r in faces], np.int64)
        pair_rows = _rows(_meta_file(folder, f"{name}_template_pair_label.txt"), 3)
        pairs = np.array([[int(r[0]), int(r[1])] for r in pair_rows], np.int64)
        labels = np.array([int(r[2]) for r in pair_rows], np.int64)
    except ValueError as error:
        raise DataError(f"{folder}: a template / media id or pair label is not an integer ({error}); {HINT}") from None
    if not np.isin(labels, (0, 1)).all():
        raise DataError(f"{folder}: pair labels must be 0 or 1; {HINT}")
    missing = np.setdiff1d(pairs.reshape(-1), templates)
    if missing.size:
        raise DataError(f"{folder}: {missing.size} templates of the pair list have no face (e.g. {missing[0]}); "
                        f"the meta files do not belong together; {HINT}")
    landmarks = scores = None
    points = _meta_file(folder, f"{name}_name_5pts_score.txt")
    if points.is_file():
        rows = {r[0]: r for r in _rows(points, 12)}
        if not all(image in rows for image in images):
            raise DataError(f"{points} lacks landmarks of some faces of {name}_face_tid_mid.txt; {HINT}")
        landmarks = np.array([[float(v) for v in rows[i][1:11]] for i in images], np.float64).reshape(-1, 5, 2)
        scores = np.array([float(rows[i][11]) for i in images], np.float64)
    return IJBMeta(folder, images, templates, media, pairs, labels, landmarks, scores)


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 similarity (scale, rotation, translation) best mapping source (K, 2) onto target (K, 2)
    in least squares: x' = a x - b y + tx, y' = b x + a y + ty."""
    k = len(source)
    design = np.zeros((2 * k, 4))
    design[0::2] = np.c_[source[:, 0], -source[:, 1], np.ones(k), np.zeros(k)]
    design[1::2] = np.c_[source[:, 1], source[:, 0], np.zeros(k), np.ones(k)]
    a, b, tx, ty = np.linalg.lstsq(design, target.reshape(-1), rcond=None)[0]
    return np.array([[a, -b, tx], [b, a, ty]])


def align_face(image: Image.Image, landmarks: np.ndarray, size: int = 112) -> Image.Image:
    """Warp a crop so its five landmarks land on the ArcFace template (112x112 RGB)."""
    matrix = np.vstack([similarity_transform(landmarks, ARCFACE_TEMPLATE * size / 112.0), [0, 0, 1]])
    inverse = np.linalg.inv(matrix)[:2].reshape(-1)  # PIL maps output -> input coordinates
    return image.transform((size, size), Image.Transform.AFFINE, tuple(inverse), resample=Image.Resampling.BILINEAR)


class IJBImages(BaseDataset):
    """The faces of an IJB set (labels = dense template index, for the protocol only)."""

    def __init__(self, meta: IJBMeta, size: int = 112, align: bool = True):
        self.meta = meta
        self.size = size
        self.align = align and meta.landmarks is not None
        _, self.labels = np.unique(meta.templates, return_inverse=True)
        self.labels = self.labels.astype(np.int64)
        self.crops = meta.folder / "loose_crop"

    def image(self, index: int):
        path = self.crops / str(self.meta.images[index])
        if not path.is_file():
            raise DataError(f"face crop {path} is missing; {HINT}")
        image = decode_bytes(path.read_bytes(), str(path), HINT)
        if not isinstance(image, Image.Image):
            image = Image.fromarray(np.asarray(image))
        image = image.convert("RGB")
        if image.size == (self.size, self.size):
            return image
        if self.align:
            return align_face(image, self.meta.landmarks[index], self.size)
        return image.resize((self.size, self.size), Image.Resampling.BILINEAR)
