"""Claims on run folders: one process at a time trains a run folder, on one machine or on many.

A claim is an exclusive lock on ``<run>/.claim.lock`` taken with the ``filelock`` package (``flock``,
which NFS v4, GPFS, BeeGFS and Lustre mounted with ``-o flock`` enforce across machines; on a
filesystem without locks filelock falls back to a lock file of its own) and held for the whole run,
plus a record ``<run>/claim.json`` naming the holder for messages and ``grid --status``::

    {"host": "node17", "pid": 4242, "worker": "slurm 81234_3 [1/2]", "since": 1733100000.0,
     "heartbeat": 1733100060.0, "command": "python -m pml_core grid ..."}

The operating system releases the lock when its process ends, however it ends (exit, exception,
SIGKILL; a dead machine's locks when its NFS lease runs out), so the run of a worker that died is
free again and the next worker to claim it resumes from its last checkpoint. A ``claim.json`` whose
lock is free is what a dead holder left; the next holder replaces it. The heartbeat (every
`HEARTBEAT_SECONDS`) tells a live holder from a hung one in `describe`.

Claims are re-entrant within a process: a grid worker claims a run, copies a first stage into it and
calls `pml_core.experiments.run.train_run`, which claims the same folder again. Every training attempt
appends one line (the holder's identity) to ``<run>/attempts.jsonl`` (`record_attempt`), so a run's
history of workers (first try, takeover after a kill or a preemption) can be read back.

Use::

    with acquire(run_dir):                 # ClaimHeld (a RunError naming the holder) when busy
        ...
    with acquire(run_dir, wait=True):      # block until the holder is done (wait=60.0: at most 60 s)
        ...
    held = try_acquire(run_dir)            # None when another process holds the folder
    holder(run_dir)                        # the record of the process holding it now, or None
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import threading
import time
from pathlib import Path

from ..errors import RunError
from ..utils import write_json_atomic

LOCK_NAME = ".claim.lock"
RECORD_NAME = "claim.json"
ATTEMPTS_NAME = "attempts.jsonl"
HEARTBEAT_SECONDS = 60.0
WORKER_ENV = "PML_WORKER"  # a label for this process in claim records ("2/4", "slurm 81234_3 [1/2]")

_held: dict[str, "Claim"] = {}  # folders this process holds (re-entrant claims)
_held_lock = threading.Lock()


class ClaimHeld(RunError):
    """Another process holds the run folder (``holder``: its claim record, None when not yet written)."""

    def __init__(self, path: Path, holder: dict | None):
        self.path, self.holder = Path(path), holder
        super().__init__(f"{path} is being trained by another process: {describe(holder)}. Wait for it with "
                         "--wait (a finished run of the same config is then reused), or use another --train-root")


def identity() -> dict:
    """Who this process is, as a claim record names it: host, pid, worker label, Slurm job, command."""
    job = os.environ.get("SLURM_ARRAY_JOB_ID")
    job = f"{job}_{os.environ.get('SLURM_ARRAY_TASK_ID')}" if job else os.environ.get("SLURM_JOB_ID")
    record = {"host": socket.gethostname(), "pid": os.getpid(), "worker": os.environ.get(WORKER_ENV, ""),
              "command": shlex.join(sys.argv)}
    if job:
        record["slurm_job"] = job
    return record


def describe(record: dict | None, now: float | None = None) -> str:
    """``host:pid (worker ..., since 12:01:03, heartbeat 5 s ago)`` for a claim record."""
    if not record:
        return "a process that has not written its claim record yet"
    now = time.time() if now is None else now
    parts = [f"worker {record['worker']}"] if record.get("worker") else []
    if record.get("slurm_job") and record["slurm_job"] not in record.get("worker", ""):
        parts.append(f"Slurm job {record['slurm_job']}")
    if record.get("since"):
        parts.append("since " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record["since"])))
    if record.get("heartbeat"):
        age = max(0.0, now - record["heartbeat"])
        parts.append(f"heartbeat {_duration(age)} ago")
        if age > 3 * record.get("heartbeat_every", HEARTBEAT_SECONDS):
            parts.append("STALE: that process may be hung, or its machine gone (its lock then ends with the "
                         "machine's lock lease)")
    return f"{record.get('host', '?')}:{record.get('pid', '?')}" + (f" ({', '.join(parts)})" if parts else "")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Claim:
    """This process's hold on a run folder; `release` (or leaving the ``with`` block) gives it up."""

    def __init__(self, path: Path, lock, heartbeat: float):
        self.path, self._lock, self._depth = path, lock, 1
        self.record = {**identity(), "since": time.time(), "heartbeat": time.time(), "heartbeat_every": heartbeat}
        self._write_record()
        self._stop = threading.Event()
        self._beat = None
        if heartbeat > 0:
            self._beat = threading.Thread(target=self._heartbeat, args=(heartbeat,), daemon=True,
                                          name=f"claim heartbeat {path.name}")
            self._beat.start()

    def _write_record(self) -> None:
        write_json_atomic(self.path / RECORD_NAME, self.record)

    def _heartbeat(self, every: float) -> None:
        while not self._stop.wait(every):
            self.record["heartbeat"] = time.time()
            try:
                self._write_record()
            except OSError:  # a full or flaky disk must not end the run; the next beat tries again
                pass

    def release(self) -> None:
        with _held_lock:
            self._depth -= 1
            if self._depth > 0:
                return
            _held.pop(_key(self.path), None)
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        try:
            (self.path / RECORD_NAME).unlink(missing_ok=True)
        finally:
            self._lock.release()

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _key(path: Path) -> str:
    return os.path.realpath(path)


def _file_lock(path: Path):
    from filelock import FileLock

    return FileLock(str(path / LOCK_NAME), thread_local=False)


def acquire(path: str | Path, *, wait: bool | float = False, heartbeat: float = HEARTBEAT_SECONDS,
            poll: float = 0.2) -> Claim:
    """Claim the run folder ``path`` (created when missing) for this process.

    ``wait``: False fails at once with `ClaimHeld` naming the holder; True blocks until the holder is
    done; a number of seconds blocks at most that long. Re-entrant: a folder this process already
    holds is claimed again at once (release it as many times).
    """
    from filelock import Timeout

    path = Path(path)
    with _held_lock:
        mine = _held.get(_key(path))
        if mine is not None:
            mine._depth += 1
            return mine
    path.mkdir(parents=True, exist_ok=True)
    lock = _file_lock(path)
    timeout = 0 if wait is False else -1 if wait is True else float(wait)
    try:
        lock.acquire(timeout=timeout, poll_interval=poll)
    except Timeout:
        raise ClaimHeld(path, read_record(path)) from None
    except (OSError, NotImplementedError) as error:  # NotImplementedError: filelock 3 on a filesystem without flock
        raise RunError(f"cannot lock the run folder {path} ({error}); the results folder must be writable and "
                       "its filesystem must support file locks (docs/cluster.md, 'Shared storage')") from None
    try:
        claim = Claim(path, lock, heartbeat)
    except BaseException:
        lock.release()
        raise
    with _held_lock:
        _held[_key(path)] = claim
    return claim


def try_acquire(path: str | Path, **kwargs) -> Claim | None:
    """`acquire` without waiting; None when another process holds the folder."""
    try:
        return acquire(path, wait=False, **kwargs)
    except ClaimHeld:
        return None


def read_record(path: str | Path) -> dict | None:
    """The claim record in ``path`` (of the holder, or of a dead one: see `holder`), or None."""
    try:
        return json.loads((Path(path) / RECORD_NAME).read_text())
    except (OSError, ValueError):
        return None


def holder(path: str | Path) -> dict | None:
    """The claim record of the process holding ``path`` now (``{}`` before it wrote one); None when free.

    Looks without creating anything: a folder or lock file that does not exist is free. Where the
    lock cannot be tried (a read-only results folder) the record decides: present means held.
    """
    path = Path(path)
    with _held_lock:
        if _key(path) in _held:
            return dict(_held[_key(path)].record)
    if not (path / LOCK_NAME).is_file():
        return None
    from filelock import Timeout

    lock = _file_lock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return read_record(path) or {}
    except OSError:
        return read_record(path)
    lock.release()
    return None


def record_attempt(path: str | Path, **details) -> None:
    """Append this process's identity (and ``details``) to ``<run>/attempts.jsonl``: one line per attempt."""
    line = json.dumps({**identity(), "started": time.time(), **details}, sort_keys=True)
    with open(Path(path) / ATTEMPTS_NAME, "a") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_attempts(path: str | Path) -> list[dict]:
    """The training attempts recorded in a run folder, oldest first."""
    file = Path(path) / ATTEMPTS_NAME
    if not file.is_file():
        return []
    return [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
