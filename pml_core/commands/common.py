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


def add_wait_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", action="store_true",
                        help="when another process is training the run folder, wait for it instead of failing "
                             "(a finished run of the same config is then reused)")


def add_launcher_arguments(parser: argparse.ArgumentParser, workers_default: int | None = 1,
                           workers_default_text: str = "1: this process") -> None:
    """``--workers`` / ``--launcher`` and the Slurm options (docs/cluster.md)."""
    group = parser.add_argument_group("workers", "farm the runs out (docs/cluster.md)")
    group.add_argument("--workers", type=int, default=workers_default, metavar="N",
                       help=f"N workers share the runs (default {workers_default_text}). Local: N processes here, "
                            "one GPU each when the runs use CUDA; with --launcher slurm: a job array of N tasks")
    group.add_argument("--launcher", choices=("local", "slurm"), default="local",
                       help="local processes (default) or a Slurm job array through submitit (pip install -e '.[cluster]')")
    group.add_argument("--slurm-partition", default=None, metavar="P", help="Slurm partition of the array tasks")
    group.add_argument("--gpus-per-node", type=int, default=1, metavar="G",
                       help="GPUs per array task (default 1); a task with G > 1 runs G workers, one per GPU")
    group.add_argument("--timeout-min", type=int, default=24 * 60, metavar="M",
                       help="time limit of an array task in minutes (default 1440); a task that reaches it is "
                            "requeued and resumes the run from its last epoch")
    group.add_argument("--slurm-array-parallelism", type=int, default=None, metavar="K",
                       help="at most K array tasks run at once (default: all N)")
    group.add_argument("--launcher-param", action="append", default=[], metavar="KEY=VALUE",
                       help="any other submitit / sbatch parameter, value parsed as YAML, e.g. cpus_per_task=8, "
                            "mem_gb=64, account=proj, qos=high, constraint=a100, setup='[\"module load cuda\"]'")
    group.add_argument("--jobs-folder", type=Path, default=None, metavar="DIR",
                       help="where submitit writes scripts and logs (default: <results>/.submitit/...; must be "
                            "on storage the compute nodes share)")


def launch_options(args: argparse.Namespace):
    """The `pml_core.experiments.workers.Launch` of the parsed launcher arguments."""
    import yaml

    from ..errors import ConfigError
    from ..experiments.workers import Launch

    params = []
    for item in args.launcher_param:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--launcher-param {item!r} is not KEY=VALUE (e.g. --launcher-param cpus_per_task=8)")
        try:
            params.append((key.strip(), yaml.safe_load(value)))
        except yaml.YAMLError as error:
            raise ConfigError(f"--launcher-param {item!r}: the value is not valid YAML ({error})") from None
    slurm_only = args.slurm_partition or args.slurm_array_parallelism or params or args.jobs_folder
    if args.launcher != "slurm" and slurm_only:
        raise ConfigError("--slurm-partition, --slurm-array-parallelism, --launcher-param and --jobs-folder "
                          "need --launcher slurm")
    return Launch(workers=args.workers, launcher=args.launcher, slurm_partition=args.slurm_partition,
                  gpus_per_node=args.gpus_per_node, timeout_min=args.timeout_min,
                  array_parallelism=args.slurm_array_parallelism, params=tuple(params), folder=args.jobs_folder)


def run_protocol_command(args: argparse.Namespace, kind: str) -> int:
    """``evaluate`` / ``cval`` / ``evaluate-cval``: here, or farmed out with --workers / --launcher."""
    from ..experiments.protocols import run_protocol

    options = {} if kind == "cval" else {"from_seed": args.from_seed, "best_k": args.best_k}
    metrics = run_protocol(kind, load_config(args), args.train_root, args.data_root, logger=args.logger,
                           progress=not args.no_progress, wait=args.wait, launch=launch_options(args), **options)
    if metrics is not None:  # None: submitted to Slurm (the message says how to follow it)
        print_json(metrics)
    return 0
