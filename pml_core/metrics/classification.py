"""Classification metrics of a classifier (docs/reference.md §6.1): top-1 accuracy of its logits and the
statistics of the positive scores (the scorer of each embedding and its class's target).

Accumulators over the batches of a loader, so that a train epoch needs no second pass; the values
equal one computation over the concatenated batches (``accuracy01`` = correct / total, the
reference's sample-weighted catalyst mean; ``positive_scores/std`` = unbiased std, as ``torch.std``).
"""

from __future__ import annotations

import math

import torch


class ClassificationAccumulator:
    """``update(logits (B, C) or None, labels (B,), positive_scores (B,) or None)`` per batch, then `compute`."""

    def __init__(self, accuracy: bool, scores: bool):
        self.accuracy, self.scores = accuracy, scores
        self.correct = self.count = None
        self.positive: list[torch.Tensor] = []

    def update(self, labels: torch.Tensor, logits: torch.Tensor | None = None,
               positive_scores: torch.Tensor | None = None) -> None:
        if self.accuracy:
            hits = (logits.detach().argmax(dim=-1) == labels).sum()
            self.correct = hits if self.correct is None else self.correct + hits  # a tensor: no host sync per batch
            self.count = len(labels) + (self.count or 0)
        if self.scores:
            self.positive.append(positive_scores.detach().float().reshape(-1))

    def compute(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.accuracy:
            out["accuracy01"] = float(self.correct) / self.count if self.count else math.nan
        if self.scores:
            scores = torch.cat(self.positive) if self.positive else torch.zeros(0)
            out["positive_scores/mean"] = float(scores.mean()) if len(scores) else math.nan
            out["positive_scores/std"] = float(scores.std()) if len(scores) > 1 else math.nan
        return out
