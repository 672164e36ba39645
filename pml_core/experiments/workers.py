"""Workers draining a queue of run folders: in this process, as local processes, or as a Slurm job array.

A *queue* is a small picklable description of a set of runs (a grid slice, the seeds or folds of a
protocol) with four methods::

    runs() -> list[run]            every run: .path (its folder), .label, .config() -> Config
    source(run) -> run | None      the run of the queue that trains this run's first stage (or None)
    prepare(run, cfg) -> None      called under the run's claim before training (e.g. copy stage 0)
    finish(data_root) -> None      called by a worker that finds every run complete (e.g. aggregate)

Every worker runs `drain`: claim the next pending run that no other worker holds
(`pml_core.experiments.claim`), train it, repeat; when every pending run is held by another worker,
wait on one of them (a worker that dies releases its claim, and the waiting one takes the run over and
resumes it from its checkpoint). So any number of workers on any number of machines, pointed at one
results folder, train each run exactly once. A run is *pending* when it has neither ``metrics.json``
(complete) nor ``failed.json`` (its last attempt failed: not retried until its mark is cleared, see
`clear_failed`).

`Launch` says where the workers run: ``workers=1`` in this process, ``workers=N`` as N local
processes (one GPU each through ``CUDA_VISIBLE_DEVICES`` when the runs use CUDA), ``launcher="slurm"``
as a Slurm job array of N workers through submitit (`pml_core.experiments.slurm`).
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, PMLError
from . import claim, runstore

POLL_SECONDS = 5.0  # how long a worker with nothing to claim waits on a held run before looking again


@dataclass(frozen=True)
class Launch:
    """Where and how many workers drain a queue (the ``--workers`` / ``--launcher`` / ``--slurm-*`` options)."""

    workers: int = 1
    launcher: str = "local"  # local | slurm
    slurm_partition: str | None = None
    gpus_per_node: int = 1
    timeout_min: int = 24 * 60
    array_parallelism: int | None = None
    params: tuple[tuple[str, object], ...] = ()  # --launcher-param KEY=VALUE, passed to submitit
    folder: Path | None = None  # submitit's job folder (scripts, pickles, logs); default <results>/.submitit
    cluster: str | None = None  # submitit cluster override ("local" in tests); None: slurm
    poll: float = POLL_SECONDS

    def __post_init__(self):
        if self.launcher not in ("local", "slurm"):
            raise ConfigError(f"unknown launcher {self.launcher!r}: local or slurm")
        if self.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}")
        if self.gpus_per_node < 0 or self.timeout_min < 1:
            raise ConfigError("--gpus-per-node must be >= 0 and --timeout-min >= 1")

    @property
    def in_process(self) -> bool:
        return self.launcher == "local" and self.workers == 1


def state(path: Path) -> str:
    """complete | failed | pending: what the run store says of a run folder (claims aside)."""
    if runstore.is_complete(path):
        return "complete"
    if (path / "failed.json").is_file():
        return "failed"
    return "pending"


def clear_failed(runs) -> list[Path]:
    """Clear the failure marks of ``runs`` so that workers retry them (``failed.json`` becomes
    ``failed.previous.json``); returns the runs cleared."""
    cleared = []
    for run in runs:
        mark = run.path / "failed.json"
        if mark.is_file() and not runstore.is_complete(run.path):
            os.replace(mark, run.path / "failed.previous.json")
            cleared.append(run.path)
    return cleared


def _say(message: str) -> None:
    worker = os.environ.get(claim.WORKER_ENV)
    print(f"[worker {worker}] {message}" if worker else message, flush=True)


def drain(queue, data_root, *, logger="none", progress: bool = False, poll: float = POLL_SECONDS,
          echo=None) -> list[Path]:
    """Train every pending run of ``queue`` that no other worker holds, until none is left.

    Returns the runs this worker completed. A run that fails is marked (``failed.json``) and the worker
    goes on; a `ConfigError` (a wrong queue: nothing else would work either) ends it. ``echo`` (e.g.
    ``print``): one progress line per epoch, ``[i/n] <run>: epoch e/E, loss ...``, instead of the worker's
    "training" line.
    """
    runs = queue.runs()
    position = {run.path: index + 1 for index, run in enumerate(runs)}
    trained: list[Path] = []

    def attempt(run) -> bool:
        """Claim and train ``run``; False when another worker holds it."""
        held = claim.try_acquire(run.path)
        if held is None:
            return False
        with held:
            if state(run.path) != "pending":
                return True  # finished by the worker that held it before
            started = time.perf_counter()
            prefix = f"[{position[run.path]}/{len(runs)}] {run.label}"
            say = echo or _say
            if echo is None:  # with echo, the epochs' lines say it
                say(f"{prefix}: training")
            try:
                cfg = run.config()
                queue.prepare(run, cfg)
                metrics = _train(cfg, run.path, data_root, logger, progress, echo, prefix)
            except ConfigError:
                raise
            except PMLError as error:
                _mark_failed(run.path, str(error))
                say(f"{prefix}: FAILED ({error})")
                return True
            except Exception as error:  # a bug in one method must not stop the worker
                _mark_failed(run.path, f"{type(error).__name__}: {error}", traceback=traceback.format_exc())
                say(f"{prefix}: FAILED ({type(error).__name__}: {error})")
                return True
            trained.append(run.path)
            say(f"{prefix}: done in {time.perf_counter() - started:.0f} s{_test_result(metrics)}")
            return True

    while True:
        todo = [run for run in runs if state(run.path) == "pending"]
        if not todo:
            break
        busy = []  # pending runs other workers hold
        for run in todo:
            source = queue.source(run)
            if source is not None and state(source.path) == "pending":
                run = source  # its first stage comes from there: train that run first (or wait for it)
            if state(run.path) == "pending" and not attempt(run):
                busy.append(run)
        if len(busy) == len(todo):  # nothing to do but wait on a held run (a dead holder frees it)
            try:
                claim.acquire(busy[0].path, wait=poll).release()
            except claim.ClaimHeld:
                pass
    if all(state(run.path) == "complete" for run in runs):
        queue.finish(data_root)
    return trained


def _train(cfg, path: Path, data_root, logger, progress: bool, echo, prefix: str) -> dict:
    """`train_run` one run; with ``echo``, one line per epoch through it (`loggers.EchoLogger`)."""
    from ..config import num_stages, stage_config
    from ..train.loggers import EchoLogger, create_logger
    from ..train.loop import global_epoch_offset
    from .run import train_run

    if echo is None:
        return train_run(cfg, path, data_root, logger=logger, progress=progress)
    last = stage_config(cfg, num_stages(cfg) - 1).trainer_params
    watched = f"{last.selection_dataset}/{last.selection_metric}"
    run_logger = EchoLogger(create_logger(logger, path), echo, prefix, global_epoch_offset(cfg, num_stages(cfg)),
                            watched)
    try:
        return train_run(cfg, path, data_root, logger=run_logger, progress=progress)
    finally:
        run_logger.close()


def _test_result(metrics: dict) -> str:
    """``", infer-glyphs recall@1 0.512"``: the first test set's recall@1 ("" when there is none)."""
    tests = [(name, values["recall@1"]) for name, values in metrics.items()
             if name.startswith("infer-") and isinstance(values, dict) and "recall@1" in values]
    return f", {tests[0][0]} recall@1 {tests[0][1]:.3f}" if tests else ""


def _mark_failed(path: Path, reason: str, **details) -> None:
    if not (path / "failed.json").is_file():  # train_run marks what it can; the rest is marked here
        runstore.mark_failed(path, reason, **details)


# -- local processes ---------------------------------------------------------------------------


def gpu_slots() -> list[str]:
    """The GPUs workers may use: this process's ``CUDA_VISIBLE_DEVICES`` entries, else every GPU."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [entry for entry in visible.split(",") if entry.strip()]
    import torch

    return [str(index) for index in range(torch.cuda.device_count())]


def uses_cuda(queue) -> bool:
    """Whether the queue's runs train on CUDA (``device: cuda``, or ``auto`` with a GPU present)."""
    runs = queue.runs()
    if not runs:
        return False
    device = runs[0].config().device
    return device.startswith("cuda") or (device == "auto" and bool(gpu_slots()))


def _worker_main(queue, data_root, label: str, logger, poll: float, echo: bool = False) -> None:
    os.environ[claim.WORKER_ENV] = label
    try:
        drain(queue, data_root, logger=logger, progress=False, poll=poll, echo=_say if echo else None)
    except KeyboardInterrupt:
        _say("interrupted: completed epochs are checkpointed; the next worker resumes")
        raise SystemExit(130) from None
    except ConfigError as error:
        _say(f"error: {error}")
        raise SystemExit(2) from None


def run_local(queue, workers: int, data_root, *, logger="none", poll: float = POLL_SECONDS,
              label_prefix: str = "", echo: bool = False) -> list[int]:
    """Drain ``queue`` with ``workers`` local processes; returns their exit codes. ``echo``: each worker prints
    one line per epoch (``[worker 1/2] [i/n] <run>: epoch e/E, ...``) instead of one per run.

    With CUDA runs, worker i sees only GPU ``i mod #GPUs`` (``CUDA_VISIBLE_DEVICES``), so each run
    trains on its own GPU when there are as many GPUs as workers.
    """
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # fresh interpreters: no inherited CUDA or thread state
    slots = gpu_slots() if uses_cuda(queue) else []
    processes = []
    saved = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        for index in range(workers):
            label = f"{label_prefix}{index + 1}/{workers}"
            if slots:  # the child inherits the environment at start()
                os.environ["CUDA_VISIBLE_DEVICES"] = slots[index % len(slots)]
            process = context.Process(target=_worker_main, args=(queue, data_root, label, logger, poll, echo),
                                      name=f"pml-worker-{label}")
            process.start()
            processes.append(process)
    finally:
        if saved is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = saved
    try:
        for process in processes:
            process.join()
    except BaseException as error:  # Ctrl-C (the workers got it too), or this Slurm task being requeued
        grace = 10.0 if isinstance(error, KeyboardInterrupt) else 0.0
        for process in processes:
            process.join(grace)
            if process.is_alive():
                process.terminate()  # its claims end with it; the run resumes from its last epoch
        for process in processes:
            process.join()
        raise
    return [process.exitcode for process in processes]


@dataclass
class Outcome:
    """What a launch did: exit codes of local workers, or the submitted Slurm jobs."""

    exit_codes: list[int] = field(default_factory=list)
    jobs: list = field(default_factory=list)
    folder: Path | None = None

    @property
    def submitted(self) -> bool:
        return bool(self.jobs)

    def describe(self) -> str:
        if self.jobs:
            ids = sorted({str(job.job_id).split("_")[0] for job in self.jobs})
            return (f"submitted {len(self.jobs)} workers as job {', '.join(ids)}; logs in {self.folder}/. "
                    "Follow with --status; run the same command again without --launcher to report")
        bad = [f"worker {i + 1} exit code {code}" for i, code in enumerate(self.exit_codes) if code]
        return "; ".join(bad)


def launch(queue, options: Launch, data_root, *, logger="none", progress: bool = False, echo=None) -> Outcome:
    """Drain ``queue`` as ``options`` says (here, local processes or Slurm); Slurm returns once submitted."""
    if options.launcher == "slurm":
        try:
            from . import slurm
        except ImportError as error:
            raise ConfigError(f"--launcher slurm needs submitit ({error}): pip install -e '.[cluster]'") from None

        jobs, folder = slurm.submit(queue, options, data_root, logger=logger)
        return Outcome(jobs=jobs, folder=folder)
    if options.workers == 1:
        drain(queue, data_root, logger=logger, progress=progress, poll=options.poll, echo=echo)
        return Outcome(exit_codes=[0])
    return Outcome(exit_codes=run_local(queue, options.workers, data_root, logger=logger, poll=options.poll,
                                        echo=echo is not None))
