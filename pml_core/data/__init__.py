"""Datasets, splits, folds, samplers, transforms, lossy and pair test sets, the embedded default.

Entry points: `build_datasets(params, data_root)` -> `DatasetCollection` (train / valid / tests),
`build_train_loader`, `build_eval_loader`, `default_data_root`, the registry `DATASETS`.
"""

from .base import ArrayDataset, BaseDataset, ConcatDataset, DataWarning, ImageListDataset, RepeatDataset, SubsetDataset
from .collection import DATASETS, DatasetCollection, build_datasets, test_set_name, with_variants
from .glyphs import default_data_root, load_glyphs
from .loaders import build_eval_loader, build_train_loader, make_train_sampler
from .lossy import LossyDataset, center_crop_fraction, crop_fractions
from .pairs import PairsDataset, SamplePairsDataset, sample_pairs
from .samplers import ClassBalancedBatchSampler, ShuffledBatchSampler
from .splits import split_classes, validation_split
from .transforms import ImageAugmenter, ImageTestTransform, ImageTransform, TestPipeline, TrainPipeline

__all__ = [
    "ArrayDataset", "BaseDataset", "ConcatDataset", "DataWarning", "ImageListDataset", "RepeatDataset", "SubsetDataset",
    "DATASETS", "DatasetCollection", "build_datasets", "test_set_name", "with_variants",
    "default_data_root", "load_glyphs", "build_eval_loader", "build_train_loader", "make_train_sampler",
    "LossyDataset", "center_crop_fraction", "crop_fractions", "PairsDataset", "SamplePairsDataset",
    "sample_pairs", "ClassBalancedBatchSampler", "ShuffledBatchSampler", "split_classes", "validation_split",
    "ImageAugmenter", "ImageTestTransform", "ImageTransform", "TestPipeline", "TrainPipeline",
]
