"""Arguments shared by the training commands."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..config import Config, compose, parse_config


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", action="append", required=True, metavar="C",
                        help="YAML config; repeat to compose (later files patch earlier ones)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override one key, e.g. --set trainer_params.num_epochs=2 (value parsed as YAML)")
    parser.add_argument("data_root", type=Path, metavar="DATA_ROOT", help="folder holding the datasets")


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--train-root", type=Path, required=True, metavar="R",
                        help="run folder: checkpoints, logs, metrics.json (an interrupted run there resumes)")
    parser.add_argument("--logger", default="tensorboard",
                        help="tensorboard (default) | none | wandb:<project>:<experiment>[:<group>]")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def print_json(data: dict) -> None:
    """Print a command's result as JSON, once (on rank 0 under torchrun)."""
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(data, indent=2, sort_keys=True))


def load_config(args: argparse.Namespace) -> Config:
    return parse_config(compose(args.config, args.overrides))
