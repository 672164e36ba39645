"""``trace-embedder``: export the embedder of a checkpoint for deployment (TorchScript or torch.export).

The reference's command of the same name: the embedder (images -> distribution parameters) is traced on the
first batch of the first test set and saved. ``torch.jit.load(FILE)(images)`` (``--format torchscript``, the
default) or ``torch.export.load(FILE).module()(images)`` (``--format export``) then gives the (B, P) parameters
without the kit, for images prepared by the config's test transform.
"""

from __future__ import annotations

from pathlib import Path

from .common import add_config_arguments, load_config, print_json


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("trace-embedder", help="export a trained embedder (TorchScript or torch.export)",
                                   description=__doc__)
    add_config_arguments(parser)
    parser.add_argument("--checkpoint", type=Path, required=True, metavar="K",
                        help="a .pth written by train, e.g. RUN/checkpoints/stage-1/best.pth")
    parser.add_argument("--output", "--trace-output", type=Path, required=True, metavar="F", dest="output",
                        help="the file to write (--trace-output: the reference's name)")
    parser.add_argument("--format", choices=("torchscript", "export"), default="torchscript",
                        help="torchscript (torch.jit.trace, the reference's; default) or export (torch.export, "
                             "dynamic batch size)")
    parser.add_argument("--batch-size", type=int, default=None, metavar="B",
                        help="size of the tracing batch (default: the config's batch size)")
    parser.add_argument("--device", default="cpu", help="device to trace on (default cpu)")
    parser.set_defaults(func=run)


def run(args) -> int:
    cfg = load_config(args)  # before importing torch: a bad config fails at once
    from ..errors import ConfigError
    from ..experiments.export import export_embedder

    if args.batch_size is not None and args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {args.batch_size}")
    print_json(export_embedder(cfg, args.checkpoint, args.data_root, args.output, format=args.format,
                               batch_size=args.batch_size, device=args.device).to_json())
    return 0
