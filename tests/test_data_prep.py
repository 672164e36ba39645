"""data_prep scripts: checklist on tiny fake copies, idempotent, missing pieces named."""

import importlib.util
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from test_data_formats import make_cub, make_faces

PREP = Path(__file__).resolve().parent.parent / "data_prep"


def script(name):
    import sys

    sys.path.insert(0, str(PREP))
    spec = importlib.util.spec_from_file_location(f"prep_{name}", PREP / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cub_from_folder_and_archive_idempotent(tmp_path, capsys):
    make_cub(tmp_path / "download" / "CUB_200_2011")
    cub = script("cub200")
    assert cub.main([str(tmp_path / "download"), str(tmp_path / "root")]) == 0
    out = capsys.readouterr().out
    assert "[+] linked" in out and "train: images 4, classes 2" in out and "official count" in out
    assert cub.main([str(tmp_path / "download"), str(tmp_path / "root")]) == 0
    assert "already in place" in capsys.readouterr().out
    archive = tmp_path / "CUB_200_2011.tgz"
    with tarfile.open(archive, "w:gz") as handle:
        handle.add(tmp_path / "download" / "CUB_200_2011", arcname="CUB_200_2011")
    assert cub.main([str(archive), str(tmp_path / "root2")]) == 0
    assert "extracted" in capsys.readouterr().out
    assert cub.main([str(archive), str(tmp_path / "root2")]) == 0
    assert "already extracted" in capsys.readouterr().out


def test_missing_piece_named_with_its_source(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert script("cub200").main([str(tmp_path / "empty"), str(tmp_path / "root")]) == 1
    out = capsys.readouterr().out
    assert "[ ] images.txt not found" in out and "vision.caltech.edu" in out


def test_insightface_writes_label_cache_and_checks_bins(tmp_path, capsys):
    make_faces(tmp_path / "faces")
    assert script("insightface").main([str(tmp_path / "faces"), str(tmp_path / "root")]) == 0
    out = capsys.readouterr().out
    assert "label cache" in out and "lfw.bin: 2 pairs (1 same)" in out
    assert np.load(tmp_path / "root" / "casia" / "labels.npy").tolist() == [0, 0, 1, 1]
