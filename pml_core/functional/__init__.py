"""Pure tensor math (no state, no modules) behind distributions, scorers, heads, losses and metrics.

Import the submodules directly, e.g. ``from pml_core.functional import bessel, vmf``.
"""
