"""What the run store says of a queue of runs: done, running (and by whom), failed, pending.

``python -m pml_core grid --status`` prints `status_text` of a slice: one row per dataset and method
with the counts, then every running run with its holder (host, pid, worker or Slurm job, start, last
heartbeat), every failed run with its reason, and the totals. Looking changes nothing in the store.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from . import claim, workers

STATES = ("done", "running", "failed", "pending")


@dataclass(frozen=True)
class RunStatus:
    run: object  # a queue run (.path, .label; grid runs also .dataset, .method)
    state: str  # done | running | failed | pending
    holder: dict | None = None  # running: the claim record
    reason: str | None = None  # failed: failed.json's reason
    interrupted: bool = False  # pending with checkpoints: the next worker resumes it


def run_status(run) -> RunStatus:
    path = Path(run.path)
    stored = workers.state(path)
    if stored == "complete":
        return RunStatus(run, "done")
    holder = claim.holder(path)
    if holder is not None:
        return RunStatus(run, "running", holder=holder)
    if stored == "failed":
        try:
            reason = json.loads((path / "failed.json").read_text()).get("reason")
        except (OSError, ValueError):
            reason = None
        return RunStatus(run, "failed", reason=reason or "(no reason recorded)")
    return RunStatus(run, "pending", interrupted=(path / "checkpoints").is_dir())


def queue_status(queue) -> list[RunStatus]:
    return [run_status(run) for run in queue.runs()]


def status_text(statuses: list[RunStatus]) -> str:
    """The table of counts per dataset and method, then running and failed runs, then the totals."""
    rows: dict[tuple[str, str], Counter] = {}
    for item in statuses:
        key = (getattr(item.run, "dataset", ""), getattr(item.run, "method", item.run.label))
        rows.setdefault(key, Counter())[item.state] += 1
    width = max([len("method")] + [len(method) for _, method in rows])
    dataset_width = max([len("dataset")] + [len(dataset) for dataset, _ in rows])
    header = f"{'dataset':<{dataset_width}}  {'method':<{width}}" + "".join(f"  {s:>7}" for s in STATES)
    lines = [header, "-" * len(header)]
    for (dataset, method), counts in rows.items():
        lines.append(f"{dataset:<{dataset_width}}  {method:<{width}}" + "".join(f"  {counts[s]:>7}" for s in STATES))
    running = [item for item in statuses if item.state == "running"]
    if running:
        lines += ["", "running:"] + [f"  {item.run.label}  on {claim.describe(item.holder)}" for item in running]
    failed = [item for item in statuses if item.state == "failed"]
    if failed:
        lines += ["", "failed (retry with --retry-failed):"] + [f"  {item.run.label}: {item.reason}" for item in failed]
    totals = Counter(item.state for item in statuses)
    interrupted = sum(item.interrupted for item in statuses)
    lines += ["", f"total: {len(statuses)} runs: " + ", ".join(f"{totals[s]} {s}" for s in STATES)
              + (f" ({interrupted} of the pending resume from checkpoints)" if interrupted else "")]
    return "\n".join(lines)
