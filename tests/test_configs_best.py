"""configs/best/: every tuned file composes and validates; values match docs/reference.md Appendix A; 512-D is untuned."""

import importlib.util
from pathlib import Path

import pytest
import yaml

from pml_core.config import parse_config, stage_config
from pml_core.experiments.grid import available_datasets, available_methods, run_config_dict

ROOT = Path(__file__).resolve().parents[1]
BEST = ROOT / "configs" / "best"
PAPER_DATASETS = ("cub200", "cars196", "sop", "inshop")


def _split(path: Path) -> tuple[str, int, str]:
    method, dim, dataset = path.stem.rsplit("-", 2)
    return method, int(dim), dataset


BEST_FILES = sorted(BEST.glob("*.yaml"))


def _cfg(method: str, dataset: str, dim: int = 128, profile: str = "paper"):
    return parse_config(run_config_dict(profile, dataset, method, dim, 0))


def _stage0(method: str, dataset: str, dim: int = 128):
    return stage_config(_cfg(method, dataset, dim), 0)


def test_best_file_names():
    methods, datasets = set(available_methods()), set(available_datasets())
    assert len([p for p in BEST_FILES if not p.stem.endswith("-glyphs")]) >= 100
    for path in BEST_FILES:
        method, dim, dataset = _split(path)
        assert method in methods, path.name
        assert dataset in datasets, path.name
        assert dim == 128, path.name


@pytest.mark.parametrize("path", BEST_FILES, ids=lambda p: p.stem)
def test_best_file_validates(path):
    method, dim, dataset = _split(path)
    profile = "smoke" if dataset == "glyphs" else "paper"
    cfg = parse_config(run_config_dict(profile, dataset, method, dim, 0))  # validates every stage
    if dataset != "glyphs":
        assert path.read_text().startswith("# docs/reference.md Appendix A: ")
        patch = yaml.safe_load(path.read_text())
        assert cfg.trainer_params.optimizer_params["lr"] == patch["trainer_params"]["optimizer_params"]["lr"]


def test_generator_up_to_date():
    spec = importlib.util.spec_from_file_location("make_best_configs", ROOT / "tools" / "make_best_configs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    files = module.expected_files()
    on_disk = {p for p in BEST_FILES if not p.stem.endswith("-glyphs")}
    assert set(files) == on_disk
    for path, text in files.items():
        assert path.read_text() == text, f"{path.name} differs from tools/make_best_configs.py output"


def _trainer(cfg):
    t = cfg.trainer_params
    return t.optimizer_params["lr"], t.classifier_optimizer_params["lr"], t.scheduler_params["gamma"]


def test_spot_checks_single_stage():
    cfg = _cfg("arcface", "cars196")
    assert _trainer(cfg) == (7.26e-4, 9.149e-3, 0.3845)
    assert cfg.model_params.classifier_params["scale"] == 11.29
    assert cfg.model_params.classifier_params["margin"] == 0.05898
    assert cfg.trainer_params.optimizer_params["weight_decay"] == 1e-4
    ms = _cfg("multi-similarity", "sop").criterion_params.multi_similarity_params
    assert (ms.margin, ms.threshold, ms.positive_scale, ms.negative_scale) == (0.9264, 0.6037, 2.921, 61.13)
    vmf = _cfg("vmf-loss", "cub200").model_params.classifier_params
    assert (vmf["initial_log_scale"], vmf["kappa_confidence"]) == (0.7487, 0.8059)
    assert _cfg("vmf-loss-det", "cub200").model_params.classifier_params["initial_log_scale"] == 0.7487
    hib = _cfg("hib", "cub200")
    assert hib.criterion_params.prior_kld_weight == 1.267e-6
    assert _trainer(hib) == (3.587e-5, 6.055e-3, 0.9967)
    pa = _cfg("proxy-anchor", "sop").model_params.classifier_params
    assert (pa["scale"], pa["margin"]) == (10.62, 0.2079)
    assert _cfg("proxy-anchor", "cub200").model_params.classifier_params["scale"] == 32
    assert _trainer(_cfg("proxy-nca", "cub200")) == (6.434e-5, 2.263e-3, 0.994)
    assert _trainer(_cfg("dsml-gmm", "inshop")) == (1.001e-3, 2.544e-4, 0.9055)
    dul_cls = _cfg("dul-cls-cosface", "inshop")
    assert dul_cls.criterion_params.prior_kld_weight == 2.64e-4
    assert dul_cls.model_params.classifier_params["scale"] == 14.82


def test_spot_checks_two_stage():
    dul = _cfg("dul-reg-arcface", "sop")
    assert _trainer(dul) == (4.238e-5, 7.957e-3, 0.9325)
    s0 = stage_config(dul, 0)
    assert (s0.model_params.classifier_params["scale"], s0.model_params.classifier_params["margin"]) == (13.86, 0.1284)
    s1 = stage_config(dul, 1)
    assert _trainer(s1) == (4.238e-5, 7.957e-3, 0.9325)  # stage 1 reuses the global lr and schedule
    assert s1.model_params.classifier_type == "loglike"
    assert s1.model_params.classifier_params.get("scale") is None

    # pfe-arcface cub200 = arcface cub200 at stage 0.
    pfe, arc = _cfg("pfe-arcface", "cub200"), _cfg("arcface", "cub200")
    pfe0 = stage_config(pfe, 0)
    assert _trainer(pfe0) == _trainer(arc) == (3.481e-4, 1.001e-2, 0.9302)
    for key in ("scale", "margin"):
        assert pfe0.model_params.classifier_params[key] == arc.model_params.classifier_params[key]

    # scl exception and -bn / -cont / -head / -cls / Cars196 rules.
    scl0 = _stage0("scl-gmm-arcface", "cub200")
    assert _trainer(scl0) == (6.362e-5, 5.933e-3, 0.9898)
    assert scl0.model_params.classifier_params["scale"] == 25.52
    assert _stage0("scl-arcface", "cars196").model_params.classifier_params["margin"] == 0.05898
    assert _stage0("scl-cosface-bn", "inshop").model_params.classifier_params["scale"] == 16.44
    assert _trainer(_stage0("dul-reg-vmf-head-cont-cosface", "sop")) == (1.542e-4, 9.235e-3, 0.9162)
    head = _stage0("dul-reg-head-arcface", "cub200")
    assert head.model_params.classifier_params["scale"] == 48.78
    assert _stage0("dul-reg-head-cosface", "inshop").model_params.classifier_params["scale"] == 57.31
    cls = _stage0("dul-reg-cls-arcface", "cub200")
    assert _trainer(cls) == (1.057e-4, 5.036e-3, 0.3496)  # dul-reg-arcface cub200
    assert cls.model_params.classifier_params["scale"] == 60.09  # dul-cls-arcface cub200
    assert cls.criterion_params.prior_kld_weight == 3.338e-3
    cars_cls = _stage0("dul-reg-cont-cls-arcface", "cars196")
    assert _trainer(cars_cls) == (7.26e-4, 9.149e-3, 0.3845)
    assert cars_cls.model_params.classifier_params["margin"] == 0.3141
    assert cars_cls.criterion_params.prior_kld_weight == 6.209e-4
    printed_cls = _stage0("dul-reg-cont-cls-cosface", "sop")
    assert _trainer(printed_cls) == (1.542e-4, 9.271e-3, 0.9162)
    assert printed_cls.model_params.classifier_params["margin"] == 0.9432


def test_512_not_tuned():
    for method, dataset in (("arcface", "cars196"), ("hib", "cub200"), ("dul-reg-arcface", "sop")):
        cfg128 = _cfg(method, dataset, 128)
        cfg512 = _cfg(method, dataset, 512)
        assert _trainer(cfg512) == (1e-4, 1e-3, 0.5)
        assert _trainer(cfg128) != _trainer(cfg512)
    assert _cfg("arcface", "cars196", 512).model_params.classifier_params["scale"] == 64.0
    assert not list(BEST.glob("*-512-*.yaml"))


def test_uncovered_pairs_have_no_file():
    for name in ("pfe-arcface-128-sop", "scl-cosface-128-cub200", "nsoftmax-128-cub200", "spe-l2-128-sop",
                 "dul-reg-ecs-arcface-128-cub200", "dul-cls-cosface-128-cub200", "vanilla-reg-cosface-128-sop"):
        assert not (BEST / f"{name}.yaml").exists(), name
    for dataset in PAPER_DATASETS:
        assert (BEST / f"arcface-128-{dataset}.yaml").is_file()
