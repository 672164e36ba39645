"""`check_dataset`, the `data check` command and the decoded-image cache."""

import argparse
import json

import numpy as np
from PIL import Image

from pml_core.commands import data as data_command
from pml_core.config import DatasetParams, GlyphsParams
from pml_core.data import build_datasets
from pml_core.data.check import check_dataset


def parse(argv):
    parser = argparse.ArgumentParser()
    data_command.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def make_sop(root, broken=False):
    header = "image_id class_id super_class_id path\n"
    (root / "Ebay_train.txt").write_text(header + "1 1 1 a/1.jpg\n2 2 1 a/2.jpg\n")
    (root / "Ebay_test.txt").write_text(header + "3 3 1 a/3.jpg\n4 4 1 a/4.jpg\n")
    (root / "a").mkdir()
    for i in range(1, 5):
        Image.fromarray(np.full((20, 30, 3), 40 * i, np.uint8)).save(root / "a" / f"{i}.jpg")
    if broken:
        (root / "a" / "4.jpg").write_bytes(b"oops")


def test_check_reports_counts_and_problems(tmp_path):
    make_sop(tmp_path)
    result = check_dataset("sop-openset", tmp_path)
    assert result["splits"]["train"] == {"images": 2, "classes": 2, "kind": "classification"}
    assert not result["ok"] and any("official count is 59551" in p for p in result["problems"])
    missing = check_dataset("cub200-openset", tmp_path / "nothing")
    assert not missing["ok"] and "data_prep/cub200.py" in missing["problems"][0]


def test_data_check_command_json(tmp_path, capsys):
    make_sop(tmp_path, broken=True)
    args = parse(["data", "check", "sop-openset", str(tmp_path), "--json"])
    assert args.func(args) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["splits"]["infer-sop"]["images"] == 2
    assert any("4.jpg cannot be decoded" in p for p in result["problems"])


def test_data_check_command_glyphs_ok(tmp_path, capsys, monkeypatch):
    import pml_core.data.check as check

    original = check.DatasetParams
    monkeypatch.setattr(check, "DatasetParams", lambda **kw: original(
        glyphs_params=GlyphsParams(num_classes=8, samples_per_class=2), **kw))
    args = parse(["data", "check", "glyphs", str(tmp_path)])
    assert args.func(args) == 0
    assert "[ok] glyphs" in capsys.readouterr().out


def test_image_cache_serves_resized_pixels(tmp_path):
    make_sop(tmp_path)
    params = DatasetParams(name="sop-openset", image_cache=True, add_verification_testsets=False)
    params.transform_params.image_size = 8
    collection = build_datasets(params, tmp_path)
    image = collection.train.image(1)
    assert image.shape == (8, 8, 3) and abs(int(image.mean()) - 80) <= 3
    assert len(list((tmp_path / ".image-cache").glob("*.npy"))) == 2
    again = build_datasets(params, tmp_path)
    assert np.array_equal(again.tests["infer-sop"].image(0), collection.tests["infer-sop"].image(0))
