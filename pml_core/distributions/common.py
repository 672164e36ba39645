"""Pieces shared by the distributions: parameter broadcasting for sampling and the BatchNorm normaliser."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BatchNormNormalizer", "expand_for_sample", "check_last_dim"]


def check_last_dim(params: torch.Tensor, expected: int, name: str) -> None:
    if params.shape[-1] != expected:
        raise ValueError(f"{name} expects flat parameters with last dimension {expected}, got shape {tuple(params.shape)}")


def expand_for_sample(params: torch.Tensor, size) -> torch.Tensor:
    """(B..., P) -> (*size, P): append singleton axes after the batch axes, then broadcast (docs/reference.md §1.2).

    ``size`` must start with axes broadcast-compatible with the batch axes B....
    """
    size = tuple(size)
    batch = params.shape[:-1]
    if len(size) < len(batch):
        raise ValueError(f"sample size {size} has fewer axes than the parameter batch {tuple(batch)}")
    view = params.reshape(*batch, *([1] * (len(size) - len(batch))), params.shape[-1])
    return view.expand(*size, params.shape[-1])


class BatchNormNormalizer(nn.Module):
    """BatchNorm1d over the slice [begin, end) of the flat parameter vector, other entries passed through.

    The affine weight is fixed to 1 (not trainable), the bias is trainable; eps 1e-5, momentum 0.1,
    running statistics (docs/reference.md §1.2). Input (..., P) -> output (..., P).
    """

    def __init__(self, num_parameters: int, begin: int, end: int):
        super().__init__()
        self.num_parameters = num_parameters
        self.begin = begin
        self.end = end
        self.bn = nn.BatchNorm1d(end - begin)
        self.bn.weight.requires_grad_(False)

    def forward(self, params: torch.Tensor) -> torch.Tensor:
        check_last_dim(params, self.num_parameters, "BatchNormNormalizer")
        flat = params.reshape(-1, params.shape[-1])
        normed = self.bn(flat[:, self.begin : self.end])
        out = torch.cat([flat[:, : self.begin], normed, flat[:, self.end :]], dim=-1)
        return out.reshape(params.shape)
