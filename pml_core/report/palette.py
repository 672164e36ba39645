"""One colour and one marker per method, the same in every figure (keyed by the method's config id).

The probabilistic families get the most distinct colours (Okabe-Ito hues; the CosFace sibling of an
ArcFace-based family a lighter tint of its hue); a design-choice variant takes the colour of its base
method (``configs/grids/paper.yaml``, ``ablations``) and a marker of its own; an id the kit does not
know gets a colour derived from its name, stable across figures and runs.
"""

from __future__ import annotations

import zlib
from functools import lru_cache

import matplotlib.colors as mcolors

COLOURS = {
    # probabilistic
    "pfe-arcface": "#0072B2", "pfe-cosface": "#56B4E9",
    "scl-arcface": "#D55E00", "scl-cosface": "#F4A582",
    "dul-reg-arcface": "#009E73", "dul-reg-cosface": "#7FD4B9",
    "dul-cls-arcface": "#CC79A7", "dul-cls-cosface": "#E7B9D3", "dul-cls-vmf-cosface": "#8E3B6B",
    "vmfmm": "#E69F00", "vmfmm-mls": "#A87400", "vmfmm-ecs": "#F5C96B", "vmfmm-gmm": "#6B4A00",
    "hib": "#000000",
    "spe": "#7F7F7F", "spe-l2": "#BDBDBD",
    "vmf-loss": "#8C564B", "vmf-loss-det": "#C49C94",
    "vmf": "#9467BD",
    "vanilla-reg-arcface": "#BCBD22", "vanilla-reg-cosface": "#DBDB8D",
    # deterministic
    "arcface": "#17BECF", "cosface": "#9EDAE5", "cosface-bn": "#0E8C99",
    "nsoftmax": "#7B4173", "proxy-anchor": "#637939", "proxy-nca": "#AD494A",
    "multi-similarity": "#843C39", "dsml": "#393B79", "dsml-gmm": "#6B6ECF",
}
MARKERS = "osD^vP*X<>ph"
FALLBACK = ("#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B", "#E377C2", "#7F7F7F")


@lru_cache(maxsize=1)
def _variant_bases() -> dict[str, str]:
    """variant id -> base method id, from the paper grid's ablations."""
    from ..experiments.grid import profile_grid

    ablations = profile_grid("paper").get("ablations", {})
    return {variant: base for base, variants in ablations.items() for variant in variants}


def _stable_index(text: str, size: int) -> int:
    return zlib.crc32(text.encode()) % size


def method_colour(method: str) -> tuple[float, float, float]:
    """The RGB colour of a method id in every figure."""
    base = _variant_bases().get(method, method)
    colour = COLOURS.get(base) or FALLBACK[_stable_index(base, len(FALLBACK))]
    return mcolors.to_rgb(colour)


def method_marker(method: str) -> str:
    """The marker of a method id (greyscale-readable curves): known ids by their place in `COLOURS`,
    variants and unknown ids by their name."""
    ids = list(COLOURS)
    index = ids.index(method) if method in ids else _stable_index(method, len(MARKERS))
    return MARKERS[index % len(MARKERS)]


def dim_linestyle(dim: int, dims: list[int]) -> str:
    """Solid for the smallest embedding size of a figure, then dashed, dotted, dash-dotted."""
    styles = ("-", "--", ":", "-.")
    return styles[sorted(set(dims)).index(dim) % len(styles)]
