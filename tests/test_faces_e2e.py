"""Faces end to end: a fake RecordIO face set and bins, ArcFace then PFE trained on it (tiny face config:
small_cnn, 32 px, a few steps), evaluated on the bins with flip fusion; then IJB-style template
verification of the PFE checkpoint through the `ijb` command."""

from __future__ import annotations

import contextlib
import io
import json
import pickle

import numpy as np
import pytest
from PIL import Image

from pml_core.config import compose, parse_config
from pml_core.data.formats.recordio import pack_header, write_indexed_recordio

from conftest import ROOT

IDS, PER_ID, SIZE = 12, 6, 32
SHIPPED_BINS = ("lfw", "cfp_fp", "agedb_30")  # what InsightFace's faces_webface_112x112 holds


def _face(identity: int, rng) -> bytes:
    """A class-structured 'face': a fixed per-identity colour pattern plus noise, PNG-encoded."""
    pattern = np.random.default_rng(1000 + identity).integers(0, 256, (4, 4, 3))
    image = np.kron(pattern, np.ones((SIZE // 4, SIZE // 4, 1))) + rng.normal(0, 20, (SIZE, SIZE, 3))
    buffer = io.BytesIO()
    Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def make_face_root(root):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(IDS), PER_ID)
    records = [(0, pack_header([len(labels) + 1.0, len(labels) + 1.0], b""))]
    records += [(i + 1, pack_header(float(label), _face(label, rng))) for i, label in enumerate(labels)]
    write_indexed_recordio(root / "train.rec", root / "train.idx", records)
    (root / "property").write_text(f"{IDS},{SIZE},{SIZE}\n")
    images, same = [], []
    for block in range(10):  # each block: one genuine pair, one impostor pair (the bins' layout)
        a, b = block % IDS, (block + 5) % IDS
        images += [_face(a, rng), _face(a, rng), _face(a, rng), _face(b, rng)]
        same += [True, False]
    for name in SHIPPED_BINS:
        with open(root / f"{name}.bin", "wb") as handle:
            pickle.dump((images, same), handle, protocol=2)
    return root


def face_config(method: str):
    tiny = {"device": "cpu", "seed": 0, "num_evaluation_seeds": 1,
            "dataset_params": {"num_workers": 0, "batch_size": 24, "transform_params": {"image_size": SIZE}},
            "model_params": {"distribution_params": {"dim": 16},
                             "embedder_params": {"model_type": "small_cnn", "disable_head": False,
                                                 "head_batchnorm": True}},
            "trainer_params": {"num_epochs": 1, "max_steps_per_epoch": 3, "optimizer_params": {"lr": 0.05}}}
    raw = compose([ROOT / "configs/base.yaml", ROOT / "configs/datasets/faces-casia.yaml",
                   ROOT / f"configs/methods/{method}.yaml", tiny])
    margins = {"scale": 16.0, "margin": 0.2}
    for stage in raw.get("stages") or []:
        stage.setdefault("model_params", {}).setdefault("distribution_params", {})["dim"] = 16
    first = (raw.get("stages") or [raw])[0]["model_params"]
    first["classifier_params"] = {**first.get("classifier_params", {}), **margins}
    return parse_config(raw)


@pytest.fixture(scope="module")
def face_root(tmp_path_factory):
    return make_face_root(tmp_path_factory.mktemp("faces"))


def test_fake_recordio_face_set_loads(face_root):
    from pml_core.data import build_datasets

    collection = build_datasets(face_config("arcface").dataset_params, face_root)
    assert len(collection.train) == IDS * PER_ID and collection.train.num_classes == IDS
    assert set(collection.tests) == {f"infer-{name}" for name in SHIPPED_BINS}  # faces-casia.yaml's bins
    lfw = collection.tests["infer-lfw"]
    assert lfw.labels.tolist() == [1, 0] * 10 and not collection.valid


def test_arcface_then_pfe_train_and_verify_on_bins(face_root, tmp_path):
    from pml_core.cli import main
    from pml_core.experiments.run import train_run

    metrics = {}
    for method in ("arcface", "pfe-arcface"):
        metrics[method] = train_run(face_config(method), tmp_path / method, face_root, logger="none", progress=False)
    for method, result in metrics.items():
        lfw = result["infer-lfw"]
        for key in ("max_accuracy", "accuracy_10fold", "tpr@0.001", "tpr@0.0001", "eer", "auc"):
            assert np.isfinite(lfw[key]), (method, key)
        assert lfw["accuracy_10fold"] >= 0.5
    assert "confidence_auroc" in metrics["pfe-arcface"]["infer-lfw"]
    assert "confidence_auroc" not in metrics["arcface"]["infer-lfw"]

    # IJB-style template verification of the PFE checkpoint on faces of the same identities
    ijb = tmp_path / "IJBB"
    (ijb / "meta").mkdir(parents=True)
    (ijb / "loose_crop").mkdir()
    rng, rows = np.random.default_rng(1), []
    for i in range(16):  # 8 templates of 2 images (media 2i, 2i+1), identities 0..3 twice
        (ijb / "loose_crop" / f"{i}.png").write_bytes(_face((i // 2) % 4, rng))
        rows.append(f"{i}.png {i // 2} {i}")
    (ijb / "meta" / "ijbb_face_tid_mid.txt").write_text("\n".join(rows) + "\n")
    pairs = [(t, t + 4, 1) for t in range(4)] + [(t, (t + 1) % 4 + 4, 0) for t in range(4)]
    (ijb / "meta" / "ijbb_template_pair_label.txt").write_text("".join(f"{a} {b} {c}\n" for a, b, c in pairs))
    checkpoint = sorted((tmp_path / "pfe-arcface").rglob("*.pth"))
    assert checkpoint, "the run store holds a checkpoint"
    config = tmp_path / "pfe-arcface" / "config.yaml"  # the fully resolved config of the run
    for extra in (["--aggregation", "pfe", "--scorer", "mls"], []):
        out = tmp_path / "ijb.json"
        with open(out, "w") as handle, contextlib.redirect_stdout(handle):
            assert main(["ijb", "--config", str(config), "--checkpoint", str(checkpoint[-1]), str(tmp_path),
                         "--set", "ijbb", "--json", "--no-progress", *extra]) == 0
        result = json.loads(out.read_text())
        assert result["num_templates"] == 8 and result["num_pairs"] == 8
        assert 0.0 <= result["tar@far=1e-1"] <= 1.0 and "tar@far=1e-6" in result
