"""LFW (docs/reference.md §8.2): lfw-deepfunneled/<Name>/<Name>_NNNN.jpg, peopleDev*.txt, pairsDev*.txt.

``lfw-openset``: train = the DevTrain people as classification (label = index of the name in the
sorted DevTrain list), test ``lfw`` = the pairsDevTest pairs (verification). ``lfw-joined-openset``:
empty train, test = DevTrain and DevTest people as one classification set. Image numbers in the pair
files are 1-based positions in the person's sorted file list.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import DataError
from ..base import ImageListDataset
from ..pairs import PairsDataset
from .common import bad_line, locate, prep_hint, read_lines

SCRIPT = "lfw"
IMAGE_FOLDERS = ("lfw-deepfunneled", "lfw")


def image_folder(folder: Path) -> Path:
    for name in IMAGE_FOLDERS:
        if (folder / name).is_dir():
            return folder / name
    raise DataError(f"{folder / IMAGE_FOLDERS[0]} is missing (the deep-funneled LFW images); {prep_hint(SCRIPT)}")


def person_files(images: Path, name: str) -> list[Path]:
    files = sorted((images / name).glob("*.jpg"))
    if not files:
        raise DataError(f"{images / name} has no images; {prep_hint(SCRIPT)}")
    return files


def read_people(path: Path) -> list[tuple[str, int]]:
    lines = read_lines(path, SCRIPT)
    people = []
    for number, line in enumerate(lines[1:], 2):
        fields = line.split()
        try:
            people.append((fields[0], int(fields[1])))
        except (ValueError, IndexError):
            raise bad_line(path, number, line, "'name count'", SCRIPT) from None
    return people


def people_dataset(images: Path, names: list[str]) -> ImageListDataset:
    names = sorted(set(names))
    paths, labels = [], []
    for label, name in enumerate(names):
        files = person_files(images, name)
        paths += files
        labels += [label] * len(files)
    return ImageListDataset(paths, labels, hint=prep_hint(SCRIPT))


def read_pairs(path: Path, images: Path) -> PairsDataset:
    lines = read_lines(path, SCRIPT)
    try:
        count = int(lines[0].split()[0])
    except (ValueError, IndexError):
        raise bad_line(path, 1, lines[0] if lines else "", "the number of pairs", SCRIPT) from None
    if len(lines) - 1 != 2 * count:
        raise DataError(f"{path} declares {count} matched + {count} mismatched pairs but has {len(lines) - 1} "
                        f"lines; {prep_hint(SCRIPT)}")
    index: dict[Path, int] = {}
    owners: list[str] = []

    def item(name: str, number: str, line_number: int, line: str) -> int:
        files = person_files(images, name)
        position = int(number) - 1
        if not 0 <= position < len(files):
            raise bad_line(path, line_number, line, f"an image number within 1..{len(files)} for {name}", SCRIPT)
        file = files[position]
        if file not in index:
            index[file] = len(index)
            owners.append(name)
        return index[file]

    pairs, labels = [], []
    for number, line in enumerate(lines[1:], 2):
        fields = line.split()
        try:
            if number - 2 < count:
                pairs.append((item(fields[0], fields[1], number, line), item(fields[0], fields[2], number, line)))
                labels.append(1)
            else:
                pairs.append((item(fields[0], fields[1], number, line), item(fields[2], fields[3], number, line)))
                labels.append(0)
        except (ValueError, IndexError):
            expected = "'name i j'" if number - 2 < count else "'name1 i name2 j'"
            raise bad_line(path, number, line, expected, SCRIPT) from None
    names = sorted(set(owners))
    base = ImageListDataset(list(index), [names.index(owner) for owner in owners], hint=prep_hint(SCRIPT))
    return PairsDataset(base, np.asarray(pairs, np.int64), np.asarray(labels, np.int64))


def lfw_openset(params, root):
    folder = locate(root, "peopleDevTrain.txt", ("lfw",), SCRIPT)
    images = image_folder(folder)
    train = people_dataset(images, [name for name, _ in read_people(folder / "peopleDevTrain.txt")])
    return train, {"lfw": read_pairs(folder / "pairsDevTest.txt", images)}


def lfw_joined_openset(params, root):
    folder = locate(root, "peopleDevTrain.txt", ("lfw",), SCRIPT)
    images = image_folder(folder)
    names = [name for part in ("peopleDevTrain.txt", "peopleDevTest.txt") for name, _ in read_people(folder / part)]
    return ImageListDataset([], [], hint=prep_hint(SCRIPT)), {"lfw": people_dataset(images, names)}
