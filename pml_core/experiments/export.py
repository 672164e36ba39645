"""Export a trained embedder for deployment: the reference's ``trace-embedder`` (docs/reference.md §9.5).

The embedder of a checkpoint (images -> distribution parameters, the model's ``embed``) is captured on the first
batch of the first test set, as the reference does, and saved in one of two formats that run without the kit:

* ``torchscript`` (default, the reference's): ``torch.jit.trace``; load with ``torch.jit.load(path)``.
* ``export``: ``torch.export`` with a dynamic batch dimension, TorchScript's successor in recent PyTorch (which
  deprecates ``torch.jit``); load with ``torch.export.load(path).module()``.

Either gives the (B, P) distribution parameters for (B, 3, H, W) images prepared by the config's test transform
(resize, centre crop, normalisation). The file also carries the run's last-stage config as ``config.yaml``
(``torch.jit.load(path, _extra_files={"config.yaml": ""})`` / ``torch.export.load(path, extra_files=...)``),
which names the distribution that splits the parameters. ONNX is not offered: it needs the onnx and onnxscript
packages (and onnxruntime to check the result); an ``export`` file converts with ``torch.onnx.export`` where
they are installed.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import Config, dump_yaml, num_stages, stage_config
from ..errors import ConfigError, DataError, RunError
from ..train import checkpoint as ckpt
from ..utils import atomic_path, resolve_device

FORMATS = ("torchscript", "export")
#: Largest |exported - eager| accepted on the tracing batch (float32 round-off of the same operations).
TOLERANCE = 1e-5


@dataclass
class ExportedEmbedder:
    output: Path
    format: str
    input_shape: tuple[int, ...]  # (B, 3, H, W) of the tracing batch
    num_parameters: int  # P, the length of the distribution-parameter vector
    distribution: str
    max_abs_difference: float  # exported module vs the eager model on the tracing batch

    def to_json(self) -> dict:
        return {"output": str(self.output), "format": self.format, "input_shape": list(self.input_shape),
                "num_parameters": self.num_parameters, "distribution": self.distribution,
                "max_abs_difference": self.max_abs_difference}


class Embed(torch.nn.Module):
    """The embedder with the model's float32 output: (B, 3, H, W) -> (B, P), as ``Model.embed``."""

    def __init__(self, embedder: torch.nn.Module):
        super().__init__()
        self.embedder = embedder

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.embedder(images).float()


def example_batch(datasets, dataset_params, batch_size: int | None = None) -> torch.Tensor:
    """(B, 3, H, W) test-transformed images: the first batch of the first test set (else the validation set)."""
    from ..data import build_eval_loader

    for dataset in [*datasets.tests.values(), *datasets.valid.values()]:
        if dataset.classification and len(dataset):
            return next(iter(build_eval_loader(dataset, dataset_params, num_workers=0, batch_size=batch_size)))[0]
    raise DataError("the dataset has no test or validation images to trace the embedder on")


def export_embedder(cfg: Config, checkpoint: str | Path, data_root: str | Path, output: str | Path, *,
                    format: str = "torchscript", batch_size: int | None = None,
                    device: str = "cpu") -> ExportedEmbedder:
    """Export the embedder of ``checkpoint`` (a model of ``cfg``'s last stage) to ``output``."""
    from ..data import build_datasets
    from ..model import build_model

    if format not in FORMATS:
        raise ConfigError(f"export format {format!r} is not one of {', '.join(FORMATS)}")
    try:
        target = resolve_device(device)
    except RuntimeError:
        raise ConfigError(f"--device {device!r} is not a device; use cpu, cuda, cuda:N or auto") from None
    if target.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device!r}: no CUDA device here; use --device cpu")
    output = Path(output)
    if output.is_dir():
        raise RunError(f"--output {output} is a folder; give the file to write, e.g. {output / 'embedder.pt'}")
    last = stage_config(cfg, num_stages(cfg) - 1)
    datasets = build_datasets(last.dataset_params, data_root)
    model_params = last.model_params
    if model_params.embedder_type == "cnn":  # every weight comes from the checkpoint: no ImageNet file needed
        model_params = dataclasses.replace(model_params, embedder_params={**(model_params.embedder_params or {}),
                                                                          "pretrained": False})
    model = build_model(model_params, num_classes=datasets.train.num_classes,
                        priors=getattr(datasets.train, "priors", None))
    ckpt.load_model_state(model, ckpt.load_checkpoint(checkpoint)["model"])
    model = model.to(target).eval()
    images = example_batch(datasets, last.dataset_params, batch_size).to(target)
    embedder = Embed(model.embedder).eval()
    extra = {"config.yaml": dump_yaml(last.to_dict())}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")  # deprecation notices
        expected = model.embed(images)
        if format == "torchscript":
            exported = torch.jit.trace(embedder, images, check_trace=False)
            difference = _difference(exported(images), expected)
        else:
            batch = torch.export.Dim("batch", min=1)
            program = torch.export.export(embedder, (images,), dynamic_shapes=({0: batch},))
            difference = _difference(program.module()(images), expected)
        if not difference <= TOLERANCE:  # NaN fails too
            raise RunError(f"the exported embedder differs from the model by {difference:.3g} on the tracing batch "
                           f"(tolerance {TOLERANCE}): the embedder has input-dependent control flow")
        with atomic_path(output) as tmp:
            if format == "torchscript":
                torch.jit.save(exported, str(tmp), _extra_files=extra)
            else:
                torch.export.save(program, str(tmp), extra_files=extra)
    return ExportedEmbedder(output, format, tuple(images.shape), int(expected.shape[-1]),
                            last.model_params.distribution_type, difference)


def _difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max()) if b.numel() else 0.0
