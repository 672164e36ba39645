"""Checkpoints under attack and damage: malicious pickles refused in all four load paths, checksums,
files of older kits, a deleted best.pth."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import tiny_config
from pml_core.cli import main
from pml_core.errors import RunError
from pml_core.experiments import runstore
from pml_core.experiments.run import train_run
from pml_core.train import checkpoint as ckpt
from pml_core.utils import rng_state, set_rng_state


class Exploit:
    """Unpickling this runs ``touch <marker>``: the marker appears exactly when a load executed code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def write_malicious(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": {"w": torch.zeros(2)}, "epoch": 1, "payload": Exploit(marker)}, path)
    return path


def test_the_malicious_file_is_armed(tmp_path):
    """The fixture really runs code when loaded the unsafe way (so the tests below prove something)."""
    marker = tmp_path / "pwned"
    torch.load(write_malicious(tmp_path / "evil.pth", marker), weights_only=False)
    assert marker.exists()


@pytest.fixture(scope="module")
def two_stage_run(tmp_path_factory, data_root) -> Path:
    """A complete tiny PFE run: stage 0 (ArcFace) and stage 1 (PFE head), two epochs each."""
    root = tmp_path_factory.mktemp("faults") / "pfe"
    train_run(tiny_config("pfe-arcface", dim=8), root, data_root, logger="none", progress=False)
    return root


def _copy(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy


def _one_line_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_malicious_checkpoint_refused_by_test_command(two_stage_run, tmp_path, data_root, capsys):
    marker = tmp_path / "pwned"
    evil = write_malicious(tmp_path / "evil.pth", marker)
    err = _one_line_error(["test", "--config", str(two_stage_run / "config.yaml"), "--checkpoint", str(evil),
                           "--no-progress", str(data_root)], capsys)
    assert "refused" in err and "system" in err and str(evil) in err
    assert not marker.exists()


def test_malicious_last_pth_refused_on_resume(two_stage_run, tmp_path, data_root):
    run = _copy(two_stage_run, tmp_path)
    (run / "metrics.json").unlink()
    marker = tmp_path / "pwned"
    write_malicious(ckpt.stage_dir(run, 1) / "last.pth", marker)
    with pytest.raises(RunError, match=r"stage-1/last.pth is refused: it refers to (posix|os)\.system"):
        train_run(tiny_config("pfe-arcface", dim=8), run, data_root, logger="none", progress=False)
    assert not marker.exists()
    assert "refused" in json.loads((run / "failed.json").read_text())["reason"]


def test_malicious_best_pth_refused_when_the_next_stage_starts(two_stage_run, tmp_path, data_root):
    run = _copy(two_stage_run, tmp_path)
    (run / "metrics.json").unlink()
    shutil.rmtree(ckpt.stage_dir(run, 1))
    marker = tmp_path / "pwned"
    write_malicious(ckpt.stage_dir(run, 0) / "best.pth", marker)
    with pytest.raises(RunError, match=r"stage-0/best.pth is refused"):
        train_run(tiny_config("pfe-arcface", dim=8), run, data_root, logger="none", progress=False)
    assert not marker.exists()


def test_malicious_checkpoint_refused_by_ijb_command(two_stage_run, tmp_path, capsys):
    ijb = tmp_path / "IJBB" / "meta"
    ijb.mkdir(parents=True)  # valid meta files: the command gets as far as the checkpoint
    (ijb / "ijbb_face_tid_mid.txt").write_text("".join(f"{i}.png {i // 2} {i}\n" for i in range(4)))
    (ijb / "ijbb_template_pair_label.txt").write_text("0 1 1\n")
    marker = tmp_path / "pwned"
    evil = write_malicious(tmp_path / "evil.pth", marker)
    err = _one_line_error(["ijb", "--config", str(two_stage_run / "config.yaml"), "--checkpoint", str(evil),
                           str(tmp_path), "--set", "ijbb", "--no-progress"], capsys)
    assert "refused" in err and not marker.exists()


def test_every_checkpoint_of_a_run_loads_weights_only(two_stage_run):
    files = sorted((two_stage_run / "checkpoints").rglob("*.pth"))
    assert len(files) == 4
    for path in files:
        state = torch.load(path, weights_only=True)
        assert state["integrity"]["format"] == 2 and len(state["integrity"]["sha256"]) == 64
        assert ckpt.state_digest({k: v for k, v in state.items() if k != "integrity"}) == state["integrity"]["sha256"]


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path):
    random.seed(3), np.random.seed(4), torch.manual_seed(5)
    np.random.normal()  # a cached gaussian in the numpy state
    ckpt.save_checkpoint(tmp_path / "c.pth", rng=rng_state())
    expected = (random.random(), np.random.normal(), float(torch.rand(())))
    random.seed(0), np.random.seed(0), torch.manual_seed(0)
    set_rng_state(ckpt.load_checkpoint(tmp_path / "c.pth")["rng"])
    assert (random.random(), np.random.normal(), float(torch.rand(()))) == expected


def _tensor_record(path: Path) -> tuple[int, int]:
    """(offset, size) of the largest tensor record's bytes inside a torch.save zip."""
    with zipfile.ZipFile(path) as archive:
        info = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        header = handle.read(30)
    name_length, extra_length = int.from_bytes(header[26:28], "little"), int.from_bytes(header[28:30], "little")
    return info.header_offset + 30 + name_length + extra_length, info.file_size


def garble(path: Path) -> None:
    offset, size = _tensor_record(path)
    data = bytearray(path.read_bytes())
    data[offset + size // 2] ^= 0x40
    path.write_bytes(bytes(data))


def test_garbled_tensor_bytes_fail_the_checksum(tmp_path):
    path = tmp_path / "c.pth"
    ckpt.save_checkpoint(path, model={"w": torch.linspace(0, 1, 1000)}, epoch=3)
    garble(path)
    assert torch.load(path, weights_only=True)["model"]["w"].shape == (1000,)  # torch alone notices nothing
    with pytest.raises(RunError, match=r"c.pth is damaged .*checksum.*delete it and run the same train command"):
        ckpt.load_checkpoint(path)


def test_truncated_and_foreign_files_are_clear_errors(tmp_path):
    path = tmp_path / "c.pth"
    ckpt.save_checkpoint(path, model={"w": torch.ones(100)})
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(RunError, match="c.pth is damaged"):
        ckpt.load_checkpoint(path)
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(RunError, match="holds a list"):
        ckpt.load_checkpoint(tmp_path / "list.pth")
    with pytest.raises(RunError, match="does not exist"):
        ckpt.load_checkpoint(tmp_path / "none.pth")


def test_garbled_last_pth_stops_the_resume_naming_the_file(two_stage_run, tmp_path, data_root):
    run = _copy(two_stage_run, tmp_path)
    (run / "metrics.json").unlink()
    garble(ckpt.stage_dir(run, 1) / "last.pth")
    with pytest.raises(RunError, match=r"stage-1/last.pth is damaged .*checksum"):
        train_run(tiny_config("pfe-arcface", dim=8), run, data_root, logger="none", progress=False)


def test_checkpoint_of_an_older_kit_still_loads(tmp_path):
    """The previous format: no checksum, the numpy RNG state as an array (loaded weights-only all the same)."""
    state = {"model": {"w": torch.ones(3)}, "epoch": 2,
             "rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}}
    torch.save(state, tmp_path / "old.pth")
    with pytest.warns(UserWarning, match="no checksum"):
        loaded = ckpt.load_checkpoint(tmp_path / "old.pth")
    assert loaded["epoch"] == 2 and torch.equal(loaded["model"]["w"], torch.ones(3))
    set_rng_state(loaded["rng"])


def test_deleted_best_pth_retrains_the_stage_to_the_same_result(two_stage_run, tmp_path, data_root):
    """Deleting a damaged best.pth, as the error message advises, gives the original result: never the last
    weights passed off as best."""
    run = _copy(two_stage_run, tmp_path)
    (run / "metrics.json").unlink()
    (ckpt.stage_dir(run, 1) / "best.pth").unlink()
    with pytest.warns(UserWarning, match="stage 1 is trained again"):
        metrics = train_run(tiny_config("pfe-arcface", dim=8), run, data_root, logger="none", progress=False)
    best = ckpt.load_checkpoint(ckpt.stage_dir(run, 1) / "best.pth")
    assert best["epoch"] == metrics["selection"]["epoch"] >= 1
    assert (run / "metrics.json").read_text() == (two_stage_run / "metrics.json").read_text()


def test_no_finite_selection_score_is_an_error_not_a_best_checkpoint(tmp_path, data_root, monkeypatch):
    from pml_core.train import loop

    monkeypatch.setattr(loop.StageTrainer, "_selection_score", lambda self, train, valid: float("nan"))
    with pytest.raises(RunError, match="no epoch gave a finite valid/mapr"):
        train_run(tiny_config(), tmp_path / "run", data_root, logger="none", progress=False)
    assert not (ckpt.stage_dir(tmp_path / "run", 0) / "best.pth").exists()


def test_state_dict_mismatch_names_the_keys(tmp_path):
    model = torch.nn.Linear(2, 3)
    state = {"weight": torch.zeros(3, 2), "extra.bias": torch.zeros(1)}
    with pytest.raises(RunError, match=r"missing keys bias; unexpected keys extra.bias"):
        ckpt.load_model_state(model, state)
    with pytest.raises(RunError, match=r"other shapes .*weight \(2, 2\) vs \(3, 2\)"):
        ckpt.load_model_state(model, {"weight": torch.zeros(2, 2), "bias": torch.zeros(3)})


def test_test_command_checks_the_checkpoint_before_building_datasets(two_stage_run, tmp_path, capsys, monkeypatch):
    import pml_core.data as data

    monkeypatch.setattr(data, "build_datasets", lambda *a, **k: pytest.fail("datasets built before the checkpoint"))
    config = str(two_stage_run / "config.yaml")
    err = _one_line_error(["test", "--config", config, "--checkpoint", str(tmp_path / "none.pth"), "--no-progress",
                           str(tmp_path)], capsys)
    assert "none.pth does not exist" in err
    ckpt.save_checkpoint(tmp_path / "nomodel.pth", epoch=1)
    err = _one_line_error(["test", "--config", config, "--checkpoint", str(tmp_path / "nomodel.pth"), "--no-progress",
                           str(tmp_path)], capsys)
    assert "has no 'model' entry (it holds epoch)" in err


def test_test_command_on_a_checkpoint_of_the_run(two_stage_run, data_root):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["test", "--config", str(two_stage_run / "config.yaml"), "--checkpoint",
                     str(ckpt.stage_dir(two_stage_run, 1) / "best.pth"), "--no-progress", str(data_root)]) == 0
    stored = runstore.read_metrics(two_stage_run)
    assert json.loads(out.getvalue())["infer-glyphs"]["mapr"] == pytest.approx(stored["infer-glyphs"]["mapr"])

