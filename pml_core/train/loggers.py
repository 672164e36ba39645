"""Experiment loggers: TensorBoard (default), Weights & Biases (``wandb:<project>:<experiment>[:<group>]``), none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError


class Logger:
    """Does nothing; the interface of every logger."""

    def log_config(self, config: dict) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        pass

    def log_hparams(self, hparams: dict, metrics: dict[str, float]) -> None:
        pass

    def close(self) -> None:
        pass


class TensorBoardLogger(Logger):
    def __init__(self, log_dir: str | Path):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir))

    def log_config(self, config: dict) -> None:
        from .. import config as config_module

        self.writer.add_text("config", "```\n" + config_module.dump_yaml(config) + "\n```")

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        for key, value in metrics.items():
            if isinstance(value, (int, float)):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def log_hparams(self, hparams: dict, metrics: dict[str, float]) -> None:
        clean = {k: v for k, v in hparams.items() if isinstance(v, (int, float, str, bool))}
        finite = {f"hparam/{k}": v for k, v in metrics.items() if isinstance(v, (int, float))}
        self.writer.add_hparams(clean, finite, run_name=".")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbLogger(Logger):
    """Logs to wandb; works offline (``WANDB_MODE=offline``) and never needs a key in a file."""

    def __init__(self, project: str, experiment: str, group: str | None, log_dir: str | Path, aliases=None):
        try:
            import wandb
        except ImportError:
            raise ConfigError("--logger wandb needs the wandb package: pip install -e '.[wandb]'") from None
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(project=project, name=experiment, group=group, dir=str(log_dir), reinit="create_new")
        self.aliases = aliases
        self.owns_run = True

    @classmethod
    def from_run(cls, run, aliases=None) -> "WandbLogger":
        """Log into an existing run (a sweep agent's); ``aliases(key)`` gives an extra name per metric."""
        logger = cls.__new__(cls)
        logger.run, logger.aliases, logger.owns_run = run, aliases, False
        return logger

    def log_config(self, config: dict) -> None:
        self.run.config.update(flatten(config), allow_val_change=True)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        values = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        if self.aliases is not None:
            values.update({self.aliases(k): v for k, v in list(values.items()) if self.aliases(k)})
        self.run.log(values, step=step)

    def log_hparams(self, hparams: dict, metrics: dict[str, float]) -> None:
        self.run.summary.update({k: v for k, v in metrics.items() if isinstance(v, (int, float))})

    def close(self) -> None:
        if self.owns_run:
            self.run.finish()


def flatten(tree: Any, prefix: str = "") -> dict:
    """Nested dicts/lists -> ``{"a.b.0.c": value}``."""
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, list) and any(isinstance(v, (dict, list)) for v in tree):
        items = enumerate(tree)
    else:
        return {prefix.rstrip("."): tree} if prefix else {}
    flat = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}{key}."))
    return flat


def create_logger(spec: str | None, root: str | Path) -> Logger:
    """``tensorboard`` (default) | ``wandb:<project>:<experiment>[:<group>]`` | ``none``."""
    spec = spec or "tensorboard"
    if spec == "none":
        return Logger()
    if spec == "tensorboard":
        return TensorBoardLogger(Path(root) / "tensorboard")
    if spec.startswith("wandb"):
        parts = spec.split(":")
        if len(parts) not in (3, 4) or not all(parts[1:3]):
            raise ConfigError(f"--logger {spec!r}: expected wandb:<project>:<experiment>[:<group>]")
        return WandbLogger(parts[1], parts[2], parts[3] if len(parts) == 4 else None, Path(root))
    raise ConfigError(f"--logger {spec!r}: expected tensorboard, none or wandb:<project>:<experiment>[:<group>]")


class EchoLogger(Logger):
    """Another logger plus one progress line per epoch through ``echo``:
    ``"<prefix>: epoch 4/10, loss 2.31, valid/mapr 0.412 (3 s)"`` (what ``grid`` prints while it trains).

    ``total_epochs`` counts every stage (the loop's step is the global epoch); ``watch`` names the logged
    metric to show beside the loss (the run's selection metric) when the epoch has it.
    """

    def __init__(self, inner: Logger, echo, prefix: str, total_epochs: int, watch: str | None = None):
        self.inner, self.echo, self.prefix = inner, echo, prefix
        self.total_epochs, self.watch = total_epochs, watch

    def log_config(self, config: dict) -> None:
        self.inner.log_config(config)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.inner.log_metrics(metrics, step)
        parts = [f"epoch {step}/{self.total_epochs}"]
        if isinstance(metrics.get("train/loss"), (int, float)):
            parts.append(f"loss {metrics['train/loss']:.4g}")
        if self.watch and isinstance(metrics.get(self.watch), (int, float)):
            parts.append(f"{self.watch} {metrics[self.watch]:.4g}")
        seconds = metrics.get("seconds")
        self.echo(f"{self.prefix}: {', '.join(parts)}" + (f" ({seconds:.0f} s)" if seconds is not None else ""))

    def log_hparams(self, hparams: dict, metrics: dict[str, float]) -> None:
        self.inner.log_hparams(hparams, metrics)

    def close(self) -> None:
        self.inner.close()
