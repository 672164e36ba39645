"""The kit's Jupyter kernel, "Python (pml-kit)", for JupyterLab and for papermill.

Every notebook of ``notebooks/`` names the kernel ``pml-kit`` in its metadata. ``./run_all.sh lab``
registers it in ``.venv`` (`install`); `run_notebooks` does not need it registered: its
`NotebookKernelManager` serves ``pml-kit`` as the interpreter that runs it (CI, a fresh clone), with

- CurveZMQ-encrypted kernel sockets when pyzmq supports them (ipykernel 7 declares the support in its
  kernel spec and otherwise warns "Kernel is running over TCP without encryption" for every notebook);
- no SIGINT sent to the idle kernel at shutdown: jupyter_client interrupts before every shutdown
  request, and a signal that lands while the kernel is still answering papermill's last request is
  logged as "KeyboardInterrupt caught in kernel" although nothing was interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from traitlets import default

KERNEL_NAME = "pml-kit"
DISPLAY_NAME = "Python (pml-kit)"


def kernel_spec_dict(python: str | None = None) -> dict:
    """The ``kernel.json`` of the kit's kernel: ipykernel's own spec for ``python`` (default: this one)."""
    from ipykernel.kernelspec import get_kernel_dict, make_ipkernel_cmd

    spec = get_kernel_dict()
    spec["argv"] = make_ipkernel_cmd(executable=python or sys.executable)
    spec["display_name"] = DISPLAY_NAME
    return spec


def install(prefix: str | Path | None = None, kernels_dir: str | Path | None = None) -> Path:
    """Register the kernel for this interpreter under ``<prefix>/share/jupyter/kernels/pml-kit`` (default:
    ``sys.prefix``, i.e. the virtualenv) or directly in ``kernels_dir``; returns the spec's folder."""
    import json
    import shutil

    from ipykernel.kernelspec import RESOURCES

    base = Path(kernels_dir) if kernels_dir else Path(prefix or sys.prefix) / "share" / "jupyter" / "kernels"
    folder = base / KERNEL_NAME
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(RESOURCES, folder)
    (folder / "kernel.json").write_text(json.dumps(kernel_spec_dict(), indent=1) + "\n")
    return folder


class KitKernelSpecManager(KernelSpecManager):
    """Kernel specs as Jupyter finds them, except ``pml-kit``: always this interpreter (`kernel_spec_dict`)."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        if kernel_name == KERNEL_NAME:
            from ipykernel.kernelspec import RESOURCES

            return KernelSpec(resource_dir=RESOURCES, **kernel_spec_dict())
        return super().get_kernel_spec(kernel_name)


class NotebookKernelManager(AsyncKernelManager):
    """papermill's kernel manager in `run_notebooks` (see the module docstring)."""

    @default("kernel_spec_manager")
    def _kit_kernel_spec_manager(self) -> KernelSpecManager:
        return KitKernelSpecManager(data_dir=self.data_dir)

    @default("transport_encryption")
    def _encrypt_when_possible(self) -> str:
        import zmq

        return "auto" if zmq.has("curve") else "disabled"

    async def _async_interrupt_kernel(self) -> None:
        if self.shutting_down:
            return  # papermill has every reply: there is nothing to interrupt, only a log line to cause
        await super()._async_interrupt_kernel()

    interrupt_kernel = _async_interrupt_kernel
