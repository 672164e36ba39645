"""Typed, validated configuration.

A run's configuration is YAML composed as ``base <- dataset <- method <- best hparams <- profile <-
--set overrides`` (`compose`), then checked against the dataclasses below (`parse_config`): an unknown
key fails naming its path and the closest valid key, a wrong type fails naming the path and the
expected type. Key names and defaults follow the reference (docs/reference.md, Appendix B); additions are
marked "kit:" in the field comments.

Component parameter dicts whose schema depends on a type name (``distribution_params``,
``classifier_params``, ``optimizer_params``, ...) are checked against the defaults that the
component's registry declares (`COMPONENT_SCHEMAS`).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
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
    """kit: the embedded default dataset (docs/design.md, "The embedded default")."""

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
    uniform_sampling_reference: bool = False  # kit: the reference's frozen label cursor (docs/reference.md §8.4)
    image_cache: bool = False  # kit: decoded-image cache (resized uint8, memory-mapped)
    verification_bins: list[str] | None = None  # kit: face sets: the <name>.bin files to test on (None: all present)


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


class ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the numbers of YAML 1.2, used wherever the kit reads a config.

    PyYAML follows YAML 1.1, where ``1e-3``, ``1e+6`` and ``1.0e6`` are text (a float needs a dot and a
    signed exponent), ``010`` is octal 8 and ``1:30`` is 90. Here every float form (``1e-3``, ``1E+6``,
    ``1.0e6``, ``.5``, ``-1e-4``, ``.inf``, ``.nan``) is a float, integers are decimal (``010`` = 10;
    ``0x1f``, ``0o17``, ``0b101`` as written), ``null``, ``~``, ``None`` and nothing are null, and
    ``true/false`` (also ``yes/no``, ``on/off``) are bools.
    """


_INT_TAG, _FLOAT_TAG, _NULL_TAG = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:null"
ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_INT_TAG, _FLOAT_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
ConfigLoader.add_implicit_resolver(
    _INT_TAG, re.compile(r"^(?:[-+]?[0-9][0-9_]*|[-+]?0x[0-9a-fA-F_]+|[-+]?0o[0-7_]+|[-+]?0b[01_]+)$"),
    list("-+0123456789"))
ConfigLoader.add_implicit_resolver(
    _FLOAT_TAG, re.compile(r"^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?"
                           r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
                           r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))
ConfigLoader.add_implicit_resolver(_NULL_TAG, re.compile(r"^None$"), ["N"])


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    text = loader.construct_scalar(node).replace("_", "")
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    base = {"0x": 16, "0o": 8, "0b": 2}.get(digits[:2].lower(), 10)
    return sign * int(digits[2:] if base != 10 else digits, base)


ConfigLoader.add_constructor(_INT_TAG, _construct_int)


def parse_yaml(text: str, source: str = "the config") -> Any:
    """YAML ``text`` read with `ConfigLoader`; malformed YAML is a ConfigError naming ``source``."""
    try:
        return yaml.load(text, Loader=ConfigLoader)  # noqa: S506 (ConfigLoader is a SafeLoader)
    except yaml.YAMLError as error:
        problem = " ".join(str(error).split())
        raise ConfigError(f"{source} is not valid YAML ({problem})") from None


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping (with `ConfigLoader`); a missing or malformed file is a ConfigError naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"config file {path} cannot be read: {error}") from None
    data = parse_yaml(text, f"config file {path}")
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
    value = parse_yaml(raw, f"--set {text!r}: the value {raw!r}") if raw.strip() else None
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

    Returns a copy without `_hopt` keys (docs/reference.md §9.1).
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


@functools.cache
def _type_hints(cls: type) -> dict:
    """The resolved field annotations of a schema dataclass (resolved once: they are strings here)."""
    return typing.get_type_hints(cls)


def _build(cls: type, raw: Any, path: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping, got {raw!r}")
    hints = _type_hints(cls)
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


#: Component keys whose numeric default may also be one of these words (any other text is an error).
NUMBER_WORDS: dict[str, tuple[str, ...]] = {"scale": ("trainable",)}


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
            words = NUMBER_WORDS.get(key, ())
            if value not in words:
                also = f" or {' / '.join(map(repr, words))}" if words else ""
                raise ConfigError(f"{key_path}: expected a number like the default {default!r}{also}, got the text "
                                  f"{value!r}")
            result[key] = value  # e.g. scale: trainable
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


#: The smallest valid value of numeric keys (each element for lists; null passes where the type allows it).
MINIMUMS: dict[str, int | float] = {
    "dataset_params.batch_size": 1,
    "dataset_params.samples_per_class": 1,
    "dataset_params.num_workers": 0,
    "dataset_params.num_valid_workers": 0,
    "dataset_params.train_repeat": 1,
    "dataset_params.num_validation_folds": 2,
    "dataset_params.validation_fold": 0,
    "dataset_params.glyphs_params.num_classes": 2,
    "dataset_params.glyphs_params.samples_per_class": 1,
    "dataset_params.transform_params.image_size": 1,
    "initializer_params.num_statistics_batches": 0,
    "trainer_params.num_epochs": 0,
    "trainer_params.warmup_epochs": 0,
    "trainer_params.early_stop_patience": 1,
    "trainer_params.early_stop_epsilon": 0,
    "trainer_params.max_steps_per_epoch": 1,
    "metrics_params.nearest_params.recall_k_values": 1,
    "metrics_params.nearest_params.num_filter_out_bins": 0,
    "metrics_params.nearest_params.memory_budget_mb": 1,
    "metrics_params.verification_metrics_params.num_folds": 2,
    "grad_scale_growth_interval": 1,
    "num_evaluation_seeds": 1,
    "num_hopt_trials": 1,
}

#: Keys of the reference's schema that the kit does not implement: path -> (the one value accepted, what to do).
UNSUPPORTED: dict[str, tuple[Any, str]] = {
    "dataset_params.preload": (False, "the kit does not preload images into memory; dataset_params.image_cache: "
                                      "true keeps decoded, resized images in a memory-mapped cache instead"),
    "metrics_params.verification_metrics_params.roc_curve_dump_dir": (
        None, "the kit does not dump ROC curves; every pair set's scores and labels are in the run's "
              "predictions.npz, from which pml_core.metrics.verification.roc_curve computes the curve"),
    "metrics_params.nearest_params.prefetch_factor": (
        2, "it has no effect for the kit's distributions (all single-mode: the candidates are the nearest modes), "
           "as in the reference"),
    "trainer_params.use_gradient_normalizer": (False, "the kit has no gradient normalizer; use "
                                                      "trainer_params.gradient_clipping"),
    "trainer_params.gradient_normalizer_params": (None, "the kit has no gradient normalizer; use "
                                                        "trainer_params.gradient_clipping"),
    "trainer_params.variance_scheduler_type": (None, "the kit has no variance scheduler"),
    "trainer_params.variance_scheduler_params": (None, "the kit has no variance scheduler"),
    "amp_head": (False, "under fp16 the kit always runs the classifier head and the loss in float32 (the "
                        "reference's default)"),
}

#: Classification metrics per split (docs/reference.md §6.1): what `train_classification_metrics` and
#: `test_classification_metrics` (validation and test sets) may name.
CLASSIFICATION_METRICS = {"train": ("accuracy", "scores"), "test": ("nearest", "quality", "accuracy", "scores")}

DEVICE_NAMES = "auto, cpu, cuda, cuda:N, mps"


def check_device_name(name: Any) -> str:
    """``name`` if it names a device the kit accepts (``auto | cpu | cuda | cuda:N | mps``), else ConfigError."""
    if not isinstance(name, str) or not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", name):
        hint = " (a GPU is 'cuda' or 'cuda:N')" if str(name).lower().startswith("gpu") else ""
        raise ConfigError(f"device {name!r} is not a device name{hint}; valid: {DEVICE_NAMES}")
    return name


def check_values(cfg: Config) -> None:
    """Checks beyond types: value ranges, keys the kit does not implement, metric names, the device name."""
    as_dict = dataclasses.asdict(cfg)
    for path, minimum in MINIMUMS.items():
        value = _get(as_dict, path)
        for item in value if isinstance(value, list) else [value]:
            if item is not None and item < minimum:
                raise ConfigError(f"{path} must be >= {minimum}, got {value!r}")
    dataset = cfg.dataset_params
    if dataset.validation_fold is not None and dataset.validation_fold >= dataset.num_validation_folds:
        raise ConfigError(f"dataset_params.validation_fold must be below num_validation_folds "
                          f"({dataset.num_validation_folds}), got {dataset.validation_fold}")
    fpr = cfg.metrics_params.verification_metrics_params.fpr
    for value in fpr if isinstance(fpr, list) else [fpr]:
        if not 0 < value < 1:
            raise ConfigError(f"metrics_params.verification_metrics_params.fpr must lie in (0, 1), got {fpr!r}")
    for path, (accepted, reason) in UNSUPPORTED.items():
        if _get(as_dict, path) != accepted:
            raise ConfigError(f"{path} is not supported: {reason}; remove the key (or set it to "
                              f"{'null' if accepted is None else str(accepted).lower()})")
    for split, names in CLASSIFICATION_METRICS.items():
        path = f"metrics_params.{split}_classification_metrics"
        for name in _get(as_dict, path) or []:
            if name not in names:
                hint = closest(name, names)
                suggestion = f" (did you mean {hint!r}?)" if hint else ""
                raise ConfigError(f"{path}: unknown metric {name!r}{suggestion}; valid: {', '.join(names)}")
    check_device_name(cfg.device)


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


def resolved_config(cfg: Config) -> dict:
    """What a run folder's ``config.yaml`` stores: every key with the value the run uses.

    Component params (``distribution_params``, ``classifier_params``, ...) are completed by their type's
    defaults (`resolved_dict`), so ``dim`` and the other implicit values appear. With ``stages``, a
    component whose type some stage changes is completed inside every stage patch (with that stage's
    type) and left as given at the top, where no model is built from it; the others are completed at the
    top. ``parse_config`` of the result gives the same stage configs, and resolving it again gives it back.
    """
    result = cfg.to_dict()
    stages = result.get("stages") or []
    for params_path, (type_path, kind) in COMPONENT_PARAMS.items():
        if params_path == "trainer_params.classifier_optimizer_params":
            continue  # a patch of optimizer_params, not a full set (as in resolved_dict)
        section, key = params_path.split(".")
        type_section, type_key = type_path.split(".")
        if not any(type_key in (stage.get(type_section) or {}) for stage in stages):
            name = _get(result, type_path)
            defaults = component_defaults(kind, name)
            if defaults is not None:
                result[section][key] = check_params(kind, name, result[section][key], defaults, params_path)
            continue
        for index, stage in enumerate(stages):
            staged = stage_config(cfg, index).to_dict()
            name = _get(staged, type_path)
            defaults = component_defaults(kind, name)
            if defaults is not None:
                where = f"stages.{index}.{params_path}"
                stage.setdefault(section, {})[key] = check_params(kind, name, _get(staged, params_path), defaults, where)
    return result


def parse_config(raw: dict | None, *, check_components: bool = True) -> Config:
    """Validate a composed config dict and return the typed Config (stages are checked one by one)."""
    raw = apply_hopt_constants(raw or {})
    cfg = _build(Config, raw, "")
    check_values(cfg)
    if check_components:
        _check_components(cfg)
    for index in range(len(cfg.stages or [])):
        stage_config(cfg, index, check_components=check_components)
    return cfg


FORBIDDEN_STAGE_KEYS = ("stages", "fp16", "initial_grad_scale", "num_hopt_trials", "hopt_backend")


def stage_config(cfg: Config, index: int, *, check_components: bool = True) -> Config:
    """The config of stage ``index``: the base config patched by ``stages[index]`` (docs/reference.md §9.3)."""
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
        check_values(staged)
    except ConfigError as error:
        raise ConfigError(f"in stages.{index}: {error}") from None
    if check_components:
        _check_components(staged)
    return staged


def num_stages(cfg: Config) -> int:
    return max(1, len(cfg.stages or []))


def dump_yaml(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
