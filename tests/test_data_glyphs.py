"""The embedded default `glyphs`: determinism, cache, open-set split."""

import numpy as np
import pytest

from pml_core.config import DatasetParams, GlyphsParams
from pml_core.data import build_datasets, default_data_root, load_glyphs
from pml_core.data import glyphs
from pml_core.errors import ConfigError


def small(seed=0, **kwargs):
    return GlyphsParams(num_classes=kwargs.get("num_classes", 12), samples_per_class=kwargs.get("samples", 3),
                        image_size=kwargs.get("image_size", 32), seed=seed)


def test_generate_is_deterministic_and_seed_dependent():
    first = glyphs.generate(12, 3, 32, seed=0)
    second = glyphs.generate(12, 3, 32, seed=0)
    other = glyphs.generate(12, 3, 32, seed=1)
    assert first["images"].dtype == np.uint8 and first["images"].shape == (36, 32, 32, 3)
    assert first["images"].tobytes() == second["images"].tobytes()
    assert np.array_equal(first["labels"], np.repeat(np.arange(12), 3))
    assert list(first["chars"]) == list(other["chars"])  # the class list does not depend on the seed
    assert not np.array_equal(first["images"], other["images"])


def test_images_show_the_glyph():
    data = glyphs.generate(12, 3, 32, seed=0)
    spread = data["images"].reshape(36, -1).astype(np.float32).std(axis=1)
    assert (spread > 15).all()  # contrast between glyph and background in every sample


def test_characters_distinct_and_enough():
    chars = [c for c, _ in glyphs.select_characters(320)]
    assert len(set(chars)) == 320
    assert all(len(fonts) >= glyphs.MIN_FONTS for _, fonts in glyphs.select_characters(320))
    with pytest.raises(ConfigError):
        glyphs.select_characters(1)


def test_too_many_classes_is_a_config_error(monkeypatch):
    monkeypatch.setattr(glyphs, "CANDIDATE_RANGES", ((0x30, 0x39),))
    glyphs.character_pool.cache_clear()
    try:
        with pytest.raises(ConfigError, match="at most 10"):
            glyphs.select_characters(50)
    finally:
        glyphs.character_pool.cache_clear()


def test_cache_written_atomically_and_reused(tmp_path):
    params = small()
    data = load_glyphs(params, tmp_path)
    files = list((tmp_path / "glyphs").iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"
    stamp = files[0].stat().st_mtime_ns
    again = load_glyphs(params, tmp_path)
    assert files[0].stat().st_mtime_ns == stamp
    assert again["images"].tobytes() == data["images"].tobytes()
    files[0].write_bytes(b"garbage")  # a damaged cache is regenerated
    assert load_glyphs(params, tmp_path)["images"].tobytes() == data["images"].tobytes()


def test_build_datasets_open_set(tmp_path):
    params = DatasetParams(name="glyphs", glyphs_params=small(num_classes=12, samples=4), validation_fold=0)
    collection = build_datasets(params, tmp_path)
    assert collection.train.num_classes == 4 and len(collection.train) == 16  # 6 train classes, fold 0 = 2
    assert collection.valid["valid"].num_classes == 2
    assert list(collection.tests) == ["infer-glyphs", "infer-glyphs-pairs"]
    test = collection.tests["infer-glyphs"]
    assert test.num_classes == 6 and len(test) == 24 and test.openset
    all_chars = list(load_glyphs(params.glyphs_params, tmp_path)["chars"])
    assert list(test.chars) == all_chars[6:]
    image, label = test[0]
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8 and label == 0


def test_default_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("PML_DATA_ROOT", str(tmp_path))
    assert default_data_root() == tmp_path
    monkeypatch.delenv("PML_DATA_ROOT")
    assert str(default_data_root()).endswith(".cache/pml-kit/data")
