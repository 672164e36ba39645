"""The paper grid exactly as the reference ran it: all 544 cells of configs/reference/grid.json.

Each cell ``<family>-<dim>-<dataset>`` is composed as a real run composes it (``run_config_dict`` with the
``paper`` profile, ``parse_config``, then ``stage_config`` and ``resolved_dict`` per stage, so component
parameters are completed by the kit's own defaults) and every key of every stage is compared with the reference's
cell laid over the reference's defaults (configs/reference/defaults.yaml, docs/reference.md Appendix B). Values
must be equal (floats exactly: the tuned values are full precision); search spaces (``_hopt`` specs) too.

Three explicit tables say where the comparison is not one-to-one:

* ``SKIPPED``: the reference's storage and machine keys, which are not the protocol;
* ``CONVERSIONS``: where the kit deliberately differs (a fixed reference bug, each one named in
  docs/deviations.md): the reference's value and the kit's value that stands for it;
* ``KIT_KEYS``: keys the reference does not have, with the value the paper grid must hold (the ones marked
  ``fix`` select the intended behaviour over a reference bug; docs/deviations.md names them too).

Composition only: no model, dataset or optimiser is built (the component defaults come from the kit's
registries, which import torch).
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

import pml_core.config as config
from pml_core.config import hopt_specs, parse_config, resolved_dict, stage_config
from pml_core.experiments.grid import CONFIGS_ROOT, available_methods, profile_grid, run_config_dict

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((ROOT / "configs" / "reference" / "grid.json").read_text())
DEFAULTS = yaml.safe_load((ROOT / "configs" / "reference" / "defaults.yaml").read_text())
FAMILIES = sorted(REFERENCE["families"])
CELLS = REFERENCE["cells"]

# Reference keys that are not the protocol: where the data is stored and how the machine runs it.
SKIPPED = {
    "dataset_params.name": "the reference's storage format (serialized-openset); the kit names the dataset",
    "dataset_params.num_workers": "loader processes of the reference's machine",
    "dataset_params.num_valid_workers": "loader processes of the reference's machine",
    "dataset_params.persistent_workers": "loader processes of the reference's machine",
    "hopt_backend": "search backend (wandb-bayes there; the kit defaults to optuna-tpe, docs/deviations.md)",
    "num_hopt_trials": "search budget of the reference's machine",
    "seed": "the cell's seed is the tuned trial's; evaluate sets seed = 0..9 per run in both",
    "metrics_params.nearest_params.broadcast_backend": "the reference's k-NN implementation switch",
}


@dataclass(frozen=True)
class Conversion:
    """Where the kit states a reference value differently: ``reference`` keys -> ``kit`` keys (stage-level)."""

    families: str  # fnmatch pattern over family names
    reference: dict
    kit: dict
    deviation: str  # the entry of docs/deviations.md, "Paper grid" section
    stages: tuple = (0, 1)


CONVERSIONS = [
    # DSML's target distribution: the reference's patch fixes its dim at 128, so the reference's 512-D DSML cells
    # pair 128-D class targets with 512-D embeddings; the kit's loglike head takes the target's dim from the
    # model's distribution (pml_core/heads/loglike.py), which says the same at 128-D and is right at 512-D.
    Conversion("dsml", {"model_params.classifier_params.target_distribution_params.dim": 128},
               {"model_params.classifier_params.target_distribution_params": None}, "DSML target dim"),
    Conversion("dsml-gmm", {"model_params.classifier_params.target_distribution_params.dim": 128}, {},
               "DSML target dim"),
    # dul-reg-cont-mls-*: the reference's patch sets the MLS scorer for both stages, and stage 0 is a Dirac model,
    # which has no MLS (the reference raises, the kit refuses the config); stage 0 scores with cosine, as the
    # reference's own dul-reg-cont-cls-mls-* and dul-reg-cont-mls-cosface-bn patches do.
    Conversion("dul-reg-cont-mls-arcface", {"model_params.scorer_type": "mls"}, {"model_params.scorer_type": "cosine"},
               "MLS scorer of a Dirac stage 0", stages=(0,)),
    Conversion("dul-reg-cont-mls-cosface", {"model_params.scorer_type": "mls"}, {"model_params.scorer_type": "cosine"},
               "MLS scorer of a Dirac stage 0", stages=(0,)),
    # dul-reg-head-cont-cls-*: the reference's patch lacks the `head` modifier's freeze_stem, so it is the same config
    # as dul-reg-cont-cls-* (the cells are identical); the kit freezes the stem in stage 1, as every other -head-
    # family. The reference's runs are the kit's dul-reg-cont-cls-* runs.
    Conversion("dul-reg-head-cont-cls-*", {"model_params.embedder_params.freeze_stem": False},
               {"model_params.embedder_params.freeze_stem": True}, "head-cont-cls without freeze_stem", stages=(1,)),
]

# Keys the reference does not have: the value the paper grid holds. ``fix``: the intended behaviour instead of a
# reference bug (docs/deviations.md; the numbers are those of docs/reference.md §12); ``add``: no reference
# counterpart, no effect on the protocol.
KIT_KEYS = {
    # fix: the uniform label sampler cycles through every class (the reference's cursor never advances, 12.1)
    "dataset_params.uniform_sampling_reference": (False, "fix"),
    # fix: In-shop queries retrieve from the gallery (the reference pools query and gallery, 12.11)
    "dataset_params.inshop_protocol": ("query-gallery", "fix"),
    # fix: ReLUs between the extra (uncertainty) head's layers (the reference's extra head is linear, 12.3)
    "model_params.embedder_params.extra_head_relu": (True, "fix"),
    # fix: log I_v exact on the device (the reference's SciPy fallback underflows at D = 512, 12.16)
    "model_params.distribution_params.bessel": ("exact", "fix"),
    # add: the vMF prior term is the reference's regulariser ("kl" would be the true KL, 12.8)
    "model_params.distribution_params.prior": ("regularizer", "add"),
    # fix: loglike priors modes as documented (the reference inverts them, 12.7; no paper family uses priors)
    "model_params.classifier_params.reference_priors_mode": (False, "fix"),
    # fix: vMF-loss scale term uses the class terms' normaliser (the reference mixes approximate and exact, 12.6)
    "model_params.classifier_params.reference_scale_normalizer": (False, "fix"),
    # fix: SPE's paper estimator and epsilon init (the reference implements others, 12.5)
    "model_params.classifier_params.denominator": ("paper", "fix"),
    "model_params.classifier_params.reference_epsilon_init": (False, "fix"),
    # fix: HIB's bias starts at a x the median sample distance (the reference's b = 0 starts every match
    # probability near 0 and the model collapses; docs/deviations.md)
    "initializer_params.hib_bias": ("median", "fix"),
    # add: the scorers' own parameters, at the reference's fixed values: HIB's and ECS's sample counts (a set:
    # one value per scorer), ECS's method; fix: HIB's scale a = softplus(raw) stays positive (docs/deviations.md)
    "model_params.scorer_params": (None, "add"),
    "model_params.scorer_params.num_samples": ({8, 10}, "add"),
    "model_params.scorer_params.method": ("auto", "add"),
    "model_params.scorer_params.positive_scale": (True, "fix"),
    # fix: DSML's class concentrations start at 16 (the reference's start near 1 barely trains; docs/deviations.md)
    "model_params.classifier_params.initial_target_concentration": (16.0, "fix"),
    # add: where the pretrained weights file is (the reference downloads it)
    "model_params.embedder_params.pretrained_path": (None, "add"),
    # add: memory bound of the exact k-NN, no effect on the values
    "metrics_params.nearest_params.memory_budget_mb": (256, "add"),
    # add: 10-fold verification accuracy next to the reference's oracle-threshold max_accuracy (12.10)
    "metrics_params.verification_metrics_params.num_folds": (10, "add"),
    "metrics_params.verification_metrics_params.flip_fusion": (False, "add"),
    # add: machine and debugging settings
    "dataset_params.image_cache": (False, "add"),
    "trainer_params.max_steps_per_epoch": (None, "add"),
    "device": ("auto", "add"),
    # add: the embedded default dataset's parameters (unused by the four paper datasets)
    "dataset_params.glyphs_params.num_classes": (320, "add"),
    "dataset_params.glyphs_params.samples_per_class": (24, "add"),
    "dataset_params.glyphs_params.image_size": (32, "add"),
    "dataset_params.glyphs_params.seed": (0, "add"),
    # add: the face sets' verification bins a config asks for (None: every bin the folder holds)
    "dataset_params.verification_bins": (None, "add"),
}


def _flatten(tree, prefix: str = "") -> dict:
    """Nested mappings -> dotted keys; an empty mapping is None; lists stay values."""
    out = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, path + "."))
        else:
            out[path] = None if value == {} else value
    return out


def _drop_null_parents(flat: dict) -> dict:
    """A None mapping whose keys are also given (defaults under a ``criterion_params: null``) is not a value."""
    parents = {key.rsplit(".", i)[0] for key in flat for i in range(1, key.count(".") + 1)}
    return {key: value for key, value in flat.items() if not (value is None and key in parents)}


def _spec(spec: dict) -> dict:
    """A search spec in one spelling: categorical = ``values`` only; ``distribution`` explicit otherwise."""
    spec = dict(spec)
    if "values" in spec:
        spec.pop("distribution", None)
    else:
        spec.setdefault("distribution", "uniform")
    return spec


# ----------------------------------------------------------------------------------------------------------------
# The reference side


def _reference_stage(cell: dict, index: int) -> tuple[dict, dict]:
    """Stage ``index`` of a reference cell over the reference defaults: (values, search specs), kit key names."""
    stage_prefix = f"stages[{index}]."
    layered = {k: v for k, v in cell.items() if not k.startswith("stages")}
    layered.update({k[len(stage_prefix):]: v for k, v in cell.items() if k.startswith(stage_prefix)})
    values, specs, metrics = {}, {}, {}
    for key, value in layered.items():
        if "_hopt." in key:
            node, rest = key.split("_hopt.", 1)
            name, field = rest.rsplit(".", 1)
            specs.setdefault(node + name, {})[field] = value
        elif key.startswith("metrics_params.test_classification_metrics["):
            position, field = key[len("metrics_params.test_classification_metrics["):].split("].", 1)
            metrics.setdefault(int(position), {})[field] = value
        else:
            values[key] = value
    flat = _flatten(copy.deepcopy(DEFAULTS["config"]))
    flat.pop("stages")
    defaults_metrics = flat.pop("metrics_params.test_classification_metrics")
    flat.update(values)
    flat = _drop_null_parents(flat)
    components = DEFAULTS["components"]
    for params_path, (type_path, kind) in config.COMPONENT_PARAMS.items():
        if params_path == "trainer_params.classifier_optimizer_params":
            continue  # a patch of optimizer_params, compared as given
        name = flat.get(type_path)
        if name is None or kind not in components:
            continue  # no such component in the reference (the kit's scorer_params)
        merged = {f"{params_path}.{k}": v for k, v in _flatten(components[kind][name]).items()}
        merged.update({k: v for k, v in flat.items() if k.startswith(params_path + ".")})
        flat = {k: v for k, v in flat.items() if not k.startswith(params_path + ".") and k != params_path}
        flat.update(merged)
        flat = _drop_null_parents(flat)
    # The metric list: reference entries {type, params} -> the kit's names + nearest_params.
    entries = [metrics[i] for i in sorted(metrics)] or [{"type": e["type"], **_flatten(e["params"], "params.")}
                                                          for e in defaults_metrics]
    flat["metrics_params.test_classification_metrics"] = [entry["type"] for entry in entries]
    nearest = _flatten(defaults_metrics[0]["params"])
    for entry in entries:
        if entry["type"] == "nearest":
            nearest.update({k[len("params."):]: v for k, v in entry.items() if k.startswith("params.")})
    flat.update({f"metrics_params.nearest_params.{k}": v for k, v in nearest.items()})
    return flat, {key: _spec(spec) for key, spec in specs.items()}


# ----------------------------------------------------------------------------------------------------------------
# The kit side


def _kit_stage(raw: dict, cfg, index: int) -> tuple[dict, dict]:
    """Stage ``index`` of the kit's composed run: (resolved values, search specs)."""
    resolved = resolved_dict(stage_config(cfg, index))
    resolved.pop("stages")
    flat = _drop_null_parents(_flatten(resolved))
    specs = {}
    for key, spec in hopt_specs(raw).items():
        if not key.startswith("stages."):
            specs[key] = _spec(spec)
    for key, spec in hopt_specs(raw).items():
        if key.startswith(f"stages.{index}."):
            specs[key[len(f"stages.{index}."):]] = _spec(spec)
    return flat, specs


# ----------------------------------------------------------------------------------------------------------------
# Comparison


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None or isinstance(a, str) or isinstance(b, str):
        return type(a) is type(b) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def _num_stages(cell: dict) -> int:
    indexes = {int(k[len("stages["):].split("]")[0]) for k in cell if k.startswith("stages[")}
    return max(indexes) + 1 if indexes else 1


def compare_cell(name: str, configs_root: Path = CONFIGS_ROOT, overrides: list[str] = ()) -> tuple[list[str], set]:
    """(every difference between the kit's composition of reference cell ``name`` and the reference's cell,
    the indexes of the CONVERSIONS that applied)."""
    family, dim, dataset = name.rsplit("-", 2)
    cell = CELLS[name]
    raw = run_config_dict("paper", dataset, family, int(dim), 0, list(overrides), configs_root)
    cfg = parse_config(raw)
    stages = _num_stages(cell)
    kit_stages = max(1, len(cfg.stages or []))
    if kit_stages != stages:
        return [f"{name}: {kit_stages} stages, the reference has {stages}"], set()
    problems, used = [], set()
    for index in range(stages):
        ref, ref_specs = _reference_stage(cell, index)
        kit, kit_specs = _kit_stage(raw, cfg, index)
        for number, conversion in enumerate(CONVERSIONS):
            if fnmatch.fnmatch(family, conversion.families) and index in conversion.stages:
                if all(key in ref and _same(ref[key], value) for key, value in conversion.reference.items()):
                    for key in conversion.reference:
                        del ref[key]
                    ref.update(conversion.kit)
                    used.add(number)
        where = f"{name} stage {index}"
        for key in sorted(set(ref) | set(kit)):
            if key in SKIPPED:
                continue
            if key not in kit:
                problems.append(f"{where}: {key} = {ref[key]!r} in the reference, absent in the kit")
            elif key not in ref:
                if key not in KIT_KEYS:
                    problems.append(f"{where}: {key} = {kit[key]!r} is a kit key missing from KIT_KEYS")
                elif not (kit[key] in KIT_KEYS[key][0] if isinstance(KIT_KEYS[key][0], set)
                          else _same(kit[key], KIT_KEYS[key][0])):
                    problems.append(f"{where}: {key} = {kit[key]!r}, KIT_KEYS says {KIT_KEYS[key][0]!r}")
            elif not _same(ref[key], kit[key]):
                problems.append(f"{where}: {key} = {kit[key]!r}, the reference has {ref[key]!r}")
        for key in sorted(set(ref_specs) | set(kit_specs)):
            if not _same(ref_specs.get(key), kit_specs.get(key)):
                problems.append(f"{where}: search space of {key} = {kit_specs.get(key)!r}, "
                                f"the reference has {ref_specs.get(key)!r}")
    return problems, used


# ----------------------------------------------------------------------------------------------------------------
# Tests


@pytest.fixture(scope="module", autouse=True)
def _read_each_file_once():
    """544 compositions read the same few YAML files: parse each once (the composition itself is unchanged)."""
    parsed: dict = {}
    load = config.load_yaml

    def cached(path):
        key = str(Path(path).resolve())
        if key not in parsed:
            parsed[key] = load(path)
        return copy.deepcopy(parsed[key])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(config, "load_yaml", cached)
        yield


def _marked_kit_additions() -> set[str]:
    return {path.stem for path in (CONFIGS_ROOT / "methods").glob("*.yaml")
            if "# Kit addition:" in path.read_text()}


def test_methods_are_the_paper_families_plus_marked_additions():
    assert len(FAMILIES) == 68 and len(CELLS) == 544
    additions = _marked_kit_additions()
    assert set(available_methods()) - additions == set(FAMILIES)
    assert not additions & set(FAMILIES)
    methods_doc = (ROOT / "docs" / "methods.md").read_text()
    for family in FAMILIES:
        assert f"| `{family}` |" in methods_doc, f"docs/methods.md does not list {family}"
    for family in additions:
        assert f"| `{family}` (kit addition) |" in methods_doc, f"docs/methods.md does not mark {family}"


def test_paper_grid_is_the_reference_grid():
    paper = profile_grid("paper")
    runs = paper["methods"] + paper["variants"]
    assert sorted(runs) == FAMILIES and len(set(runs)) == len(runs)
    assert sorted(paper["datasets"]) == sorted(REFERENCE["datasets"]) and paper["dims"] == [128, 512]
    grouped = [variant for variants in paper["ablations"].values() for variant in variants]
    assert len(grouped) == len(set(grouped)) and set(grouped) <= set(paper["variants"])
    assert set(paper["variants"]) <= set(grouped) | set(paper["ablations"])  # every variant is in the table
    assert set(paper["ablations"]) <= set(runs)
    # table_ablations rows: each base recipe followed by its variants, every variant once.
    from pml_core.report.paper import ablation_methods, grid_slice

    rows = ablation_methods(grid_slice("paper"))
    assert len(rows) == len(set(rows)) and set(paper["variants"]) <= set(rows)
    for variant in (v for v in paper["variants"] if v.startswith("dul-reg-") and "cont" in v):
        base = "dul-reg-cont-arcface" if variant.endswith("-arcface") else "dul-reg-cont-cosface"
        assert variant == base or variant in paper["ablations"][base], variant


@pytest.mark.parametrize("family", FAMILIES)
def test_cells_compose_as_in_the_reference(family):
    problems = []
    for name in (n for n in CELLS if n.rsplit("-", 2)[0] == family):
        problems += compare_cell(name)[0]
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:40])


def test_every_conversion_is_used_and_documented():
    used = set()
    for name in CELLS:
        if any(fnmatch.fnmatch(name.rsplit("-", 2)[0], c.families) for c in CONVERSIONS):
            used |= compare_cell(name)[1]
    assert used == set(range(len(CONVERSIONS)))
    deviations = (ROOT / "docs" / "deviations.md").read_text()
    section = deviations[deviations.index("## Paper grid"):]
    for conversion in CONVERSIONS:
        assert f"**{conversion.deviation}**" in section, conversion.deviation
    for key, (_, kind) in KIT_KEYS.items():
        if kind == "fix":
            assert re.search(rf"[`.]{key.rsplit('.', 1)[-1]}\b", deviations), key


def test_the_comparison_sees_a_changed_value(tmp_path):
    # A tuned value one ulp off, a kit key flipped, a search space and a stage key changed: each is reported.
    name = "dul-reg-arcface-128-cub200"
    lr = CELLS[name]["trainer_params.optimizer_params.lr"]
    problems, _ = compare_cell(name, overrides=[f"trainer_params.optimizer_params.lr={lr * (1 + 2**-52)!r}",
                                                "model_params.embedder_params.extra_head_relu=false"])
    assert any("optimizer_params.lr" in p for p in problems) and any("extra_head_relu" in p for p in problems)
    root = tmp_path / "configs"
    shutil.copytree(CONFIGS_ROOT, root)
    method = root / "methods" / "dul-reg-arcface.yaml"
    method.write_text(method.read_text().replace("freeze_classifier: true", "freeze_classifier: false")
                      .replace("min: 0.0, max: 1.0}", "min: 0.0, max: 2.0}"))
    problems, _ = compare_cell(name, configs_root=root)
    assert any("stage 1: model_params.freeze_classifier" in p for p in problems), problems
    assert any("stage 0: search space of model_params.classifier_params.margin" in p for p in problems), problems
    assert not compare_cell(name)[0]
