"""`./run_all.sh lab` and the kit's kernel: the JupyterLab command, the pre-save hook that keeps committed
notebooks output-free, the kernel spec, and the papermill kernel manager (encrypted, no SIGINT at shutdown)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import nbformat
import pytest

from conftest import ROOT
from pml_core.report import kernel, lab


def test_server_command_serves_the_repository_and_opens_the_quickstart(tmp_path):
    command = lab.server_command(tmp_path, 8899, "abc", ["--no-browser"])
    assert command[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={tmp_path.resolve()}" in command
    assert "--LabApp.default_url=/lab/tree/notebooks/quickstart.ipynb" in command
    assert "--ServerApp.port=8899" in command and "--IdentityProvider.token=abc" in command
    assert "--ContentsManager.pre_save_hook=pml_core.report.lab.strip_committed_notebook" in command
    assert command[-1] == "--no-browser"
    assert (ROOT / lab.START).is_file()


def _lab_saved(path, outputs=True) -> dict:
    """The model JupyterLab sends when it saves ``path`` after running it."""
    content = json.loads(path.read_text())
    for count, cell in enumerate(c for c in content["cells"] if c["cell_type"] == "code"):
        if outputs:
            cell["execution_count"] = count + 1
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "trained\n" * 100}]
        cell["metadata"]["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
    content["metadata"]["language_info"] = {"name": "python", "version": "3.11.9", "mimetype": "text/x-python"}
    content["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return {"type": "notebook", "format": "json", "content": content}


@pytest.mark.filterwarnings("ignore:Overriding existing pre_save_hook")
def test_lab_saves_committed_notebooks_without_outputs(tmp_path):
    from jupyter_server.services.contents.filemanager import FileContentsManager

    (tmp_path / "notebooks").mkdir()
    (tmp_path / "scratch").mkdir()
    committed = ROOT / "notebooks" / "quickstart.ipynb"
    manager = FileContentsManager(root_dir=str(tmp_path), pre_save_hook=lab.strip_committed_notebook)
    manager.save(_lab_saved(committed), "notebooks/quickstart.ipynb")
    assert (tmp_path / "notebooks" / "quickstart.ipynb").read_text() == committed.read_text(), \
        "a run-and-saved quickstart must be byte-identical to the committed one"
    manager.save(_lab_saved(committed), "scratch/quickstart.ipynb")  # elsewhere: kept as it is
    kept = nbformat.read(tmp_path / "scratch" / "quickstart.ipynb", as_version=4)
    assert any(cell.get("outputs") for cell in kept.cells)
    manager.save({"type": "file", "format": "text", "content": "x"}, "notebooks/notes.txt")
    assert (tmp_path / "notebooks" / "notes.txt").read_text() == "x"


def test_kernel_spec_is_this_interpreter(tmp_path):
    spec = kernel.kernel_spec_dict()
    assert spec["argv"][0] == sys.executable and spec["display_name"] == "Python (pml-kit)"
    folder = kernel.install(kernels_dir=tmp_path)
    assert folder == tmp_path / "pml-kit" and json.loads((folder / "kernel.json").read_text()) == spec
    assert kernel.KitKernelSpecManager().get_kernel_spec("pml-kit").argv[0] == sys.executable


def test_notebook_kernel_manager_encrypts_and_does_not_interrupt_at_shutdown():
    import zmq

    async def run():
        manager = kernel.NotebookKernelManager(kernel_name="pml-kit")
        signals = []
        original = manager._async_signal_kernel

        async def record(signum):
            signals.append(signum)
            await original(signum)

        manager._async_signal_kernel = record
        await manager.start_kernel()
        try:
            info = manager.get_connection_info()
            await manager.interrupt_kernel()  # a real interrupt still reaches a running kernel
        finally:
            await manager.shutdown_kernel()
        return info, signals, manager

    info, signals, manager = asyncio.run(asyncio.wait_for(run(), 120))
    assert signals == [signal.SIGINT], "only the explicit interrupt, none at shutdown"
    assert not manager.has_kernel
    if zmq.has("curve"):
        assert info.get("curve_publickey"), "kernel sockets are CurveZMQ-encrypted"
