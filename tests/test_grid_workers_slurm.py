"""The Slurm launcher's sbatch script, as submitit writes it for the grid's options (a fake sbatch and srun on
PATH record what would be submitted; no Slurm cluster is needed). The processes of the launcher are tested
with submitit's local executor in test_grid_workers.py."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pml_core.cli import main

FAKE_SBATCH = """#!/bin/sh
echo "$@" > "$FAKE_SLURM_LOG.args"
cp "$1" "$FAKE_SLURM_LOG.sbatch"
echo "Submitted batch job 4242"
"""


@pytest.fixture()
def fake_slurm(tmp_path, monkeypatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH), ("srun", "#!/bin/sh\nexit 0\n")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_LOG", str(tmp_path / "submitted"))
    return tmp_path / "submitted"


def test_grid_launcher_slurm_submits_one_job_array_with_the_options(fake_slurm, tmp_path, capsys):
    results = tmp_path / "results"
    assert main(["grid", "--profile", "tiny", "--results-root", str(results), "--data-root", str(tmp_path / "data"),
                 "--launcher", "slurm", "--workers", "32", "--slurm-partition", "gpu", "--gpus-per-node", "1",
                 "--timeout-min", "720", "--slurm-array-parallelism", "8", "--launcher-param", "cpus_per_task=8",
                 "--launcher-param", "mem_gb=64", "--launcher-param", "account=proj",
                 "--launcher-param", "setup=['module load cuda']"]) == 0
    out = capsys.readouterr().out
    assert "0 trained, 0 reused, 0 failed, 6 pending" in out
    assert "submitted 32 workers as job 4242" in out and "--status" in out
    script = Path(f"{fake_slurm}.sbatch").read_text()
    folder = (results / ".submitit" / "tiny").resolve()
    for line in ("#SBATCH --array=0-31%8", "#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --time=720", "#SBATCH --cpus-per-task=8", "#SBATCH --mem=64GB", "#SBATCH --account=proj",
                 "#SBATCH --nodes=1", "#SBATCH --ntasks-per-node=1", "#SBATCH --signal=USR2@90",
                 "#SBATCH --job-name=pml-grid-tiny", f"#SBATCH --output={folder}/%A_%a_0_log.out",
                 "module load cuda", "export SUBMITIT_EXECUTOR=slurm"):
        assert line in script.splitlines(), f"{line!r} not in\n{script}"
    srun = [line for line in script.splitlines() if line.startswith("srun ")]
    assert len(srun) == 1 and srun[0].endswith(f" -u -m submitit.core._submit {folder}"), script
    assert len(list(folder.glob("4242_*_submitted.pkl"))) == 32  # one pickled worker per array task
    assert not (results / "tiny").exists(), "submitting trains nothing here"


def test_a_bad_slurm_parameter_is_a_one_line_error(fake_slurm, tmp_path, capsys):
    assert main(["grid", "--profile", "tiny", "--results-root", str(tmp_path), "--launcher", "slurm",
                 "--launcher-param", "partitoin=gpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid Slurm parameter") and "slurm_partitoin" in err


def test_without_srun_the_slurm_launcher_says_where_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["grid", "--profile", "tiny", "--results-root", str(tmp_path), "--launcher", "slurm"]) == 2
    assert "machine with sbatch and srun" in capsys.readouterr().err
