"""``python -m pml_core data check NAME ROOT [--config C ...] [--strict] [--json]``: layout check, split summary
and verdict of a dataset (`pml_core.data.check`)."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("data", help="dataset utilities (check a prepared dataset)",
                                   description="Dataset utilities.")
    commands = parser.add_subparsers(dest="data_command", metavar="{check}")
    commands.required = True
    check = commands.add_parser(
        "check", help="check a dataset's layout and print its split summary",
        description="Build dataset NAME from ROOT as a run would (the splits, validation fold and batch of the "
                    "given configs, else of configs/base.yaml + the configs/datasets file naming NAME), decode a "
                    "few images and compare the counts with the official ones. Exit status 1 on a problem (what "
                    "would stop a run); differences from the official counts or bins are warnings, problems "
                    "with --strict.")
    check.add_argument("name", metavar="NAME", help="dataset name (glyphs, imagefolder, cub200-openset, ...)")
    check.add_argument("root", metavar="ROOT", help="data root folder (for imagefolder: the image folder)")
    check.add_argument("--config", action="append", default=[], metavar="C",
                       help="the YAML configs of your run, in the train command's order (repeatable)")
    check.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                       help="override one key of the composed config, as train --set")
    check.add_argument("--strict", action="store_true", help="differences from the official form are problems")
    check.add_argument("--json", action="store_true", help="print the summary as JSON")
    check.set_defaults(func=run)
    parser.set_defaults(func=run)
    return parser


def _split_line(split: str, info: dict) -> str:
    details = ", ".join(f"{key} {value}" for key, value in info.items() if value is not None and key != "kind")
    return f"  {split}: {details}"


def print_result(result: dict) -> None:
    """The human-readable summary of a `check_dataset` result."""
    configs = " + ".join(result["configs"]) or "dataset defaults"
    print(f"[{'ok' if result['ok'] else 'FAILED'}] {result['name']} at {result['root']} (config: {configs})")
    splits = result["splits"]
    for split, info in splits.items():
        if split == "train-fit":
            fold = result["validation"]
            print(_split_line(f"train-fit (train without validation fold {fold['fold']} of {fold['num_folds']})",
                              info))
        else:
            print(_split_line(split, info))
        if split == "train" and "valid" not in splits and splits:
            print("  valid: none (dataset_params.validation_fold is null)")
    batch = result["batch"]
    if batch:
        kind = (f"{batch['batch_size'] // batch['samples_per_class']} classes x {batch['samples_per_class']} images"
                if batch["samples_per_class"] and batch["batch_size"] > 0 else "plain shuffled")
        print(f"  batches: batch_size {batch['batch_size']} ({kind}), train_repeat {batch['train_repeat']}: "
              f"{batch['batches_per_epoch']} per epoch")
    for warning in result["warnings"] if not result["strict"] else []:
        print(f"  warning: {warning}")
    for problem in result["problems"]:
        print(f"  problem: {problem}")


def run(args) -> int:
    from ..data.check import check_dataset

    result = check_dataset(args.name, args.root, strict=args.strict, configs=args.config, overrides=args.overrides)
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print_result(result)
    return 0 if result["ok"] else 1
