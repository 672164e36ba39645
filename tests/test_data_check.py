"""`check_dataset`, the `data check` command (one verdict: problems stop a run, differences from the official
form are warnings unless --strict), the split/batch rules shared with training, and the decoded-image cache."""

import argparse
import json

import numpy as np
import pytest
from PIL import Image

from pml_core.commands import data as data_command
from pml_core.config import DatasetParams
from pml_core.data import build_datasets, build_train_loader
from pml_core.data.check import check_dataset, check_params, shipped_configs
from pml_core.errors import ConfigError, DataError

from conftest import ROOT

SMALL_BATCH = ["dataset_params.batch_size=8", "dataset_params.samples_per_class=2"]


def parse(argv):
    parser = argparse.ArgumentParser()
    data_command.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def run_command(argv, capsys):
    args = parse(["data", "check", *argv])
    code = args.func(args)
    return code, capsys.readouterr().out


def make_sop(root, train_classes=8, per_class=2, broken=False):
    """SOP layout: ``train_classes`` train classes, 2 test classes, ``per_class`` images each."""
    header = "image_id class_id super_class_id path\n"
    (root / "a").mkdir(parents=True)
    rows = {"train": [], "test": []}
    image_id = 0
    for part, classes, offset in (("train", train_classes, 0), ("test", 2, train_classes)):
        for cls in range(offset + 1, offset + classes + 1):
            for _ in range(per_class):
                image_id += 1
                Image.fromarray(np.full((20, 30, 3), image_id % 250, np.uint8)).save(root / "a" / f"{image_id}.jpg")
                rows[part].append(f"{image_id} {cls} 1 a/{image_id}.jpg\n")
    (root / "Ebay_train.txt").write_text(header + "".join(rows["train"]))
    (root / "Ebay_test.txt").write_text(header + "".join(rows["test"]))
    if broken:
        (root / "a" / f"{image_id}.jpg").write_bytes(b"oops")


def test_shipped_configs_are_the_default():
    assert shipped_configs("sop-openset") == [ROOT / "configs/base.yaml", ROOT / "configs/datasets/sop.yaml"]
    assert shipped_configs("imagefolder")[-1] == ROOT / "configs/datasets/imagefolder.yaml"
    assert shipped_configs("cub200-interleave-openset") == [ROOT / "configs/base.yaml"]
    params, used = check_params("sop-openset")
    assert params.validation_fold == 0 and params.batch_size == 128 and used[-1].endswith("configs/datasets/sop.yaml")
    with pytest.raises(ConfigError, match="names dataset_params.name 'sop-openset', but 'cub200-openset'"):
        check_params("cub200-openset", [ROOT / "configs/base.yaml", ROOT / "configs/datasets/sop.yaml"])


def test_official_count_differences_are_warnings_unless_strict(tmp_path, capsys):
    make_sop(tmp_path)
    result = check_dataset("sop-openset", tmp_path, overrides=SMALL_BATCH)
    assert result["ok"] and not result["problems"]
    assert any("16 images, the official count is 59551" in w for w in result["warnings"])
    assert result["splits"]["train"] == {"images": 16, "classes": 8, "kind": "classification"}
    strict = check_dataset("sop-openset", tmp_path, overrides=SMALL_BATCH, strict=True)
    assert not strict["ok"] and any("official count is 59551 (an error under --strict)" in p
                                    for p in strict["problems"])
    code, out = run_command(["sop-openset", str(tmp_path), *sum((["--set", o] for o in SMALL_BATCH), [])], capsys)
    assert code == 0 and "[ok] sop-openset" in out and "warning: train: 16 images, the official count" in out
    code, out = run_command(["sop-openset", str(tmp_path), "--strict",
                             *sum((["--set", o] for o in SMALL_BATCH), [])], capsys)
    assert code == 1 and "[FAILED]" in out and "problem: train: 16 images" in out


def test_summary_shows_the_validation_split_and_batch(tmp_path, capsys):
    make_sop(tmp_path)
    result = check_dataset("sop-openset", tmp_path, overrides=SMALL_BATCH)
    assert result["validation"] == {"fold": 0, "num_folds": 4}
    assert result["splits"]["train-fit"]["classes"] == 6 and result["splits"]["valid"]["classes"] == 2
    assert result["batch"] == {"batch_size": 8, "samples_per_class": 2, "train_repeat": 1, "batches_per_epoch": 1}
    code, out = run_command(["sop-openset", str(tmp_path), "--set", "dataset_params.batch_size=8",
                             "--set", "dataset_params.samples_per_class=2"], capsys)
    assert code == 0
    assert "train-fit (train without validation fold 0 of 4): images 12, classes 6" in out
    assert "valid: images 4, classes 2" in out and "batches: batch_size 8 (4 classes x 2 images)" in out


def test_split_too_small_for_the_batch_fails_in_check_and_at_train_time(tmp_path, capsys):
    make_sop(tmp_path)  # the shipped sop config: fold 0 of 4, batch 128 = 32 classes x 4
    code, out = run_command(["sop-openset", str(tmp_path)], capsys)
    assert code == 1
    expected = (f"dataset 'sop-openset' at {tmp_path}: the train split (without validation_fold 0 of 4: 2 classes "
                "held out) has 6 classes but a class-balanced batch needs 32 (batch_size 128 / samples_per_class 4); "
                "lower dataset_params.batch_size to 24 or less")
    assert expected in out and "fewer than dataset_params.batch_size 128" in out
    params, _ = check_params("sop-openset")
    collection = build_datasets(params, tmp_path)  # the sets themselves are fine ...
    with pytest.raises(DataError) as raised:  # ... the batch is not: the same message when a run starts
        build_train_loader(collection.train, params, seed=0, epoch=0)
    assert expected in str(raised.value)


def test_single_class_validation_split_names_set_folder_and_fix(tmp_path, capsys):
    make_sop(tmp_path, train_classes=4)  # fold 0 of 4 over 4 classes: valid = 1 class
    batch = ["--set", "dataset_params.batch_size=4", "--set", "dataset_params.samples_per_class=2"]
    code, out = run_command(["sop-openset", str(tmp_path), *batch], capsys)
    message = (f"dataset 'sop-openset' at {tmp_path}: the valid set has 1 class (2 images); retrieval metrics need "
               "at least two; lower dataset_params.num_validation_folds (now 4) or set dataset_params.validation_fold: "
               "null")
    assert code == 1 and message in out
    with pytest.raises(DataError) as raised:  # what a run meets, at once
        build_datasets(check_params("sop-openset")[0], tmp_path)
    assert str(raised.value) == message
    code, out = run_command(["sop-openset", str(tmp_path), "--set", "dataset_params.num_validation_folds=2", *batch],
                            capsys)
    assert code == 0, out


def test_too_few_classes_for_the_folds(tmp_path):
    make_sop(tmp_path, train_classes=3)
    result = check_dataset("sop-openset", tmp_path, overrides=SMALL_BATCH)
    assert any("the train split has 3 classes, too few for validation_fold 0 of num_validation_folds 4" in p
               for p in result["problems"])
    assert "valid" not in result["splits"] and result["splits"]["train"]["classes"] == 3


def test_broken_image_and_missing_dataset(tmp_path, capsys):
    make_sop(tmp_path, broken=True)
    code, out = run_command(["sop-openset", str(tmp_path), "--json", *sum((["--set", o] for o in SMALL_BATCH), [])],
                            capsys)
    result = json.loads(out)
    assert code == 1 and result["splits"]["infer-sop"]["images"] == 4
    assert any("cannot be decoded" in p for p in result["problems"])
    missing = check_dataset("cub200-openset", tmp_path / "nothing")
    assert not missing["ok"] and "data_prep/cub200.py" in missing["problems"][0]


def test_data_check_command_glyphs_ok(tmp_path, capsys):
    code, out = run_command(["glyphs", str(tmp_path), "--set", "dataset_params.glyphs_params.num_classes=96",
                             "--set", "dataset_params.glyphs_params.samples_per_class=4"], capsys)
    assert code == 0 and "[ok] glyphs" in out and "configs/datasets/glyphs.yaml" in out, out
    assert "valid: images 48, classes 12" in out


def test_image_cache_serves_resized_pixels(tmp_path):
    make_sop(tmp_path)
    params = DatasetParams(name="sop-openset", image_cache=True, add_verification_testsets=False)
    params.transform_params.image_size = 8
    collection = build_datasets(params, tmp_path)
    image = collection.train.image(1)
    assert image.shape == (8, 8, 3) and abs(int(image.mean()) - 2) <= 3
    assert len(list((tmp_path / ".image-cache").glob("*.npy"))) == 2
    again = build_datasets(params, tmp_path)
    assert np.array_equal(again.tests["infer-sop"].image(0), collection.tests["infer-sop"].image(0))
    assert again.train.source == f"dataset 'sop-openset' at {tmp_path}"


def test_check_writes_no_image_cache(tmp_path):
    make_sop(tmp_path)
    result = check_dataset("sop-openset", tmp_path, overrides=[*SMALL_BATCH, "dataset_params.image_cache=true"])
    assert result["ok"] and not (tmp_path / ".image-cache").exists()
