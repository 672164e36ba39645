"""The report's run selection: curves and the embedding view use the runs of the tables (best k seeds)."""

from __future__ import annotations

import json

from pml_core.report import paper


def _run(root, method, seed, score, valid_mapr, filtered=0.5):
    run = root / "smoke" / "glyphs" / f"{method}-128" / f"seed-{seed}"
    run.mkdir(parents=True)
    metrics = {"infer-glyphs": {"mapr": 0.3, "filter-out/0.000/mapr": filtered, "filter-out/0.500/mapr": filtered},
               "valid": {"mapr": valid_mapr}, "selection": {"score": score, "minimize": False}}
    (run / "metrics.json").write_text(json.dumps(metrics))


SLICE = {"datasets": ["glyphs"], "methods": ["pfe-arcface", "dul-reg-arcface"], "dims": [128], "seeds": [0, 1, 2],
         "best_k": 2}


def test_curves_use_the_best_k_seeds_of_the_tables(tmp_path):
    for seed, score in enumerate([0.2, 0.1, 0.3]):  # seed 1 has the worst selection score
        _run(tmp_path, "pfe-arcface", seed, score, 0.2, filtered=0.1 * seed)
    runs = paper.best_runs(tmp_path, "smoke", SLICE)
    assert list(runs.run) == ["glyphs/pfe-arcface-128/seed-0", "glyphs/pfe-arcface-128/seed-2"]  # store order
    frame = paper.filter_out_frame(tmp_path, "smoke", SLICE, ["pfe-arcface"])
    assert set(frame.seed) == {0, 2} and set(frame.fraction) == {0.0, 0.5}
    summary = paper.summary(tmp_path, "smoke", SLICE)
    assert (summary.n == 2).all()


def test_embedding_run_is_the_best_by_validation_mapr(tmp_path):
    _run(tmp_path, "pfe-arcface", 0, 0.9, 0.30)
    _run(tmp_path, "pfe-arcface", 1, 0.8, 0.45)
    _run(tmp_path, "dul-reg-arcface", 0, 0.5, 0.40)
    _run(tmp_path, "dul-reg-arcface", 1, 0.1, 0.99)  # not among the best k = 1 seeds: never shown
    choice = paper.embedding_run(tmp_path, "smoke", {**SLICE, "best_k": 1}, SLICE["methods"])
    assert (choice["method"], choice["seed"], choice["valid_mapr"]) == ("dul-reg-arcface", 0, 0.40)
    assert choice["path"] == tmp_path / "smoke" / "glyphs" / "dul-reg-arcface-128" / "seed-0"
    assert paper.embedding_run(tmp_path, "smoke", SLICE, ["hib"]) is None
