"""Your own images (`imagefolder`): layouts, every empty class folder named at once, too few classes, the shipped
configs/datasets/imagefolder.yaml checked and refused the same way by `data check` and by a run."""

import numpy as np
import pytest
from PIL import Image

from pml_core.config import DatasetParams
from pml_core.data import build_datasets
from pml_core.data.check import check_dataset
from pml_core.errors import DataError


def save(path, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((12, 16, 3), value, np.uint8)).save(path)


def make_folder(root, classes, per_class=3, prefix=""):
    for label, name in enumerate(classes):
        for i in range(per_class):
            save(root / prefix / name / f"{i}.png", 10 * label + i)


def build(root):
    return build_datasets(DatasetParams(name="imagefolder", add_verification_testsets=False), root)


def test_open_set_halves_and_hidden_entries_skipped(tmp_path):
    make_folder(tmp_path, "abcdef")
    (tmp_path / ".image-cache").mkdir()  # the kit's own cache, JupyterLab's checkpoints: not classes
    (tmp_path / ".ipynb_checkpoints").mkdir()
    save(tmp_path / "a" / ".hidden.png")
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    collection = build(tmp_path)
    train, test = collection.train, collection.tests["infer-imagefolder"]
    assert train.class_names == ["a", "b", "c"] and test.class_names == ["d", "e", "f"]
    assert len(train) == 9 and train.num_classes == 3 and test.num_classes == 3
    assert np.asarray(test.image(0))[0, 0, 0] == 30  # d/0.png


def test_every_empty_class_folder_named_at_once(tmp_path):
    make_folder(tmp_path, "abcdefghij")
    for name in ("c", "h"):
        for file in (tmp_path / name).iterdir():
            file.unlink()
    (tmp_path / "h" / "deeper").mkdir()
    save(tmp_path / "h" / "deeper" / "x.png")
    (tmp_path / "c" / "readme.txt").write_text("x")
    message = (f"{tmp_path}: 2 class folder(s) hold no image: c/ (1 non-image file(s)); h/ (1 sub-folder(s)). Put the "
               "images directly in each class folder")
    with pytest.raises(DataError, match="2 class folder") as raised:
        build(tmp_path)
    assert message in str(raised.value) and "shifts the open-set split" in str(raised.value)
    result = check_dataset("imagefolder", tmp_path)
    assert not result["ok"] and message in result["problems"][0]


def test_too_few_classes_and_half_layouts(tmp_path):
    make_folder(tmp_path / "three", "abc")
    with pytest.raises(DataError, match=r"3 class folder\(s\), an open-set split \(two classes train, two test\) "
                                         r"needs at least 4"):
        build(tmp_path / "three")
    save(tmp_path / "loose" / "x.png")
    with pytest.raises(DataError, match=r"no class folders under .*loose \(1 images lie directly in it\)"):
        build(tmp_path / "loose")
    make_folder(tmp_path / "half", "ab", prefix="train")
    with pytest.raises(DataError, match=r"has train/ but no test/ or val/ beside it"):
        build(tmp_path / "half")
    with pytest.raises(DataError, match="does not exist"):
        build(tmp_path / "nowhere")


def test_closed_set_folders(tmp_path):
    make_folder(tmp_path, "abc", prefix="train")
    make_folder(tmp_path, "bc", prefix="val")
    collection = build(tmp_path)
    test = collection.tests["infer-imagefolder"]
    assert not collection.train.openset and collection.train.num_classes == 3
    assert sorted(set(test.labels.tolist())) == [1, 2]  # labels of the train classes b, c
    make_folder(tmp_path, "z", prefix="val")
    with pytest.raises(DataError, match=r"val: class folder\(s\) z have no counterpart in the train folder"):
        build(tmp_path)


def test_shipped_config_checks_like_a_run(tmp_path):
    make_folder(tmp_path, "abcdefghij", per_class=8)
    result = check_dataset("imagefolder", tmp_path)  # base.yaml + configs/datasets/imagefolder.yaml
    assert result["ok"], result["problems"]
    assert result["configs"][-1].endswith("configs/datasets/imagefolder.yaml")
    assert result["splits"]["train"] == {"images": 40, "classes": 5, "kind": "classification"}
    assert result["validation"] is None and result["batch"]["batches_per_epoch"] == 40 * 4 // 32
    tiny = tmp_path / "tiny"
    make_folder(tiny, "abcd", per_class=1)  # 2 train images x train_repeat 4 < batch 32
    result = check_dataset("imagefolder", tiny)
    assert not result["ok"]
    assert any("the train split has 2 images (x train_repeat 4), fewer than dataset_params.batch_size 32" in p
               for p in result["problems"])
