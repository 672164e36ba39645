"""Golden-case mappings: every module of this package defines
``CASES = {case_name: fn(arrays: dict[str, np.ndarray], hp: dict) -> dict[str, np.ndarray]}``.

Modules are discovered automatically (any ``*.py`` here not starting with ``_``), so an area adds its
mapping by dropping a file. ``CASES`` is the union; ``IMPORT_ERRORS`` and ``DUPLICATES`` record
modules that failed to import and case names mapped twice (tests/test_golden.py fails on both).
"""

from __future__ import annotations

import importlib
import pkgutil
import traceback

CASES: dict = {}
OWNERS: dict[str, str] = {}
IMPORT_ERRORS: dict[str, str] = {}
DUPLICATES: dict[str, list[str]] = {}

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
    if _info.name.startswith("_"):
        continue
    try:
        _module = importlib.import_module(f"{__name__}.{_info.name}")
    except Exception:  # reported by tests/test_golden.py, must not hide the other areas' cases
        IMPORT_ERRORS[_info.name] = traceback.format_exc()
        continue
    for _name, _fn in getattr(_module, "CASES", {}).items():
        if _name in CASES:
            DUPLICATES.setdefault(_name, [OWNERS[_name]]).append(_info.name)
            continue
        CASES[_name] = _fn
        OWNERS[_name] = _info.name
