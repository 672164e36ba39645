"""Faces: template fusion against its closed form, TAR@FAR on a constructed case, the 10-fold protocol by
hand, IJB meta files (reading, alignment), flip fusion."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from pml_core.distributions import create_distribution
from pml_core.errors import ConfigError, DataError
from pml_core.evaluate_ijb import fuse_views, template_metrics
from pml_core.metrics.templates import fuse_templates, mean_templates, tar_at_far
from pml_core.metrics.verification import kfold_accuracy, roc_curve


def test_gaussian_fusion_is_precision_weighted_mean_and_harmonic_variance():
    gauss = create_distribution("gmm", {"dim": 3, "covariance": "diagonal"})
    mu = torch.tensor([[1.0, 0.0, 2.0], [3.0, 4.0, -2.0], [0.5, 0.5, 0.5]], dtype=torch.float64)
    var = torch.tensor([[1.0, 2.0, 4.0], [3.0, 2.0, 1.0], [0.5, 1.0, 1.0]], dtype=torch.float64)
    params = gauss.join(mu, var.log())
    ids, fused = fuse_templates(gauss, params, torch.tensor([7, 7, 9]))
    assert ids.tolist() == [7, 9]
    split = gauss.split(fused)
    expected_mean = (mu[0] / var[0] + mu[1] / var[1]) / (1 / var[0] + 1 / var[1])
    expected_var = 1 / (1 / var[0] + 1 / var[1])
    assert torch.allclose(split.mean[0], expected_mean, atol=1e-6)
    assert torch.allclose(split.log_variance[0].exp(), expected_var, rtol=1e-5)
    assert torch.allclose(split.mean[1], mu[2], atol=1e-6)  # a single image is its own template
    # the iterated pdf_product of the distribution gives the same density
    pairwise = gauss.pdf_product(params[0], params[1])
    assert torch.allclose(gauss.split(pairwise).mean, split.mean[0], atol=1e-6)


def test_vmf_fusion_is_kappa_weighted_direction_sum():
    vmf = create_distribution("vmf", {"dim": 2})
    mu = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    kappa = torch.tensor([3.0, 4.0], dtype=torch.float64)
    _, fused = fuse_templates(vmf, vmf.join(mu, kappa.log()), torch.tensor([0, 0]))
    split = vmf.split(fused)
    assert torch.allclose(split.mean[0], torch.tensor([0.6, 0.8], dtype=torch.float64), atol=1e-6)
    assert float(split.log_kappa[0].exp()) == pytest.approx(5.0, rel=1e-5)


def test_fixed_variance_cannot_fuse():
    gauss = create_distribution("gmm", {"dim": 2, "covariance": 1.0})
    with pytest.raises(ConfigError, match="learned variance"):
        fuse_templates(gauss, torch.randn(3, 2), torch.tensor([0, 0, 1]))


def test_mean_templates_balance_media():
    # template 1: three frames of one video along x, one photo along y -> media mean (x + y) / |x + y|
    features = torch.tensor([[2.0, 0.0], [1.0, 0.0], [5.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
    ids, vectors = mean_templates(features, torch.tensor([1, 1, 1, 1, 2]), torch.tensor([10, 10, 10, 11, 10]))
    assert ids.tolist() == [1, 2]
    s = 2 ** -0.5
    assert torch.allclose(vectors, torch.tensor([[s, s], [s, s]]), atol=1e-6)
    _, plain = mean_templates(features, torch.tensor([1, 1, 1, 1, 2]))
    assert plain[0, 0] > 0.9  # without media every frame counts


def test_tar_at_far_uses_largest_far_not_above_target():
    # 10 impostors with scores 0.0 .. 0.9, 4 genuine pairs
    scores = np.r_[np.arange(10) / 10, [0.95, 0.85, 0.55, 0.05]]
    labels = np.r_[np.zeros(10), np.ones(4)]
    out = tar_at_far(scores, labels, fars=(0.1, 0.15, 0.45, 1e-3))
    # FAR 0.1: threshold above 0.8 admits impostor 0.9 only -> genuine 0.95, 0.85 -> TAR 0.5
    assert out["tar@far=1e-1"] == pytest.approx(0.5) and out["far-used@far=1e-1"] == pytest.approx(0.1)
    # FAR 0.15 is not reached by a closer point above it: still 0.1 (a "closest" rule would pick 0.2)
    assert out["tar@far=1.5e-1"] == pytest.approx(0.5)
    # FAR 0.45: impostors 0.9 .. 0.6 pass (0.4), and genuine 0.95, 0.85, 0.55 -> TAR 0.75
    assert out["tar@far=4.5e-1"] == pytest.approx(0.75) and out["far-used@far=4.5e-1"] == pytest.approx(0.4)
    assert out["tar@far=1e-3"] == pytest.approx(0.25)  # no false accept allowed: only 0.95 passes
    with pytest.raises(DataError, match="genuine and impostor"):
        tar_at_far([0.1, 0.2], [1, 1])


def test_ten_fold_protocol_by_hand():
    # two blocks (folds), each with its own positives then negatives, as the bins order them
    scores = np.array([0.9, 0.8, 0.3, 0.85, 0.7, 0.2, 0.1, 0.4])
    labels = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    # fold A tested with the threshold of B: best 0.7 (3/4), cut half-way to 0.4 -> 0.55; A gets 3/4 right
    # fold B tested with the threshold of A: best 0.9 (3/4), cut at 0.875; B gets 2/4 right
    mean, std = kfold_accuracy(scores, labels, num_folds=2)
    assert mean == pytest.approx(0.625) and std == pytest.approx(0.125)


def test_fold_layout_matches_consecutive_blocks_of_a_bin():
    """On the bins' order (block k = its positives then its negatives) the stratified folds are the
    consecutive blocks of the standard protocol: accuracy equals a by-hand consecutive-block k-fold."""
    rng = np.random.default_rng(0)
    blocks, half = 5, 6
    labels = np.tile(np.r_[np.ones(half), np.zeros(half)], blocks)
    scores = rng.normal(size=labels.size) + labels
    accs = []
    for k in range(blocks):
        test = np.zeros(labels.size, bool)
        test[k * 2 * half:(k + 1) * 2 * half] = True
        train_scores, train_labels = scores[~test], labels[~test]
        fpr, tpr, candidates = roc_curve(train_scores, train_labels)  # same accuracy formula: only folds differ
        pr = train_labels.mean()
        a = int(np.argmax(pr * tpr + (1 - pr) * (1 - fpr)))
        th = candidates[a] if a + 1 >= candidates.size or not np.isfinite(candidates[a]) else (candidates[a] + candidates[a + 1]) / 2
        accs.append(np.mean((scores[test] >= th) == labels[test]))
    assert kfold_accuracy(scores, labels, num_folds=blocks)[0] == pytest.approx(np.mean(accs))


def test_template_metrics_separate_identities():
    gen = torch.Generator().manual_seed(0)
    centres = torch.nn.functional.normalize(torch.randn(4, 8, generator=gen), dim=1)
    subject = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 0, 1])
    templates = torch.tensor([1, 1, 2, 2, 3, 3, 4, 4, 5, 6])
    feats = centres[subject] + 0.05 * torch.randn(10, 8, generator=gen)
    gauss = create_distribution("gmm", {"dim": 8})
    params = gauss.join(feats, torch.full((10, 1), float(np.log(1e-3))))  # small variances: MLS ~ distance
    pairs = np.array([[1, 5], [2, 6], [1, 2], [3, 4], [5, 6], [1, 3]])
    labels = np.array([1, 1, 0, 0, 0, 0])
    for aggregation, scorer in (("mean", "cosine"), ("pfe", "cosine"), ("pfe", "mls")):
        out = template_metrics(gauss, params, templates, templates * 100, pairs, labels, aggregation=aggregation,
                               scorer=scorer, fars=(0.25,))
        assert out["tar@far=2.5e-1"] == 1.0 and out["num_templates"] == 6
    with pytest.raises(ConfigError, match="aggregation 'pfe'"):
        template_metrics(gauss, params, templates, templates, pairs, labels, aggregation="mean", scorer="mls")
    with pytest.raises(DataError, match="without images"):
        template_metrics(gauss, params, templates, templates, np.array([[1, 99]]), np.array([1]))


def test_flip_fusion_of_two_views():
    dirac = create_distribution("dirac", {"dim": 2, "spherical": True})
    fused = fuse_views(dirac, torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]]))
    assert torch.allclose(fused, torch.tensor([[2 ** -0.5, 2 ** -0.5]]), atol=1e-6)
    gauss = create_distribution("gmm", {"dim": 1})
    a, b = gauss.join(torch.tensor([[0.0]]), torch.tensor([[0.0]])), gauss.join(torch.tensor([[3.0]]), torch.tensor([[np.log(2.0)]]))
    split = gauss.split(fuse_views(gauss, a, b))
    assert float(split.mean) == pytest.approx(1.0, abs=1e-5)  # (0/1 + 3/2) / (1 + 1/2)
    assert float(split.log_variance.exp()) == pytest.approx(2 / 3, rel=1e-5)


def _jpeg(value, size=(112, 112)):
    buffer = io.BytesIO()
    Image.fromarray(np.full((*size[::-1], 3), value, np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def make_ijb(root, name="ijbb", *, landmarks=True, image_size=(112, 112), subjects=(0, 0, 1, 1, 2, 2)):
    folder = root / name.upper()
    (folder / "meta").mkdir(parents=True)
    (folder / "loose_crop").mkdir()
    lines, points = [], []
    for i, subject in enumerate(subjects):
        (folder / "loose_crop" / f"{i + 1}.jpg").write_bytes(_jpeg(40 * subject + 20, image_size))
        lines.append(f"{i + 1}.jpg {i // 2 + 1} {100 + i}")
        pts = " ".join(f"{v:.2f}" for v in np.array([[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4],
                                                         [70.7, 92.2]]).reshape(-1) * image_size[0] / 112)
        points.append(f"{i + 1}.jpg {pts} 0.9")
    (folder / "meta" / f"{name}_face_tid_mid.txt").write_text("\n".join(lines) + "\n")
    (folder / "meta" / f"{name}_template_pair_label.txt").write_text("1 2 0\n1 3 0\n2 3 0\n1 1 1\n")
    if landmarks:
        (folder / "meta" / f"{name}_name_5pts_score.txt").write_text("\n".join(points) + "\n")
    return folder


def test_ijb_meta_reading_and_alignment(tmp_path):
    from pml_core.data.formats.ijb import IJBImages, align_face, read_ijb_meta, similarity_transform

    make_ijb(tmp_path, image_size=(224, 224))
    meta = read_ijb_meta(tmp_path, "ijbb")
    assert meta.images.tolist()[:2] == ["1.jpg", "2.jpg"] and meta.templates.tolist() == [1, 1, 2, 2, 3, 3]
    assert meta.media.tolist() == [100, 101, 102, 103, 104, 105]
    assert meta.pairs.tolist()[0] == [1, 2] and meta.labels.tolist() == [0, 0, 0, 1]
    assert meta.landmarks.shape == (6, 5, 2) and meta.scores.tolist() == [0.9] * 6
    images = IJBImages(meta)
    assert images.labels.tolist() == [0, 0, 1, 1, 2, 2]
    image = images.image(2)
    assert image.size == (112, 112) and abs(np.asarray(image).mean() - 60) < 3
    # the similarity estimate recovers a known transform
    src = np.random.default_rng(0).uniform(0, 100, (5, 2))
    angle, scale = 0.3, 1.7
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ rot.T + [5.0, -3.0]
    assert np.allclose(similarity_transform(src, dst), np.c_[rot, [5.0, -3.0]], atol=1e-8)
    assert align_face(Image.new("RGB", (50, 60)), src[:5]).size == (112, 112)
    with pytest.raises(DataError, match="ijbc_face_tid_mid.txt not found"):
        read_ijb_meta(tmp_path, "ijbc")


def test_ijb_meta_errors(tmp_path):
    from pml_core.data.formats.ijb import read_ijb_meta

    folder = make_ijb(tmp_path, landmarks=False)
    assert read_ijb_meta(tmp_path / "IJBB", "ijbb").landmarks is None
    (folder / "meta" / "ijbb_template_pair_label.txt").write_text("1 42 1\n")
    with pytest.raises(DataError, match="have no face"):
        read_ijb_meta(tmp_path, "ijbb")
    (folder / "meta" / "ijbb_template_pair_label.txt").write_text("1 x 1\n")
    with pytest.raises(DataError, match="not an integer"):
        read_ijb_meta(tmp_path, "ijbb")
