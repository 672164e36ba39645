"""data_prep scripts: checklist on tiny fake copies, idempotent, missing pieces named."""

import importlib.util
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from test_data_formats import make_cars_single_file, make_cub, make_faces, make_inshop_release

from pml_core.data.check import check_dataset

# Fakes big enough for the shipped configs (base.yaml: validation fold 0 of 4, batches of 32 classes x 4; faces:
# batches of 512), so that the verdict is about the layout; counts differ from the official ones (warnings).
CLASSES = 86  # 43 train classes -> 32 after the validation fold

PREP = Path(__file__).resolve().parent.parent / "data_prep"


def script(name):
    import sys

    sys.path.insert(0, str(PREP))
    spec = importlib.util.spec_from_file_location(f"prep_{name}", PREP / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cub_from_folder_and_archive_idempotent(tmp_path, capsys):
    make_cub(tmp_path / "download" / "CUB_200_2011", classes=CLASSES)
    cub = script("cub200")
    assert cub.main([str(tmp_path / "download"), str(tmp_path / "root")]) == 0
    out = capsys.readouterr().out
    assert "[+] linked" in out and "train: images 86, classes 43" in out
    assert "valid: images 22, classes 11" in out and "train-fit: images 64, classes 32" in out
    assert "[!] train: 86 images, the official count is 5864" in out and "4 warning(s) marked [!]" in out
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
    make_faces(tmp_path / "faces", images=520)
    assert script("insightface").main([str(tmp_path / "faces"), str(tmp_path / "root")]) == 0
    out = capsys.readouterr().out
    assert "label cache" in out and "lfw.bin: 2 pairs (1 same)" in out
    assert np.load(tmp_path / "root" / "casia" / "labels.npy").tolist() == [0] * 260 + [1] * 260


def test_one_verdict_for_data_check_and_data_prep(tmp_path, capsys):
    make_cub(tmp_path / "CUB_200_2011", classes=CLASSES)
    cub = script("cub200")
    assert cub.main([str(tmp_path / "CUB_200_2011"), str(tmp_path / "root")]) == 0
    assert "== ready" in capsys.readouterr().out
    folder = tmp_path / "root" / "CUB_200_2011"
    relaxed, strict = check_dataset("cub200-openset", folder), check_dataset("cub200-openset", folder, strict=True)
    assert relaxed["ok"] and len(relaxed["warnings"]) == 4 and not strict["ok"] and len(strict["problems"]) == 4
    assert cub.main([str(tmp_path / "CUB_200_2011"), str(tmp_path / "root"), "--strict"]) == 1
    out = capsys.readouterr().out
    assert "[ ] train: 86 images, the official count is 5864 (an error under --strict)" in out and "FAILED" in out


def test_cars_single_file_form_from_archive_and_mat(tmp_path, capsys):
    download = tmp_path / "download"
    make_cars_single_file(download, classes=CLASSES)
    archive = tmp_path / "car_ims.tgz"
    with tarfile.open(archive, "w:gz") as handle:
        handle.add(download / "car_ims", arcname="car_ims")
    cars = script("cars196")
    argv = [str(archive), str(download / "cars_annos.mat"), str(tmp_path / "root")]
    assert cars.main(argv) == 0
    out = capsys.readouterr().out
    assert "form: single-file" in out and "copied cars_annos.mat into" in out and "devkit" not in out.split("form:")[1]
    assert "train: images 86, classes 43" in out and "== ready: dataset_params.name=cars196-openset" in out
    assert (tmp_path / "root" / "cars196" / "cars_annos.mat").is_file()
    assert cars.main(argv) == 0 and "already" in capsys.readouterr().out  # idempotent
    assert cars.main([str(download), str(tmp_path / "root2")]) == 0  # the folder as it is
    assert "[+] linked" in capsys.readouterr().out


def test_cars_single_file_form_names_what_is_missing(tmp_path, capsys):
    make_cars_single_file(tmp_path / "download", classes=4, images_dir=False)
    assert script("cars196").main([str(tmp_path / "download" / "cars_annos.mat"), str(tmp_path / "root")]) == 1
    out = capsys.readouterr().out
    assert f"[ ] {tmp_path / 'root' / 'cars196' / 'car_ims'}" in out and "car_ims.tgz" in out


def test_inshop_extracted_release_folder(tmp_path, capsys):
    make_inshop_release(tmp_path / "In-shop Clothes Retrieval Benchmark", "Img", train_items=43)
    inshop = script("inshop")
    assert inshop.main([str(tmp_path / "In-shop Clothes Retrieval Benchmark"), str(tmp_path / "root")]) == 0
    out = capsys.readouterr().out
    assert "Eval/list_eval_partition.txt" in out and "Img/img" in out
    assert "train: images 86, classes 43" in out and "infer-inshop: images 4, classes 2, queries 2, gallery 2" in out


def test_casia_folder_as_shipped_and_bins_listed_at_once(tmp_path, capsys):
    make_faces(tmp_path / "faces_webface_112x112", bins=("lfw", "cfp_fp", "agedb_30"), images=520)
    prep = script("insightface")
    assert prep.main([str(tmp_path / "faces_webface_112x112"), str(tmp_path / "root")]) == 0
    out = capsys.readouterr().out  # configs/datasets/faces-casia.yaml names the three shipped bins
    assert "absent of the official list: cfp_ff, calfw, cplfw" in out and "== ready" in out
    assert [line for line in out.splitlines() if "[!]" in line and ".bin" in line] == []
    assert "infer-agedb_30: pairs 2" in out
    assert prep.main([str(tmp_path / "faces_webface_112x112"), str(tmp_path / "m"), "--name", "ms1mv2"]) == 0
    out = capsys.readouterr().out  # faces-ms1mv2.yaml names none: every absent bin in one warning
    warned = [line for line in out.splitlines() if ".bin" in line and "[!]" in line]
    assert len(warned) == 1 and "no cfp_ff.bin, calfw.bin, cplfw.bin, vgg2_fp.bin; testing on lfw, cfp_fp, agedb_30" \
        in warned[0]
    assert prep.main([str(tmp_path / "faces_webface_112x112"), str(tmp_path / "m"), "--name", "ms1mv2",
                      "--strict"]) == 1
    assert prep.main([str(tmp_path / "faces_webface_112x112"), str(tmp_path / "c"), "--bins", "lfw,calfw"]) == 1
    assert "asks for calfw, but" in capsys.readouterr().out
