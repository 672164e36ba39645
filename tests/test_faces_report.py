"""Faces: the face table from a run store (stand-in labelling in tiny/smoke, bins + IJB columns in paper)."""

from __future__ import annotations

import json

from pml_core.report import faces


def _run(root, profile, dataset, method, dim, seed, metrics, ijb=None):
    run = root / profile / dataset / f"{method}-{dim}" / f"seed-{seed}"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({**metrics, "selection": {"score": 1.0, "minimize": 1.0}}))
    if ijb is not None:
        (run / faces.IJB_FILE).write_text(json.dumps(ijb))


def test_stand_in_table_is_labelled(tmp_path):
    pairs = {"accuracy_10fold": 0.8, "max_accuracy": 0.85, "tpr@0.001": 0.1, "confidence_auroc": 0.6}
    _run(tmp_path, "tiny", "glyphs", "pfe-arcface", 8, 0, {"infer-glyphs-pairs": pairs})
    slice_ = faces.face_slice("tiny")
    assert faces.is_stand_in(slice_)
    table, paths = faces.face_table(tmp_path, "tiny", slice_, tmp_path / "out")
    assert table.values["mean"].loc[("pfe-arcface", 8), ("glyphs-pairs", "accuracy_10fold")] == 0.8
    assert "STAND-IN" in (tmp_path / "out" / "table_face_verification.tex").read_text()


def test_paper_table_has_bins_and_ijb(tmp_path):
    bins = {f"infer-{name}": {"accuracy_10fold": 0.99, "max_accuracy": 0.995, "tpr@0.001": 0.9, "tpr@0.0001": 0.8}
            for name in ("lfw", "cfp_fp")}
    _run(tmp_path, "paper", "faces-ms1mv2", "arcface", 512, 0, bins, ijb={"ijbb": {"tar@far=1e-4": 0.94}})
    slice_ = faces.face_slice("paper", bins=["lfw", "cfp_fp"], methods=["arcface"])
    assert not faces.is_stand_in(slice_)
    table, _ = faces.face_table(tmp_path, "paper", slice_, tmp_path / "out")
    means = table.values["mean"].loc[("arcface", 512)]
    assert means[("lfw", "accuracy_10fold")] == 0.99 and means[("ijbb", "tar@far=1e-4")] == 0.94
    assert list(dict.fromkeys(d for d, _ in table.columns)) == ["lfw", "cfp_fp", "ijbb"]
    assert "STAND-IN" not in (tmp_path / "out" / "table_face_verification.md").read_text()


def test_empty_store_writes_nothing(tmp_path):
    table, paths = faces.face_table(tmp_path, "tiny", faces.face_slice("tiny"), tmp_path / "out")
    assert table.empty and paths == []
