"""Typed, validated configuration.

A run's configuration is YAML composed as ``base <- dataset <- method <- best hparams <- profile <-
--set overrides`` (`compose`), then checked against the dataclasses below (`parse_config`): an unknown
key fails naming its path and the closest valid key, a wrong type fails naming the path and the
expected type. Key names and defaults follow the reference (REFERENCE.md, Appendix B); additions are
marked "kit:" in the field comments.

Component parameter dicts whose schema depends on a type name (``distribution_params``,
``classifier_params``, ``optimizer_params``, ...) are checked against the defaults that the
component's registry declares (`COMPONENT_SCHEMAS`).
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from .errors import ConfigError, closest

# ----------------------------------------------------------------------------------------------
# Schema


@dataclass
class TransformParams:
    image_size: int = 112
    center_crop: bool = True
    mean: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    std: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])


@dataclass
class TransformTestParams:
    prescale_size: int | None = None
    preserve_aspect: bool = True


@dataclass
class AugmenterParams:
    random_crop_scale: list[float] = field(default_factory=lambda: [1.0, 1.0])
    random_crop_ratio: list[float] = field(default_factory=lambda: [1.0, 1.0])
    random_flip_probability: float = 0.5
    brightness_range: float = 0.0
    contrast_range: float = 0.0
    saturation_range: float = 0.0
    autoaug: Literal["imagenet", "cifar10", "svhn"] | None = None
    randaug_num: int = 2
    randaug_magnitude: int = 0
    cutout_n_holes: int = 0
    cutout_size: float = 0.0
    cutout_probability: float = 0.5
    translate_ratios: list[float] = field(default_factory=lambda: [0.0, 0.0])
    rotation_max_angle: float = 0.0


@dataclass
class LossyParams:
    seed: int = 0
    center_crop_range: list[float] = field(default_factory=lambda: [0.25, 1.0])


@dataclass
class GlyphsParams:
    """kit: the embedded default dataset (DESIGN.md, "The embedded default")."""

    num_classes: int = 320  # characters in total; the first half trains, the second half tests
    samples_per_class: int = 24
    image_size: int = 32
    seed: int = 0


@dataclass
class DatasetParams:
    name: str | None = None
    validation_fold: int | None = None
    num_validation_folds: int = 4
    validation_split_interleave: bool = False
    transform_params: TransformParams = field(default_factory=TransformParams)
    transform_test_params: TransformTestParams = field(default_factory=TransformTestParams)
    augmenter_params: AugmenterParams = field(default_factory=AugmenterParams)
    mixup_type: Literal["same_class"] | None = None
    batch_size: int = 256
    samples_per_class: int | None = 4
    uniform_sampling: bool = False
    num_workers: int = 8
    num_valid_workers: int | None = None
    persistent_workers: bool = False
    shuffle_train: bool = True
    train_repeat: int = 1
    preload: bool = False
    add_lossy_valsets: bool = False
    add_lossy_testsets: bool = False
    lossy_params: LossyParams = field(default_factory=LossyParams)
    add_verification_valsets: bool = False
    add_verification_testsets: bool = True
    validate_on_test: bool = False
    glyphs_params: GlyphsParams = field(default_factory=GlyphsParams)  # kit
    inshop_protocol: Literal["query-gallery", "pooled"] = "query-gallery"  # kit: standard by default
    uniform_sampling_reference: bool = False  # kit: the reference's frozen label cursor (REFERENCE 8.4)
    image_cache: bool = False  # kit: decoded-image cache (resized uint8, memory-mapped)


@dataclass
class ModelParams:
    distribution_type: str = "dirac"
    distribution_params: dict | None = None
    embedder_type: str = "cnn"
    embedder_params: dict | None = None
    scorer_type: str = "dot"
    scorer_params: dict | None = None  # kit: e.g. hib {num_samples, positive_scale}, ecs {num_samples, method}
    classifier_type: str | None = "linear"
    classifier_params: dict | None = None
    freeze_classifier: bool = False


@dataclass
class InitializerParams:
    matrix_initializer: Literal["normal", "xavier_uniform", "xavier_normal", "kaiming_normal", "kaiming_normal_fanout"] | None = None
    num_statistics_batches: int = 10
    hib_bias: Literal["median", "zero"] = "median"  # kit: b = a x median sample distance; "zero": the reference


@dataclass
class MultiSimilarityParams:
    threshold: float = 0.5
    margin: float = 0.1
    positive_scale: float = 2.0
    negative_scale: float = 40.0


@dataclass
class CriterionParams:
    use_softmax: bool = True
    xent_weight: float = 1.0
    xent_smoothing: float = 0.0
    hinge_weight: float = 0.0
    hinge_margin: float = 1.0
    proxy_anchor_weight: float = 0.0
    proxy_nca_weight: float = 0.0
    multi_similarity_weight: float = 0.0
    multi_similarity_params: MultiSimilarityParams = field(default_factory=MultiSimilarityParams)
    prior_kld_weight: float = 0.0
    pfe_weight: float = 0.0
    pfe_match_self: bool = True
    hib_weight: float = 0.0


@dataclass
class TrainerParams:
    num_epochs: int = 16
    optimizer_type: str = "sgd"
    optimizer_params: dict | None = None
    classifier_optimizer_params: dict | None = None
    gradient_clipping: float | None = 5.0
    use_gradient_normalizer: bool = False
    gradient_normalizer_params: dict | None = None
    scheduler_type: str | None = None
    scheduler_params: dict | None = None
    variance_scheduler_type: str | None = None
    variance_scheduler_params: dict | None = None
    warmup_epochs: int = 0
    selection_dataset: str = "train"
    selection_metric: str = "loss"
    selection_minimize: bool = True
    early_stop_patience: int | None = None
    early_stop_epsilon: float = 1e-3
    max_steps_per_epoch: int | None = None  # kit: cap on batches per epoch (tiny profile, debugging)


@dataclass
class NearestParams:
    backend: Literal["torch", "faiss"] = "torch"
    metrics: list[str] | None = None
    prefetch_factor: int = 2
    recall_k_values: list[int] = field(default_factory=lambda: [1])
    num_filter_out_bins: int = 0
    memory_budget_mb: int = 256  # kit: bound on the kNN working memory


@dataclass
class VerificationParams:
    fpr: float | list[float] = 1e-3
    roc_curve_dump_dir: str | None = None
    num_folds: int = 10  # kit: standard k-fold accuracy
    flip_fusion: bool = False  # kit: fuse each pair image with its mirror image (face protocol)


@dataclass
class MetricsParams:
    verification_metrics_params: VerificationParams = field(default_factory=VerificationParams)
    train_classification_metrics: list[str] | None = None
    test_classification_metrics: list[str] | None = None  # names: nearest, quality
    nearest_params: NearestParams = field(default_factory=NearestParams)  # kit: params of `nearest`


@dataclass
class Config:
    dataset_params: DatasetParams = field(default_factory=DatasetParams)
    model_params: ModelParams = field(default_factory=ModelParams)
    initializer_params: InitializerParams = field(default_factory=InitializerParams)
    criterion_params: CriterionParams = field(default_factory=CriterionParams)
    trainer_params: TrainerParams = field(default_factory=TrainerParams)
    metrics_params: MetricsParams = field(default_factory=MetricsParams)
    stages: list[dict] | None = None
    stage_resume: Literal["best", "last"] = "best"
    resume_prefixes: str | None = None
    fp16: bool = False
    amp_head: bool = False
    initial_grad_scale: float = 65536.0
    grad_scale_growth_interval: int = 2000
    seed: int = 42
    num_evaluation_seeds: int = 10
    num_hopt_trials: int = 50
    hopt_backend: Literal["wandb-bayes", "wandb-random", "optuna-tpe"] = "optuna-tpe"
    hopt_params: dict | None = None
    device: str = "auto"  # kit: auto | cpu | cuda | cuda:N

    def to_dict(self) -> dict:
        """Plain nested dict (what config.yaml stores)."""
        return dataclasses.asdict(self)


# Component parameter dicts: path of the dict -> (path of the type name, registry kind).
COMPONENT_PARAMS = {
    "model_params.distribution_params": ("model_params.distribution_type", "distribution"),
    "model_params.embedder_params": ("model_params.embedder_type", "embedder"),
    "model_params.classifier_params": ("model_params.classifier_type", "classifier"),
    "model_params.scorer_params": ("model_params.scorer_type", "scorer"),
    "trainer_params.optimizer_params": ("trainer_params.optimizer_type", "optimizer"),
    "trainer_params.classifier_optimizer_params": ("trainer_params.optimizer_type", "optimizer"),
    "trainer_params.scheduler_params": ("trainer_params.scheduler_type", "scheduler"),
}


def component_defaults(kind: str, name: str | None) -> dict | None:
    """Defaults a component declares for its params (None: not checked here).

    Imports lazily, so that this module stays at the bottom of the import graph.
    """
    if name is None:
        return None
    import importlib

    module_attr = {
        "distribution": ("pml_core.distributions", "DISTRIBUTIONS"),
        "embedder": ("pml_core.models", "EMBEDDERS"),
        "classifier": ("pml_core.heads", "HEADS"),
        "scorer": ("pml_core.scorers", "SCORERS"),
        "optimizer": ("pml_core.train.optim", "OPTIMIZERS"),
        "scheduler": ("pml_core.train.optim", "SCHEDULERS"),
    }[kind]
    try:
        registry = getattr(importlib.import_module(module_attr[0]), module_attr[1])
    except (ImportError, AttributeError):
        return None
    from .registry import lookup

    entry = lookup(kind, registry, name)
    return getattr(entry, "DEFAULTS", None)


# ----------------------------------------------------------------------------------------------
# Composition


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping; a missing or malformed file is a ConfigError naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping, not {type(data).__name__}")
    return data


#: A patch mapping holding ``_replace: true`` replaces the mapping below it instead of merging into it.
REPLACE_KEY = "_replace"


def merge(base: dict, patch: dict) -> dict:
    """Deep merge, returning a copy: mappings merge key by key; lists of mappings (``stages``) merge
    index by index, as in the reference, so a patch ``stages: [{...}]`` edits the first stage only and a
    longer list extends; any other value, lists of plain values included, replaces. A mapping with
    ``_replace: true`` replaces the base mapping whole (to drop keys, e.g. SGD's ``momentum`` when a
    patch switches to Adam)."""
    result = copy.deepcopy(base)
    for key, value in patch.items():
        current = result.get(key)
        if isinstance(value, dict) and REPLACE_KEY in value:
            if not isinstance(value[REPLACE_KEY], bool):
                raise ConfigError(f"{key}.{REPLACE_KEY} must be true or false, got {value[REPLACE_KEY]!r}")
            if value[REPLACE_KEY]:
                current = None
            value = {k: v for k, v in value.items() if k != REPLACE_KEY}
        if isinstance(value, dict) and isinstance(current, dict):
            result[key] = merge(current, value)
        elif _is_list_of_dicts(value) and _is_list_of_dicts(current):
            merged = [merge(old, new) for old, new in zip(current, value)]
            result[key] = merged + copy.deepcopy(current[len(value):] or value[len(current):])
        else:
            result[key] = copy.deepcopy(value)
    return result


def _is_list_of_dicts(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def parse_override(text: str) -> dict:
    """``"a.b.c=1"`` -> ``{"a": {"b": {"c": 1}}}``; the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.path=value")
    key, raw = text.split("=", 1)
    if not key.strip():
        raise ConfigError(f"override {text!r} has an empty key")
    value = yaml.safe_load(raw) if raw.strip() else None
    for part in reversed(key.strip().split(".")):
        value = {part: value}
    return value


def compose(sources: list[str | Path | dict], overrides: list[str] = ()) -> dict:
    """Merge YAML files / dicts in order, then ``--set`` overrides; the `_hopt` constants are applied."""
    result: dict = {}
    for source in sources:
        result = merge(result, source if isinstance(source, dict) else load_yaml(source))
    for text in overrides:
        result = merge(result, parse_override(text))
    return result


def apply_hopt_constants(raw: Any) -> Any:
    """Apply `_hopt` blocks: non-dict values override their keys, dict values (search specs) are dropped.

    Returns a copy without `_hopt` keys (REFERENCE.md 9.1).
    """
    if isinstance(raw, list):
        return [apply_hopt_constants(item) for item in raw]
    if not isinstance(raw, dict):
        return raw
    result = {key: apply_hopt_constants(value) for key, value in raw.items() if key != "_hopt"}
    for key, value in (raw.get("_hopt") or {}).items():
        if not isinstance(value, dict):
            target = result
            *parents, leaf = key.split(".")
            for part in parents:
                target = target.setdefault(part, {})
            target[leaf] = value
    return result


def hopt_specs(raw: Any, prefix: str = "") -> dict[str, dict]:
    """Every search spec of the `_hopt` blocks as ``{dotted.key: spec}``."""
    specs: dict[str, dict] = {}
    if isinstance(raw, dict):
        for key, value in raw.items():
            if key == "_hopt":
                for name, spec in (value or {}).items():
                    if isinstance(spec, dict):
                        specs[prefix + name] = spec
            else:
                specs.update(hopt_specs(value, f"{prefix}{key}."))
    elif isinstance(raw, list):
        for index, item in enumerate(raw):
            specs.update(hopt_specs(item, f"{prefix}{index}."))
    return specs


# ----------------------------------------------------------------------------------------------
# Validation


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in typing.get_args(annotation))
    if origin is Literal:
        return "one of " + ", ".join(repr(arg) for arg in typing.get_args(annotation))
    if origin is list:
        (item,) = typing.get_args(annotation) or (Any,)
        return f"list of {_type_name(item)}"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _convert(value: Any, annotation: Any, path: str) -> Any:
    """Check ``value`` against ``annotation``; return it converted (dataclasses built, ints to floats)."""
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return value
    if origin in (Union, types.UnionType):
        errors = []
        for arg in typing.get_args(annotation):
            try:
                return _convert(value, arg, path)
            except ConfigError as error:
                errors.append(error)
        literal_errors = [e for e in errors if "one of" in str(e)]
        if literal_errors and not isinstance(value, (dict, list)) and value is not None:
            raise literal_errors[0]
        raise ConfigError(f"{path}: expected {_type_name(annotation)}, got {value!r}")
    if origin is Literal:
        choices = typing.get_args(annotation)
        if value not in choices:
            hint = closest(value, [str(c) for c in choices]) if isinstance(value, str) else None
            suggestion = f" (did you mean {hint!r}?)" if hint else ""
            raise ConfigError(f"{path}: {value!r} is not one of {', '.join(map(repr, choices))}{suggestion}")
        return value
    if annotation is type(None):
        if value is not None:
            raise ConfigError(f"{path}: expected null, got {value!r}")
        return None
    if dataclasses.is_dataclass(annotation):
        return _build(annotation, value, path)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected {_type_name(annotation)}, got {value!r}")
        (item,) = typing.get_args(annotation) or (Any,)
        return [_convert(v, item, f"{path}.{i}") for i, v in enumerate(value)]
    if annotation is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected bool, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected int, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected float, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected str, got {value!r}")
        return value
    raise TypeError(f"unsupported annotation {annotation!r} at {path}")


def _build(cls: type, raw: Any, path: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for key, value in raw.items():
        key_path = f"{path}.{key}" if path else str(key)
        if key == "_type":
            continue
        if key not in hints:
            hint = closest(key, names)
            suggestion = f"; did you mean {(path + '.' if path else '') + hint!r}?" if hint else ""
            raise ConfigError(f"unknown config key {key_path!r}{suggestion}")
        values[key] = _convert(value, hints[key], key_path)
    return cls(**values)


def check_params(kind: str, name: str, params: dict | None, defaults: dict, path: str) -> dict:
    """Check a component's params against its defaults: known keys, types like the default's.

    Returns the defaults updated with ``params``. Nested dict defaults are checked recursively; a
    default of None accepts any value.
    """
    params = params or {}
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a mapping, got {params!r}")
    result = copy.deepcopy(defaults)
    for key, value in params.items():
        key_path = f"{path}.{key}"
        if key not in defaults:
            hint = closest(key, defaults)
            suggestion = f"; did you mean {path + '.' + hint!r}?" if hint else ""
            raise ConfigError(f"unknown key {key_path!r} for {kind} {name!r}{suggestion}")
        default = defaults[key]
        if isinstance(default, dict) and isinstance(value, dict):
            result[key] = check_params(kind, name, value, default, key_path)
        elif default is None or value is None:
            result[key] = value
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{key_path}: expected bool, got {value!r}")
            result[key] = value
        elif isinstance(default, (int, float)) and isinstance(value, (int, float)) and not isinstance(value, bool):
            result[key] = float(value) if isinstance(default, float) else value
        elif isinstance(default, (int, float)) and isinstance(value, str):
            result[key] = value  # e.g. scale: trainable, k: norm
        elif isinstance(default, str) and isinstance(value, (int, float, str)) and not isinstance(value, bool):
            result[key] = value  # e.g. covariance: spherical | 0.5
        elif isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
            result[key] = list(value)
        elif type(value) is not type(default):
            raise ConfigError(f"{key_path}: expected {type(default).__name__} like the default {default!r}, got {value!r}")
        else:
            result[key] = value
    return result


def _get(raw: dict, dotted: str) -> Any:
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _check_components(cfg: Config) -> None:
    as_dict = dataclasses.asdict(cfg)
    for params_path, (type_path, kind) in COMPONENT_PARAMS.items():
        name = _get(as_dict, type_path)
        if name is None:
            continue
        defaults = component_defaults(kind, name)
        if defaults is not None:
            check_params(kind, name, _get(as_dict, params_path), defaults, params_path)


def resolved_dict(cfg: Config) -> dict:
    """``cfg.to_dict()`` with every component's params completed by its defaults (no stages).

    Two configs that build the same components compare equal here even when one spells out a default
    the other leaves implicit. ``classifier_optimizer_params`` stays as given: it is a patch of
    ``optimizer_params``, not a full set.
    """
    result = cfg.to_dict()
    for params_path, (type_path, kind) in COMPONENT_PARAMS.items():
        if params_path == "trainer_params.classifier_optimizer_params":
            continue
        defaults = component_defaults(kind, _get(result, type_path))
        if defaults is not None:
            section, key = params_path.split(".")
            result[section][key] = check_params(kind, _get(result, type_path), result[section][key], defaults, params_path)
    return result


def parse_config(raw: dict | None, *, check_components: bool = True) -> Config:
    """Validate a composed config dict and return the typed Config (stages are checked one by one)."""
    raw = apply_hopt_constants(raw or {})
    cfg = _build(Config, raw, "")
    if check_components:
        _check_components(cfg)
    for index in range(len(cfg.stages or [])):
        stage_config(cfg, index, check_components=check_components)
    return cfg


FORBIDDEN_STAGE_KEYS = ("stages", "fp16", "initial_grad_scale", "num_hopt_trials", "hopt_backend")


def stage_config(cfg: Config, index: int, *, check_components: bool = True) -> Config:
    """The config of stage ``index``: the base config patched by ``stages[index]`` (REFERENCE.md 9.3)."""
    stages = cfg.stages or []
    if not stages:
        if index != 0:
            raise ConfigError(f"stage {index} requested but the config has no stages")
        return cfg
    if not 0 <= index < len(stages):
        raise ConfigError(f"stage {index} requested but the config has {len(stages)} stages")
    patch = stages[index]
    for key in FORBIDDEN_STAGE_KEYS:
        if key in patch:
            raise ConfigError(f"stages.{index}.{key}: this key cannot be changed per stage")
    base = cfg.to_dict()
    base.pop("stages")
    merged = merge(base, apply_hopt_constants(patch))
    try:
        staged = _build(Config, merged, "")
    except ConfigError as error:
        raise ConfigError(f"in stages.{index}: {error}") from None
    if check_components:
        _check_components(staged)
    return staged


def num_stages(cfg: Config) -> int:
    return max(1, len(cfg.stages or []))


def dump_yaml(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
