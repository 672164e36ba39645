"""``./run_all.sh lab``: JupyterLab at the repository root, opening ``notebooks/quickstart.ipynb`` on the kit's kernel.

``python -m pml_core.report.lab [--port N] [--token T] [JUPYTER LAB OPTIONS...]`` registers the kernel
"Python (pml-kit)" in this interpreter's prefix (the virtualenv), picks the first free port from 8888
unless ``--port`` is given, prints the URL and replaces itself with ``jupyter lab``, serving the whole
repository (``reports/``, ``paper_figures/``, ``results/`` can be browsed and executed reports opened),
with kernel sockets encrypted (CurveZMQ) when pyzmq supports it. Other options go to ``jupyter lab``.

The notebooks of ``notebooks/`` are the committed sources: JupyterLab saves them without outputs
(`strip_committed_notebook`, its pre-save hook), so exploring, autosave included, never leaves them modified;
outputs stay on screen, and File > Save Notebook As... into ``scratch/`` keeps a copy with them.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
START = "notebooks/quickstart.ipynb"
COMMITTED = "notebooks"  # the folder, relative to the server root, whose notebooks are saved without outputs
# nbstripout's default keys plus language_info (kernel versions): what the git filter strips (docs/CONTRIBUTING.md)
STRIPPED_KEYS = ("metadata.signature", "metadata.widgets", "cell.metadata.collapsed", "cell.metadata.ExecuteTime",
                 "cell.metadata.execution", "cell.metadata.heading_collapsed", "cell.metadata.hidden",
                 "cell.metadata.scrolled", "metadata.language_info")


def strip_committed_notebook(model: dict, path: str, contents_manager=None, **kwargs) -> None:
    """JupyterLab's pre-save hook: a notebook directly in `COMMITTED` is saved as the git filter would commit
    it (no outputs, counts or run metadata); any other file is saved as it is."""
    from pathlib import PurePosixPath

    if model.get("type") != "notebook" or PurePosixPath(path.strip("/")).parent != PurePosixPath(COMMITTED):
        return
    import nbformat
    from nbstripout import strip_output

    model["content"] = strip_output(nbformat.from_dict(model["content"]), keep_output=False, keep_count=False,
                                    keep_id=False, extra_keys=list(STRIPPED_KEYS))


def free_port(start: int = 8888, stop: int = 8988) -> int:
    """The first port in ``[start, stop)`` that nothing listens on at localhost."""
    for port in range(start, stop):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise OSError(f"no free port in {start}-{stop - 1}; pass --port")


def server_command(root: str | Path, port: int, token: str, extra: list[str] = ()) -> list[str]:
    """The ``jupyter lab`` command line: serve ``root``, open `START`, listen on ``port`` with ``token``."""
    import zmq

    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={Path(root).resolve()}",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--LabApp.default_url=/lab/tree/{START}",
               "--ContentsManager.pre_save_hook=pml_core.report.lab.strip_committed_notebook"]
    if zmq.has("curve"):
        command.append("--KernelManager.transport_encryption=auto")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return command + list(extra)


def main(argv: list[str] | None = None) -> None:
    from .kernel import DISPLAY_NAME, KERNEL_NAME, install

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=None, help="default: the first free port from 8888")
    parser.add_argument("--token", default=None, help="default: a random one")
    args, passthrough = parser.parse_known_args(argv)
    for option in list(passthrough):  # a token given the jupyter way is the one the printed URL must carry
        if option.startswith(("--ServerApp.token=", "--IdentityProvider.token=")):
            args.token = option.split("=", 1)[1]
            passthrough.remove(option)
    spec = install()
    port = args.port or free_port()
    token = args.token or secrets.token_hex(16)
    print(f"lab: kernel '{KERNEL_NAME}' (\"{DISPLAY_NAME}\") registered in {spec.parent}")
    print(f"lab: notebooks in {COMMITTED}/ are saved without outputs (Save Notebook As... into scratch/ keeps them)")
    print(f"lab: JupyterLab on the repository root {ROOT} (Ctrl-C to stop); open\n"
          f"      http://localhost:{port}/lab/tree/{START}?token={token}", flush=True)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    command = server_command(ROOT, port, token, passthrough)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
