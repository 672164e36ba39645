"""Distributed data parallel under ``torchrun``: process group from the env vars, rank helpers.

``torchrun --nproc_per_node N -m pml_core train ...`` sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``; `init_from_env` then joins the group (nccl on CUDA, gloo on CPU).
Batches are sharded by rank (each rank trains on every N-th batch of the shared sampler order),
gradients are averaged by DistributedDataParallel, validation and testing run on rank 0 only and their
results are broadcast, so every rank takes the same selection and early-stopping decisions.
"""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_from_env(device_name: str = "auto") -> bool:
    """Join the torchrun process group when WORLD_SIZE > 1; True when this call created it."""
    if env_world_size() <= 1 or dist.is_initialized():
        return False
    use_cuda = torch.cuda.is_available() and device_name != "cpu"
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return True


def shutdown(created: bool) -> None:
    """Leave the group this process created. On a normal exit all ranks meet first, so that none tears its
    connections down while another still finishes its last collective (gloo then aborts the late rank);
    when an exception is propagating (called from a ``finally``) there is no barrier, which could hang."""
    if created and dist.is_initialized():
        if sys.exc_info()[0] is None:
            dist.barrier()
        dist.destroy_process_group()


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if active():
        dist.barrier()


def broadcast(value):
    """Rank 0's ``value`` (any picklable object) on every rank."""
    if not active():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def local_device(device: torch.device) -> torch.device:
    """The rank's own GPU under torchrun (``cuda:LOCAL_RANK``); unchanged otherwise."""
    if active() and device.type == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def mean_over_ranks(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Average a dict of floats over the ranks (same keys on every rank)."""
    if not active() or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64,
                          device=device if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(tensor)
    tensor /= dist.get_world_size()
    return dict(zip(keys, tensor.tolist()))
