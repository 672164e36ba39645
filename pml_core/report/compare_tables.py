"""Does a regenerated table reproduce a committed one? (README, "Reproducibility across machines").

    python -m pml_core.report.compare_tables paper_figures/smoke NEW_FOLDER [--tables table_retrieval ...] [-k 3]

Compares every ``table_*.csv`` of the committed folder with the one of the same name in ``NEW_FOLDER``, cell by
cell (``mean/<set>/<metric>`` columns, rows keyed by the non-numeric columns: method, dim, ...). A cell reproduces
when the two means are byte-identical or differ by at most ``k`` seed spreads, the spread being the larger of
the cell's own (the root mean square of the two tables' ``std`` columns, over the best k seeds) and the column's
pooled spread (the root mean square of the committed ``std`` column): a mean over two or three seeds is itself
uncertain by about one seed spread, and a run on another CPU is, after a few hundred steps, another draw of the
seed noise. Prints the cells outside the tolerance; exit status 1 when there is one (or a table is missing).
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import DataError


@dataclass(frozen=True)
class Cell:
    table: str
    row: str
    column: str
    committed: float
    regenerated: float
    tolerance: float

    @property
    def ok(self) -> bool:
        if self.committed == self.regenerated:
            return True
        if math.isnan(self.committed) or math.isnan(self.regenerated):
            return False
        return abs(self.committed - self.regenerated) <= self.tolerance


def _keys(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if not c.startswith(("mean/", "std/", "n/"))]


def _rms(values) -> float:
    values = [float(v) for v in values if v == v]  # drop NaN
    return math.sqrt(sum(v * v for v in values) / len(values)) if values else 0.0


def compare_frames(name: str, committed: pd.DataFrame, regenerated: pd.DataFrame, k: float = 3.0) -> list[Cell]:
    """Every ``mean/...`` cell of ``committed`` against ``regenerated`` (rows matched by their key columns)."""
    keys = _keys(committed)
    if not keys:
        raise DataError(f"{name}: no key columns (method, dim, ...) to match rows by")
    index = lambda frame: frame.set_index(keys)  # noqa: E731
    old, new = index(committed), index(regenerated)
    missing = [row for row in old.index if row not in new.index]
    if missing:
        raise DataError(f"{name}: rows {missing} of the committed table are not in the regenerated one")
    cells = []
    for column in (c for c in old.columns if c.startswith("mean/")):
        if column not in new.columns:
            raise DataError(f"{name}: column {column!r} is missing from the regenerated table")
        spread_column = "std/" + column[len("mean/"):]
        pooled = _rms(old[spread_column]) if spread_column in old.columns else 0.0
        for row in old.index:
            own = 0.0
            if spread_column in old.columns and spread_column in new.columns:
                own = _rms([old.at[row, spread_column], new.at[row, spread_column]])
            cells.append(Cell(name, str(row), column, float(old.at[row, column]), float(new.at[row, column]),
                              k * max(own, pooled)))
    return cells


def compare_folders(committed: Path, regenerated: Path, tables: list[str] | None = None, k: float = 3.0) -> list[Cell]:
    names = tables or sorted(p.stem for p in Path(committed).glob("table_*.csv"))
    if not names:
        raise DataError(f"no table_*.csv in {committed}")
    cells = []
    for name in names:
        old, new = Path(committed) / f"{name}.csv", Path(regenerated) / f"{name}.csv"
        for path in (old, new):
            if not path.is_file():
                raise DataError(f"{path} does not exist")
        cells += compare_frames(name, pd.read_csv(old), pd.read_csv(new), k)
    return cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("committed", type=Path)
    parser.add_argument("regenerated", type=Path)
    parser.add_argument("--tables", nargs="+", default=None, help="table names (default: every table_*.csv)")
    parser.add_argument("-k", type=float, default=3.0, help="tolerance in seed spreads (default 3)")
    args = parser.parse_args(argv)
    try:
        cells = compare_folders(args.committed, args.regenerated, args.tables, args.k)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    identical = sum(c.committed == c.regenerated for c in cells)
    bad = [c for c in cells if not c.ok]
    for c in bad:
        print(f"{c.table} {c.row} {c.column}: {c.committed:.4g} -> {c.regenerated:.4g} "
              f"(|diff| {abs(c.committed - c.regenerated):.3g} > tolerance {c.tolerance:.3g})")
    print(f"{len(cells)} cells: {identical} identical, {len(cells) - identical - len(bad)} within {args.k:g} seed "
          f"spreads, {len(bad)} outside")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
