"""Losses (docs/reference.md §4): `build_criterion(criterion_params, model) -> Criterion`.

The math lives in `pml_core.functional.losses_classification` and `pml_core.functional.losses_metric`.
"""

from .criterion import Criterion, build_criterion

__all__ = ["Criterion", "build_criterion"]
