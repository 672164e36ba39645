"""Real dataset layouts on tiny fake copies: counts, labels, splits, bad inputs."""

import io
import os
import pickle

import numpy as np
import pytest
import scipy.io
from PIL import Image

from pml_core.config import DatasetParams
from pml_core.data import ArrayDataset, build_datasets
from pml_core.data.base import DataWarning
from pml_core.data.formats.faces import load_bin
from pml_core.data.formats.recordio import IndexedRecordIO, MAGIC, pack_header, unpack_header, write_indexed_recordio
from pml_core.data.formats.serialized import serialize_dataset
from pml_core.errors import ConfigError, DataError


def save_image(path, value=0, size=(10, 8)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path)


def jpeg_bytes(value=0):
    buffer = io.BytesIO()
    Image.fromarray(np.full((6, 6, 3), value, np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def build(name, root, **kwargs):
    return build_datasets(DatasetParams(name=name, add_verification_testsets=False, **kwargs), root)


def make_cub(root, classes=4):
    images, labels, split = [], [], []
    image_id = 0
    for cls in range(1, classes + 1):
        for part in (1, 0):
            image_id += 1
            rel = f"{cls:03d}.Bird/img_{image_id}.jpg"
            save_image(root / "images" / rel, image_id)
            images.append(f"{image_id} {rel}")
            labels.append(f"{image_id} {cls}")
            split.append(f"{image_id} {part}")
    (root / "images.txt").write_text("\n".join(images) + "\n")
    (root / "image_class_labels.txt").write_text("\n".join(labels) + "\n")
    (root / "train_test_split.txt").write_text("\n".join(split) + "\n")


def test_cub_open_set_and_folds(tmp_path):
    make_cub(tmp_path / "CUB_200_2011", classes=8)
    collection = build("cub200-openset", tmp_path)
    train, test = collection.train, collection.tests["infer-cub200"]
    assert len(train) == 8 and train.num_classes == 4 and len(test) == 8 and test.num_classes == 4
    assert list(train.labels) == [0, 1, 2, 3, 0, 1, 2, 3]  # official train part first, then test part
    image, label = test[0]
    assert image.size == (10, 8) and label == 0
    folded = build("cub200-openset", tmp_path, validation_fold=0, num_validation_folds=2)
    assert folded.train.num_classes == 2 and folded.valid["valid"].num_classes == 2
    assert folded.full_train is not None and len(folded.full_train) == 8
    with pytest.raises(DataError, match=r"the valid set has 1 class .*num_validation_folds \(now 4\)"):
        build("cub200-openset", tmp_path, validation_fold=0, num_validation_folds=4)


def test_cub_errors_name_file_and_fix(tmp_path):
    with pytest.raises(DataError, match=r"images.txt.*data_prep/cub200.py"):
        build("cub200-openset", tmp_path)
    make_cub(tmp_path)
    (tmp_path / "image_class_labels.txt").write_text("1 x\n")
    with pytest.raises(DataError, match="image_class_labels.txt, line 1"):
        build("cub200-openset", tmp_path)


def test_missing_and_corrupt_images_are_data_errors(tmp_path):
    make_cub(tmp_path)
    train = build("cub200-openset", tmp_path).train
    (tmp_path / "images" / "001.Bird/img_1.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"img_1.jpg cannot be decoded.*data_prep/cub200.py"):
        train.image(0)
    os.remove(tmp_path / "images" / "001.Bird/img_1.jpg")
    with pytest.raises(DataError, match="img_1.jpg is missing"):
        train.image(0)


def test_cars_mat_annotations(tmp_path):
    for mat_name, folder, offset in (("cars_train_annos.mat", "cars_train", 0), ("cars_test_annos_withlabels.mat", "cars_test", 10)):
        records = np.zeros((1, 4), dtype=[("fname", "O"), ("class", "O")])
        for i in range(4):
            records[0, i] = (f"{offset + i:05d}.jpg", np.array([[i + 1]], np.uint8))
            save_image(tmp_path / folder / f"{offset + i:05d}.jpg", i)
        (tmp_path / "devkit").mkdir(exist_ok=True)
        scipy.io.savemat(tmp_path / "devkit" / mat_name, {"annotations": records})
    collection = build("cars196-openset", tmp_path)
    assert len(collection.train) == 4 and collection.train.num_classes == 2
    assert collection.train.base.paths[4].endswith("cars_test/00010.jpg")
    interleaved = build("cars196-interleave-openset", tmp_path)
    assert set(interleaved.train.base.labels[interleaved.train.indices]) == {0, 2}


def test_sop(tmp_path):
    header = "image_id class_id super_class_id path\n"
    (tmp_path / "Ebay_train.txt").write_text(header + "1 1 1 bike_final/a.JPG\n2 1 1 bike_final/b.JPG\n3 2 1 bike_final/c.JPG\n")
    (tmp_path / "Ebay_test.txt").write_text(header + "4 3 2 chair_final/d.JPG\n5 4 2 chair_final/e.JPG\n")
    collection = build("sop-openset", tmp_path)
    assert list(collection.train.labels) == [0, 0, 1] and list(collection.tests["infer-sop"].labels) == [0, 1]
    (tmp_path / "Ebay_test.txt").write_text("wrong header\n")
    with pytest.raises(DataError, match="Ebay_test.txt, line 1"):
        build("sop-openset", tmp_path)


def test_inshop_protocols(tmp_path):
    rows = [("img/a1.jpg", "id_02", "train"), ("img/a2.jpg", "id_01", "train"), ("img/b1.jpg", "id_05", "query"),
            ("img/b2.jpg", "id_05", "gallery"), ("img/c1.jpg", "id_03", "gallery"), ("img/c2.jpg", "id_03", "query")]
    text = f"{len(rows)}\nimage_name item_id evaluation_status\n" + "".join(f"{a}   {b}   {c}\n" for a, b, c in rows)
    (tmp_path / "list_eval_partition.txt").write_text(text)
    collection = build("inshop-openset", tmp_path)
    test = collection.tests["infer-inshop"]
    assert list(collection.train.labels) == [1, 0]
    assert list(test.labels) == [1, 1, 0, 0]
    assert list(test.query_mask) == [True, False, False, True] and list(test.gallery_mask) == [False, True, True, False]
    pooled = build("inshop-openset", tmp_path, inshop_protocol="pooled").tests["infer-inshop"]
    assert getattr(pooled, "query_mask", None) is None


def test_lfw_train_people_and_pairs(tmp_path):
    for name, count in (("Al_A", 2), ("Bo_B", 1), ("Cy_C", 3), ("Di_D", 1)):
        for i in range(1, count + 1):
            save_image(tmp_path / "lfw-deepfunneled" / name / f"{name}_{i:04d}.jpg", i)
    (tmp_path / "peopleDevTrain.txt").write_text("2\nBo_B 1\nAl_A 2\n")
    (tmp_path / "peopleDevTest.txt").write_text("2\nCy_C 3\nDi_D 1\n")
    (tmp_path / "pairsDevTest.txt").write_text("1\nCy_C 1 3\nCy_C 2 Di_D 1\n")
    collection = build_datasets(DatasetParams(name="lfw-openset"), tmp_path)
    assert list(collection.train.labels) == [0, 0, 1]  # Al_A (2 images) then Bo_B
    pairs = collection.tests["infer-lfw"]
    assert list(collection.tests) == ["infer-lfw"] and not pairs.classification
    assert list(pairs.labels) == [1, 0]
    (first, second), label = pairs[0]
    assert label == 1 and np.asarray(first)[0, 0, 0] == 1 and np.asarray(second)[0, 0, 0] == 3
    joined = build("lfw-joined-openset", tmp_path, validation_fold=0)  # evaluation only: nothing to fold
    assert len(joined.train) == 0 and joined.tests["infer-lfw"].num_classes == 4 and joined.valid == {}


def test_recordio_round_trip_with_magic_inside_payload(tmp_path):
    tricky = b"abcd" + MAGIC.to_bytes(4, "little") + b"xyz" + MAGIC.to_bytes(4, "little") * 2 + b"end!!"
    payloads = {0: b"", 1: b"hello", 2: tricky, 7: bytes(range(256)) * 3}
    write_indexed_recordio(tmp_path / "a.rec", tmp_path / "a.idx", payloads.items())
    reader = IndexedRecordIO(tmp_path / "a.rec")
    assert reader.keys == [0, 1, 2, 7]
    assert all(reader.read(key) == value for key, value in payloads.items())
    label, body = unpack_header(pack_header([3.0, 5.0], b"img"))
    assert list(label) == [3.0, 5.0] and body == b"img"
    assert unpack_header(pack_header(4, b"x")) == (4.0, b"x")
    (tmp_path / "a.rec").write_bytes(b"\0" * (tmp_path / "a.rec").stat().st_size)
    with pytest.raises(DataError, match="magic"):
        IndexedRecordIO(tmp_path / "a.rec").read(1)


def make_faces(root, bins=("lfw", "cfp_fp", "cfp_ff", "calfw", "cplfw", "agedb_30"), images=4):
    """An InsightFace folder: ``images`` records of two identities (first half 0, second half 1) + ``bins``."""
    labels = [2 * i // images for i in range(images)]
    records = [(0, pack_header([images + 1.0, images + 1.0], b""))]
    records += [(i, pack_header(float(label), jpeg_bytes(10 * i % 256))) for i, label in enumerate(labels, 1)]
    write_indexed_recordio(root / "train.rec", root / "train.idx", records)
    (root / "property").write_text("2,112,112\n")
    for name in bins:
        with open(root / f"{name}.bin", "wb") as handle:
            pickle.dump(([jpeg_bytes(0), jpeg_bytes(50), np.frombuffer(jpeg_bytes(90), np.uint8), jpeg_bytes(200)],
                         [True, False]), handle, protocol=2)


def test_insightface_recordio_and_bins(tmp_path):
    make_faces(tmp_path)
    collection = build_datasets(DatasetParams(name="casia-openset"), tmp_path)
    train = collection.train
    assert len(train) == 4 and list(train.labels) == [0, 0, 1, 1] and train.image(2).size == (6, 6)
    assert list(collection.tests) == ["infer-lfw", "infer-cfp_fp", "infer-cfp_ff", "infer-calfw", "infer-cplfw",
                                      "infer-agedb_30"]
    lfw = collection.tests["infer-lfw"]
    assert list(lfw.labels) == [1, 0]
    (first, second), label = lfw[1]
    assert np.asarray(first).mean() == pytest.approx(90, abs=3)
    with pytest.warns(DataWarning, match=r"no vgg2_fp.bin; testing on lfw, cfp_fp, cfp_ff, calfw, cplfw, agedb_30"):
        ms1m = build_datasets(DatasetParams(name="ms1mv2-openset"), tmp_path)
    assert "infer-vgg2_fp" not in ms1m.tests and len(ms1m.tests) == 6


class Exploit:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_malicious_bin_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    with open(tmp_path / "evil.bin", "wb") as handle:
        pickle.dump(([Exploit(marker)], [True]), handle)
    with pytest.raises(DataError, match=r"refers to (posix|os)\.system"):
        load_bin(tmp_path / "evil.bin")
    assert not marker.exists()
    (tmp_path / "junk.bin").write_bytes(b"\x80\x04junk")
    with pytest.raises(DataError, match="cannot be read"):
        load_bin(tmp_path / "junk.bin")


def test_serialized_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(6, 8, 8, 3), dtype=np.uint8)
    serialize_dataset(ArrayDataset(images, [0, 0, 1, 1, 2, 2]), tmp_path, "train")
    serialize_dataset(ArrayDataset(images[:4], [0, 1, 0, 1]), tmp_path, "cub200")
    collection = build("serialized-openset", tmp_path)
    assert list(collection.train.labels) == [0, 0, 1, 1, 2, 2] and list(collection.tests) == ["infer-cub200"]
    assert collection.train.image(0).size == (8, 8)
    os.remove(tmp_path / "cub200.labels")
    with pytest.raises(DataError, match="cub200.labels is missing"):
        build("serialized-openset", tmp_path)


def test_imagefolder_open_and_closed(tmp_path):
    for cls in ("a", "b", "c", "d"):
        save_image(tmp_path / "open" / cls / "1.png")
        save_image(tmp_path / "closed" / "train" / cls / "1.png")
        save_image(tmp_path / "closed" / "test" / cls / "2.png")
    open_set = build("imagefolder", tmp_path / "open")
    assert open_set.train.num_classes == 2 and open_set.tests["infer-imagefolder"].num_classes == 2
    closed = build("imagefolder", tmp_path / "closed")
    assert not closed.train.openset and closed.tests["infer-imagefolder"].num_classes == 4


def test_torchvision_sets_never_download(tmp_path):
    with pytest.raises(DataError, match="nothing is downloaded"):
        build("mnist", tmp_path)


def make_cars_single_file(root, classes=4, images_dir=True):
    """The single-file Cars form: car_ims/NNNNNN.jpg + cars_annos.mat (annotations: relative_im_path, bbox_x1..y2,
    class, test; class_names). One train and one test image per class, test rows first in the file."""
    fields = [("relative_im_path", "O"), ("bbox_x1", "O"), ("bbox_y1", "O"), ("bbox_x2", "O"), ("bbox_y2", "O"),
              ("class", "O"), ("test", "O")]
    rows = [(cls, test) for test in (1, 0) for cls in range(1, classes + 1)]
    records = np.zeros((1, len(rows)), dtype=fields)
    for i, (cls, test) in enumerate(rows):
        name = f"car_ims/{i + 1:06d}.jpg"
        records[0, i] = (name, np.array([[1]], np.uint8), np.array([[2]], np.uint8), np.array([[9]], np.uint8),
                         np.array([[7]], np.uint8), np.array([[cls]], np.uint8), np.array([[test]], np.uint8))
        if images_dir:
            save_image(root / name, (10 * cls + test) % 256)
    class_names = np.array([[f"Make Model {cls}" for cls in range(1, classes + 1)]], dtype=object)
    root.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(root / "cars_annos.mat", {"annotations": records, "class_names": class_names})


def test_cars_single_file_form(tmp_path):
    make_cars_single_file(tmp_path / "cars196")
    collection = build("cars196-openset", tmp_path)
    train, test = collection.train, collection.tests["infer-cars196"]
    assert len(train) == 4 and train.num_classes == 2 and len(test) == 4 and test.num_classes == 2
    # official train part (test == 0) first, then the test part; classes 1-2 train, 3-4 test
    assert [p[-10:] for p in np.asarray(train.base.paths)[train.indices]] == ["000005.jpg", "000006.jpg",
                                                                               "000001.jpg", "000002.jpg"]
    assert list(train.labels) == [0, 1, 0, 1]
    assert np.asarray(test.image(0))[0, 0, 0] == 30  # class 3, train part
    interleaved = build("cars196-interleave-openset", tmp_path)
    assert set(interleaved.train.base.labels[interleaved.train.indices]) == {0, 2}


def test_cars_errors_name_the_form(tmp_path):
    with pytest.raises(DataError, match=r"neither devkit/cars_train_annos.mat nor cars_annos.mat.*data_prep/cars196"):
        build("cars196-openset", tmp_path)
    make_cars_single_file(tmp_path, classes=4)
    records = scipy.io.loadmat(tmp_path / "cars_annos.mat")["annotations"]
    records = records[:, :6]  # the whole test part, but only classes 1-2 of the train part
    scipy.io.savemat(tmp_path / "cars_annos.mat", {"annotations": records})
    with pytest.raises(DataError, match=r"classes must be 1..4 in both the train and the test part"):
        build("cars196-openset", tmp_path)
    scipy.io.savemat(tmp_path / "cars_annos.mat", {"annotations": np.zeros((1, 2), dtype=[("fname", "O")])})
    with pytest.raises(DataError, match=r"annotations.relative_im_path / annotations.class / annotations.test"):
        build("cars196-openset", tmp_path)


def make_inshop_release(root, layout="Eval", train_items=2, images=True):
    """In-shop as the extracted release: img/ (or Img/img/) + Eval/list_eval_partition.txt."""
    rows = []
    for item in range(train_items):
        rows += [(f"img/MEN/Tees/id_{item:08d}/0{k}_1_front.jpg", f"id_{item:08d}", "train") for k in (1, 2)]
    for item in range(train_items, train_items + 2):
        rows += [(f"img/MEN/Tees/id_{item:08d}/01_1_front.jpg", f"id_{item:08d}", "query"),
                 (f"img/MEN/Tees/id_{item:08d}/02_1_front.jpg", f"id_{item:08d}", "gallery")]
    text = f"{len(rows)}\nimage_name item_id evaluation_status\n" + "".join(f"{a}  {b}  {c}\n" for a, b, c in rows)
    partition = root / ("Eval" if layout in ("Eval", "Img") else "") / "list_eval_partition.txt"
    partition.parent.mkdir(parents=True, exist_ok=True)
    partition.write_text(text)
    base = root / "Img" if layout == "Img" else root
    if images:
        for index, (path, _, _) in enumerate(rows):
            save_image(base / path, index)


@pytest.mark.parametrize("layout", ["Eval", "Img", "flat"])
def test_inshop_extracted_release(tmp_path, layout):
    make_inshop_release(tmp_path / "inshop", layout)
    collection = build("inshop-openset", tmp_path)
    train, test = collection.train, collection.tests["infer-inshop"]
    assert len(train) == 4 and train.num_classes == 2 and list(test.query_mask) == [True, False, True, False]
    assert np.asarray(test.image(1))[0, 0, 0] == 5  # decoded from where the release keeps it


def test_inshop_missing_partition_lists_the_places(tmp_path):
    with pytest.raises(DataError, match=r"list_eval_partition.txt not found \(looked for .*Eval/list_eval_partition"):
        build("inshop-openset", tmp_path)


def test_casia_as_insightface_ships_it(tmp_path):
    make_faces(tmp_path / "faces_webface_112x112", bins=("lfw", "cfp_fp", "agedb_30"))
    with pytest.warns(DataWarning) as caught:
        collection = build_datasets(DatasetParams(name="casia-openset"), tmp_path)
    messages = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert len(messages) == 1 and "no cfp_ff.bin, calfw.bin, cplfw.bin; testing on lfw, cfp_fp, agedb_30" in messages[0]
    assert list(collection.tests) == ["infer-lfw", "infer-cfp_fp", "infer-agedb_30"]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the bins named: no warning
        named = build_datasets(DatasetParams(name="casia-openset", verification_bins=["agedb_30", "lfw"]), tmp_path)
    assert list(named.tests) == ["infer-agedb_30", "infer-lfw"]


def test_asking_for_absent_bins_names_them_all_and_the_folder(tmp_path):
    make_faces(tmp_path, bins=("lfw",))
    params = DatasetParams(name="casia-openset", verification_bins=["lfw", "calfw", "cplfw"])
    with pytest.raises(DataError) as raised:
        build_datasets(params, tmp_path)
    assert str(raised.value).startswith(f"dataset_params.verification_bins asks for calfw, cplfw, but {tmp_path} has "
                                        "no calfw.bin, cplfw.bin (bins there: lfw)")
    for name in ("lfw",):
        (tmp_path / f"{name}.bin").unlink()
    with pytest.raises(DataError, match=r"holds no verification bin \(looked for lfw.bin, cfp_fp.bin"):
        build_datasets(DatasetParams(name="casia-openset"), tmp_path)
    with pytest.raises(ConfigError, match="verification_bins applies to the face sets"):
        build_datasets(DatasetParams(name="cub200-openset", verification_bins=["lfw"]), tmp_path)
