"""The run store: one directory per run, complete exactly when it holds ``metrics.json``.

Layout (docs/design.md, "Stable contracts")::

    results/<profile>/<dataset>/<method>-<dim>/seed-<s>/
        config.yaml        fully resolved config
        metrics.json       {test_set: {metric: value}}           (written last: marks completion)
        history.csv        one row per epoch and stage
        provenance.json    git commit, package versions, device, wall time, config hash
        predictions.npz    per test set: <set>/mean, <set>/confidence, <set>/labels (+ quality, pairs,
                           <set>/errors-erc-recall@1 and <set>/errors-erc-mapr: per-query ERC errors)
        checkpoints/       stage-<i>/last.pth (full state), stage-<i>/best.pth (model)
        failed.json        present when the last attempt failed (reason, step); removed on success
        attempts.jsonl     one line per training attempt (host, pid, worker, start): see experiments/claim.py
        claim.json         while a process trains the run: its claim record (.claim.lock holds the lock)
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from ..errors import RunError
from ..utils import savez_atomic, write_json_atomic, write_text_atomic


def run_dir(results_root: str | Path, profile: str, dataset: str, method: str, dim: int, seed: int) -> Path:
    return Path(results_root) / profile / dataset / f"{method}-{dim}" / f"seed-{seed}"


def is_complete(path: str | Path) -> bool:
    return (Path(path) / "metrics.json").is_file()


def holds_a_run(path: str | Path) -> bool:
    """True when the folder holds results or checkpoints of a run (what a run of another config must not touch).

    A folder with only a config.yaml (an attempt that failed before its first checkpoint) holds no run.
    """
    path = Path(path)
    return is_complete(path) or any((path / "checkpoints").glob("stage-*/*.pth"))


def read_metrics(path: str | Path) -> dict:
    """metrics.json of a complete run; a damaged file is a RunError naming it and the fix."""
    file = Path(path) / "metrics.json"
    try:
        metrics = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunError(f"{file} is damaged ({error}); delete it and run the same command again: the run is tested "
                       f"again from its checkpoints") from None
    if not isinstance(metrics, dict):
        raise RunError(f"{file} holds a {type(metrics).__name__}, not {{test set: {{metric: value}}}}; delete it "
                       f"and run the same command again: the run is tested again from its checkpoints")
    return metrics


def write_metrics(path: str | Path, metrics: dict) -> None:
    """Write metrics.json (NaN as null) atomically; this completes the run."""
    write_json_atomic(Path(path) / "metrics.json", finite_or_none(metrics))
    (Path(path) / "failed.json").unlink(missing_ok=True)


def finite_or_none(value):
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_history(path: str | Path, rows: list[dict]) -> None:
    """history.csv: the union of the rows' keys as columns, in first-seen order."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(Path(path) / "history.csv", buffer.getvalue())


def read_history(path: str | Path) -> list[dict]:
    file = Path(path) / "history.csv"
    if not file.is_file():
        return []
    with open(file) as handle:
        return [{k: _parse_number(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def _parse_number(text: str):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def write_predictions(path: str | Path, predictions: dict[str, dict[str, np.ndarray]]) -> None:
    """predictions.npz with keys ``<test set>/<array>``."""
    arrays = {f"{name}/{key}": np.asarray(value) for name, item in predictions.items() for key, value in item.items()}
    savez_atomic(Path(path) / "predictions.npz", **arrays)


def read_predictions(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    result: dict[str, dict[str, np.ndarray]] = {}
    with np.load(Path(path) / "predictions.npz") as data:
        for key in data.files:
            name, array = key.rsplit("/", 1)
            result.setdefault(name, {})[array] = data[key]
    return result


def mark_failed(path: str | Path, reason: str, **details) -> None:
    write_json_atomic(Path(path) / "failed.json", {"reason": reason, **details})


def write_provenance(path: str | Path, provenance: dict) -> None:
    write_json_atomic(Path(path) / "provenance.json", provenance)


def write_config(path: str | Path, config_text: str) -> None:
    write_text_atomic(Path(path) / "config.yaml", config_text)
