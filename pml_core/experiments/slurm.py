"""The Slurm launcher: a job array of workers draining a queue, submitted through submitit.

``--launcher slurm --workers N`` submits one ``sbatch`` job array of N tasks (at most
``--slurm-array-parallelism`` running at once), each asking for one node slice with
``--gpus-per-node`` GPUs; a task with G > 1 GPUs runs G local workers, one per GPU. Every worker runs
`pml_core.experiments.workers.drain` on the shared results folder, so the array trains each run of the
queue once whatever the number of tasks, and tasks that start late or are requeued find the remaining
work. Slurm sends USR2 ``signal_delay_s`` (90 s) before the time limit and on preemption; submitit then
requeues the task (`SlurmWorker` is checkpointable: its state is the run store itself), its claims end
with its processes, and the requeued task claims the run again and resumes it from its last epoch.

The sbatch script submitit writes for ``--workers 32 --slurm-partition gpu --gpus-per-node 1
--timeout-min 1440 --slurm-array-parallelism 8 --launcher-param cpus_per_task=8`` holds (docs/cluster.md)::

    #SBATCH --array=0-31%8
    #SBATCH --cpus-per-task=8
    #SBATCH --gpus-per-node=1
    #SBATCH --nodes=1
    #SBATCH --ntasks-per-node=1
    #SBATCH --partition=gpu
    #SBATCH --signal=USR2@90
    #SBATCH --time=1440
    ...
    srun --unbuffered --output ... python -u -m submitit.core._submit <folder>
"""

from __future__ import annotations

import os
from pathlib import Path

import submitit

from ..errors import ConfigError
from . import claim
from .workers import Launch, drain, run_local

GENERIC = ("name", "timeout_min", "mem_gb", "nodes", "cpus_per_task", "gpus_per_node", "tasks_per_node",
           "stderr_to_stdout")
MAX_NUM_TIMEOUT = 100  # time-limit requeues per task (preemptions do not count); --launcher-param max_num_timeout=N


class SlurmWorker(submitit.helpers.Checkpointable):
    """One task of the array: drain the queue with one worker per GPU of the task. Requeued as it is
    (submitit's default `checkpoint`): the progress lives in the run folders."""

    def __init__(self, queue, data_root, *, logger="none", gpus: int = 1, poll: float = 5.0):
        self.queue, self.data_root, self.logger, self.gpus, self.poll = queue, str(data_root), logger, gpus, poll

    def __call__(self, index: int) -> list[str]:
        job = submitit.JobEnvironment().job_id
        label = f"slurm {job}"
        if self.gpus > 1:
            codes = run_local(self.queue, self.gpus, self.data_root, logger=self.logger, poll=self.poll,
                              label_prefix=f"{label} ")
            return [f"{label}: worker exit codes {codes}"]
        os.environ[claim.WORKER_ENV] = label
        trained = drain(self.queue, self.data_root, logger=self.logger, progress=False, poll=self.poll)
        return [str(path) for path in trained]


def executor_parameters(options: Launch, name: str) -> tuple[dict, dict]:
    """(constructor kwargs, update_parameters kwargs) of submitit's AutoExecutor for ``options``."""
    cluster = options.cluster or "slurm"
    params: dict = {"name": name, "timeout_min": int(options.timeout_min), "gpus_per_node": options.gpus_per_node,
                    "nodes": 1, "tasks_per_node": 1,
                    "slurm_array_parallelism": options.array_parallelism or options.workers}
    if options.slurm_partition:
        params["slurm_partition"] = options.slurm_partition
    ctor = {f"{cluster}_max_num_timeout": MAX_NUM_TIMEOUT}
    for key, value in options.params:
        if key in ("max_num_timeout", f"{cluster}_max_num_timeout"):
            ctor[f"{cluster}_max_num_timeout"] = int(value)
            continue
        if key not in GENERIC and not key.startswith(("slurm_", "local_")):
            key = f"slurm_{key}"  # --launcher-param account=X means slurm_account=X
        params[key] = value
    return ctor, params


def make_executor(folder: Path, options: Launch, name: str):
    ctor, params = executor_parameters(options, name)
    try:
        executor = submitit.AutoExecutor(folder=folder, cluster=options.cluster or "slurm", **ctor)
    except RuntimeError as error:  # no srun: not on a Slurm login node
        raise ConfigError(f"cannot submit to Slurm ({error}); run this on a machine with sbatch and srun, or use "
                          "--workers N without --launcher for local workers") from None
    try:
        executor.update_parameters(**params)
    except (NameError, ValueError, AssertionError, TypeError) as error:
        raise ConfigError(f"invalid Slurm parameter ({str(error).splitlines()[0]}); --launcher-param takes "
                          "submitit's names: slurm_<sbatch option> (account, qos, constraint, mem, exclude, ...), "
                          f"or {', '.join(GENERIC)}") from None
    return executor


def submit(queue, options: Launch, data_root, *, logger="none") -> tuple[list, Path]:
    """Submit ``options.workers`` array tasks draining ``queue``; returns (submitit jobs, job folder)."""
    folder = Path(options.folder or queue.jobs_folder()).resolve()
    executor = make_executor(folder, options, name=f"pml-{queue.name}")
    worker = SlurmWorker(queue, Path(data_root).resolve(), logger=logger, gpus=max(1, options.gpus_per_node),
                         poll=options.poll)
    jobs = executor.map_array(worker, list(range(options.workers)))
    return jobs, folder
