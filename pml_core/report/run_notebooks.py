"""Execute the notebooks of a profile with papermill and render them to HTML (what ``./run_all.sh`` runs).

``python -m pml_core.report.run_notebooks --profile smoke`` executes every notebook that
``notebooks/manifest.yaml`` lists for the profile, in order, into ``reports/<profile>/<name>.ipynb``,
renders each to ``reports/<profile>/<name>.html`` with inputs hidden, and prints a summary. A failing
notebook is reported and the others still run; the exit status is non-zero if any failed.

Each notebook gets ``output_dir = paper_figures/<profile>/`` (run interactively, notebooks write to
``scratch/<profile>/`` instead: `pml_core.report.notebook`), runs on the kit's kernel "Python (pml-kit)"
whether or not it is registered (`pml_core.report.kernel`), and its progress lines (``[i/n] ...: epoch
e/E ...``) are echoed while it runs; nothing else of a notebook reaches the terminal. The executed
notebook starts with its parameters and a link back to ``index.html``.

With ``--workers N``, ``--launcher slurm`` or ``--retry-failed`` (the ``grid`` command's options,
docs/cluster.md) the runs the notebooks need (the profile's grid slice, and in the paper profile the
face slice) are trained first by that many workers, so the notebooks then only read them. The smoke
profile, pinned, defaults to one local worker per CPU core (`pinned_workers`): each pinned run computes on
one thread, and the numbers do not depend on the worker count. ``--gpus N``
(N > 1) without ``--workers`` means N local workers, one per GPU. A Slurm launch submits the job array
and stops: run the command again without ``--launcher`` once ``grid --status`` shows the slice done.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..experiments.grid import profile_grid

ROOT = Path(__file__).resolve().parent.parent.parent
NOTEBOOKS = ROOT / "notebooks"


#: Profiles whose committed CPU results are made reproducible across x86-64 machines.
PINNED_PROFILES = ("tiny", "smoke")
#: A pinned run computes on one thread, so the smoke grid (60 runs) is trained by one local worker per core (the
#: numbers do not depend on how many: tests/test_grid_workers.py), at most this many. The tiny grid's runs take
#: a second or two, less than a worker's start-up: one process.
MAX_PINNED_WORKERS = 8
PARALLEL_PROFILES = ("smoke",)


def pinned_workers() -> int:
    """Local workers for a pinned profile: the CPU cores this process may use, at most `MAX_PINNED_WORKERS`."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, MAX_PINNED_WORKERS))


@dataclass
class Outcome:
    name: str
    seconds: float
    error: str | None
    html: Path | None


def manifest(profile: str, notebooks_dir: Path = NOTEBOOKS) -> list[dict]:
    """The notebook entries of a profile: ``{name, parameters}`` in execution order."""
    entries = yaml.safe_load((notebooks_dir / "manifest.yaml").read_text())["notebooks"]
    return [entry for entry in entries if profile in entry.get("profiles", ["tiny", "smoke", "paper"])]


# nbconvert's lab template without what it loads from CDNs (require.js, MathJax, mermaid, the widget
# manager): a rendered report must open offline. The notebooks' outputs are static (images, tables, text).
OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
"""


def render_html(executed: Path, target: Path) -> None:
    """Render an executed notebook to HTML with its inputs hidden, offline (`OFFLINE_TEMPLATE`); its first cells
    are the `report_header` that `execute` adds (parameters and a link back to the index)."""
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"pml_offline.html.j2": OFFLINE_TEMPLATE})],
                            template_file="pml_offline.html.j2")
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    notebook = nbformat.read(executed, as_version=4)
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": Path(executed).stem}})
    target.write_text(body)


PROGRESS_LINE = re.compile(r"^\[\d+/\d+\] ")


class ProgressEcho:
    """A file-like sink for a notebook's stdout that passes on only the progress lines (`PROGRESS_LINE`),
    indented, to ``target``; chunks may split lines anywhere."""

    def __init__(self, target=None, indent: str = "  "):
        self.target, self.indent, self.pending = target or sys.stdout, indent, ""

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            line = line.rstrip("\r")
            if PROGRESS_LINE.match(line):
                self.target.write(f"{self.indent}{line}\n")
        return len(text)

    def flush(self) -> None:
        self.target.flush()


def _markdown_cell_text(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _literal(value) -> str:
    """A given parameter as the parameters cell would write it (double-quoted strings)."""
    return '"' + value.replace('"', '\\"') + '"' if isinstance(value, str) else repr(value)


def report_header(source: Path, parameters: dict, index_href: str = "index.html") -> str:
    """The markdown that opens an executed notebook: a link back to the reports' index and a table of every
    parameter of ``source``'s parameters cell with the value of this run (given ones marked) and its comment."""
    import papermill

    declared = papermill.inspect_notebook(str(source))
    rows = []
    for name, spec in declared.items():
        given = name in parameters
        value = _literal(parameters[name]) if given else spec["default"]
        rows.append(f"| `{name}` | `{_markdown_cell_text(value)}`{' (given)' if given else ''} | "
                    f"{_markdown_cell_text(html.escape(spec.get('help') or '', quote=False))} |")
    rows += [f"| `{name}` | `{_markdown_cell_text(_literal(value))}` (given) | |" for name, value in parameters.items()
             if name not in declared]
    profile = parameters.get("profile")
    back = f"[← all reports{f' of the `{profile}` profile' if profile else ''}]({index_href})"
    return (f"{back} · executed {time.strftime('%Y-%m-%d %H:%M')} from `notebooks/{source.name}` with these "
            f"parameters (set in the parameters cell, or given to papermill with `-p name value`):\n\n"
            "| parameter | value | meaning |\n|---|---|---|\n" + "\n".join(rows))


def _add_header(executed: Path, source: Path, parameters: dict) -> None:
    import nbformat

    notebook = nbformat.read(executed, as_version=4)
    cell = nbformat.v4.new_markdown_cell(report_header(source, parameters))
    cell.metadata["tags"] = ["pml-report-header"]
    notebook.cells.insert(1 if notebook.cells and notebook.cells[0].cell_type == "markdown" else 0, cell)
    nbformat.write(notebook, executed)


def execute(name: str, parameters: dict, out_dir: Path, notebooks_dir: Path = NOTEBOOKS,
            kernel_name: str | None = None, label: str | None = None, echo=None) -> Outcome:
    """Execute ``notebooks/<name>.ipynb`` into ``out_dir/<label>.ipynb`` and render ``<label>.html``.

    The kernel is the notebook's (``pml-kit``: this interpreter) unless ``kernel_name`` is given; the
    notebook's progress lines go to ``echo`` (a `ProgressEcho`, default one on stdout; False: none).
    """
    import papermill

    from .kernel import NotebookKernelManager

    label = label or name
    started = time.perf_counter()
    executed = out_dir / f"{label}.ipynb"
    source = notebooks_dir / f"{name}.ipynb"
    error = None
    try:
        papermill.execute_notebook(str(source), str(executed), parameters=parameters, cwd=str(notebooks_dir),
                                   kernel_name=kernel_name, progress_bar=False, log_output=False,
                                   stdout_file=(echo or ProgressEcho()) if echo is not False else None,
                                   kernel_manager_class=NotebookKernelManager)
    except Exception as exc:  # papermill raises PapermillExecutionError with the cell's traceback
        error = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    page = None
    if executed.is_file():
        _add_header(executed, source, parameters)
        page = out_dir / f"{label}.html"
        render_html(executed, page)
    return Outcome(label, time.perf_counter() - started, error, page)


def notebook_path(path: str | Path, notebooks_dir: Path = NOTEBOOKS) -> str:
    """``path`` as a notebook parameter: relative to ``notebooks_dir`` (the kernel's working directory) when it
    lies inside the repository, so executed notebooks show ``../results``, else absolute."""
    path = Path(path).resolve()
    root = notebooks_dir.resolve().parent
    return os.path.relpath(path, notebooks_dir.resolve()) if path.is_relative_to(root) else str(path)


INDEX_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 78rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 0.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #bbb; padding: 0.25rem 0.6rem; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #eee; text-align: center; white-space: nowrap; }
tbody td:first-child { white-space: nowrap; }
table.paper-table { min-width: 48rem; }
caption { caption-side: top; text-align: left; font-size: 0.88rem; padding: 0.3rem 0; }
tr.group th { background: #f6f6f6; text-align: left; font-style: italic; }
td details { text-align: left; font-size: 0.8rem; }
td details ul { margin: 0.2rem 0; padding-left: 1rem; }
p.note { font-size: 0.85rem; color: #444; margin: 0.2rem 0 1rem; }
.stand-in { border: 2px solid #b00; background: #fff4f4; padding: 0.4rem 0.8rem; font-weight: bold; color: #900; }
.failed { color: #b00; font-weight: bold; }
.meta td, .meta th { text-align: left; }
figure { display: inline-block; max-width: 100%; margin: 0 1.5rem 1.5rem 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.85rem; }
code { background: #f4f4f4; padding: 0 0.2rem; }
section { margin-bottom: 1.8rem; }
"""
RUN_FILES = ("config.yaml", "metrics.json", "history.csv", "provenance.json")


def _href(path: Path, out_dir: Path) -> str:
    """A relative, URL-quoted link from ``out_dir/index.html`` to ``path``."""
    from urllib.parse import quote

    return html.escape(quote(Path(os.path.relpath(Path(path).resolve(), Path(out_dir).resolve())).as_posix()))


def _inline_markdown(cell: str) -> str:
    """Escape a table cell and keep its ``**bold**`` (how the tables mark the best value)."""
    import re

    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(cell.strip()))


def markdown_table_html(text: str) -> str | None:
    """The first pipe table of a markdown text as an HTML ``<table>`` (None when there is none)."""
    rows = [line.strip() for line in text.splitlines() if line.strip().startswith("|")]
    if len(rows) < 2 or set(rows[1].replace("|", "").replace(":", "").replace(" ", "")) - {"-"}:
        return None
    split = [[cell for cell in row.strip("|").split("|")] for row in rows]
    head = "".join(f"<th>{_inline_markdown(c)}</th>" for c in split[0])
    body = "\n".join("<tr>" + "".join(f"<td>{_inline_markdown(c)}</td>" for c in row) + "</tr>" for row in split[2:])
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def run_links(run_ids: list[str], run_root: Path, out_dir: Path) -> str:
    """The runs behind a table row: for each run folder (``run_root/<id>``) its config, metrics, history and
    provenance files, linked relative to ``out_dir``; a file that is not there is named, not linked."""
    esc = html.escape
    items = []
    for run in run_ids:
        folder = run_root / run
        files = [f'<a href="{_href(folder / name, out_dir)}">{esc(name.split(".")[0])}</a>' if (folder / name).is_file()
                 else f'<span class="failed">{esc(name)} missing</span>' for name in RUN_FILES]
        items.append(f"<li><code>{esc(run)}</code>: {' · '.join(files)}</li>")
    if not items:
        return "<i>no runs</i>"
    return f"<details><summary>{len(items)} run{'s' * (len(items) != 1)}</summary><ul>{''.join(items)}</ul></details>"


def _table_html(stem: Path, run_root: Path | None, out_dir: Path) -> str:
    """A table of `tables.write_table` (caption, grouped rows, notes, a column of run links), else ``<stem>.md``'s
    pipe table, else a note."""
    from .tables import read_table, to_html

    md, csv = stem.with_suffix(".md"), stem.with_suffix(".csv")
    problem = ""
    if csv.is_file():
        try:  # pandas' parser errors are ValueErrors
            table = read_table(stem)
        except (ValueError, KeyError) as exc:
            problem = f"<p><i>{html.escape(csv.name)} is not a report table: {html.escape(str(exc))}</i></p>"
        else:
            links = (lambda ids: run_links(ids, run_root, out_dir)) if run_root is not None and table.runs else None
            banner = ""
            if "STAND-IN" in table.caption:
                banner = f'<p class="stand-in">{html.escape(table.caption.split(". ")[0])}.</p>\n'
            return banner + to_html(table, links)
    rendered = markdown_table_html(md.read_text()) if md.is_file() else None
    return rendered or problem or "<p><i>no table text</i></p>"


def _notebook_title(name: str, notebooks_dir: Path) -> str | None:
    """The first heading of ``notebooks/<name>.ipynb`` (e.g. "Retrieval quality (the paper's retrieval table)")."""
    path = notebooks_dir / f"{name}.ipynb"
    if not path.is_file():
        return None
    import nbformat

    cells = nbformat.read(path, as_version=4).cells
    first = cells[0].source.strip().splitlines() if cells and cells[0].cell_type == "markdown" else []
    return first[0].lstrip("# ").strip() if first and first[0].startswith("#") else None


def _owner(stem: str, names: list[str]) -> str | None:
    """The notebook (of ``names``) that writes a file stem: itself, or the prefix before ``_`` (quickstart_*)."""
    return next((name for name in names if stem == name or stem.startswith(name + "_")), None)


def write_machines(figures_dir: Path, run_root: Path) -> Path:
    """``figures_dir/machines.json``: what computed the runs behind the tables and figures.

    The distinct (CPU, platform, Python, library versions, CPU-kernel settings) of every run's
    ``provenance.json`` under ``run_root``, each with the number of runs it computed, most runs first. No
    date or commit: a rerun over the same run store writes the same file.
    """
    import json

    machines: dict[str, dict] = {}
    for path in sorted(Path(run_root).rglob("provenance.json")):
        record = json.loads(path.read_text())
        machine = {key: record.get(key) for key in ("platform", "python", "versions", "cpu_kernels", "device")}
        key = json.dumps(machine, sort_keys=True)
        machines.setdefault(key, {**machine, "runs": 0})["runs"] += 1
    listed = sorted(machines.values(), key=lambda m: -m["runs"])
    target = Path(figures_dir) / "machines.json"
    target.write_text(json.dumps({"run_store": Path(run_root).name, "machines": listed}, indent=1, sort_keys=True)
                      + "\n")
    return target


def write_index(out_dir: Path, profile: str, outcomes: list[Outcome], figures_dir: Path,
                results_root: Path | None = None, notebooks_dir: Path = NOTEBOOKS) -> Path:
    """``out_dir/index.html``: the landing page of a profile's reports.

    In the paper's order (the manifest's): every table of ``figures_dir`` rendered as an HTML table with
    its caption, notes and, per row, links to the files of the runs behind it (under
    ``results_root/<profile>``), with its csv / md / tex files and its notebook; every figure as an image
    with its pdf; then every rendered notebook of ``out_dir`` (this run's with their time and failures,
    then ones left by earlier runs) and any other file. All links are relative; nothing is loaded from
    the network.
    """
    from ..utils import git_commit

    out_dir, figures_dir = Path(out_dir), Path(figures_dir)
    run_root = Path(results_root) / profile if results_root is not None else None
    esc = html.escape
    names = [entry["name"] for entry in manifest(profile, notebooks_dir)]

    def order(stem: str) -> tuple[int, str]:
        owner = _owner(stem, names)
        return (names.index(owner) if owner else len(names), stem)

    def notebook_link(stem: str) -> str:
        owner = _owner(stem, names)
        page = out_dir / f"{owner}.html" if owner else None
        return f' · <a href="{_href(page, out_dir)}">notebook</a>' if page and page.is_file() else ""

    ran = {o.html.name: o for o in outcomes if o.html}
    failed_without_page = [o for o in outcomes if not o.html and o.error]
    pages = sorted((p for p in out_dir.glob("*.html") if p.name != "index.html"),
                   key=lambda p: (order(p.stem.split("-")[0] if p.stem not in names else p.stem), p.name))
    notebook_rows = []
    for page in pages:
        outcome = ran.get(page.name)
        executed = page.with_suffix(".ipynb")
        links = f'<a href="{_href(page, out_dir)}">{esc(page.stem)}</a>'
        if executed.is_file():
            links += f' (<a href="{_href(executed, out_dir)}">ipynb</a>)'
        if outcome is None:
            state = "from an earlier run"
        elif outcome.error:
            state = f'<span class="failed">FAILED</span>: {esc(outcome.error)} ({outcome.seconds:.0f} s)'
        else:
            state = f"ok ({outcome.seconds:.0f} s)"
        notebook_rows.append(f"<tr><td>{links}</td><td>{state}</td></tr>")
    notebook_rows += [f'<tr><td>{esc(o.name)}</td><td><span class="failed">FAILED</span> before writing a notebook: '
                      f'{esc(o.error)}</td></tr>' for o in failed_without_page]
    notebooks = ("<table>\n<thead><tr><th>notebook</th><th>this run</th></tr></thead>\n<tbody>\n"
                 + "\n".join(notebook_rows) + "\n</tbody>\n</table>") if notebook_rows else "<p><i>none</i></p>"

    files = sorted(p for p in figures_dir.glob("*") if p.is_file()) if figures_dir.is_dir() else []
    table_stems = sorted({p.with_suffix("") for p in files if p.name.startswith("table_")
                          and p.suffix in (".md", ".csv", ".tex")}, key=lambda s: order(s.name))
    tables = []
    for stem in table_stems:
        own = [stem.with_suffix(s) for s in (".csv", ".md", ".tex") if stem.with_suffix(s).is_file()]
        links = " · ".join(f'<a href="{_href(p, out_dir)}">{esc(p.suffix[1:])}</a>' for p in own)
        title = _notebook_title(stem.name, notebooks_dir) or stem.name
        tables.append(f'<section id="{esc(stem.name)}">\n<h3>{esc(title)} <small><code>{esc(stem.name)}</code></small>'
                      f'</h3>\n<p>{links}{notebook_link(stem.name)}</p>\n{_table_html(stem, run_root, out_dir)}\n'
                      "</section>")
    figure_items = []
    for png in sorted((p for p in files if p.suffix == ".png"), key=lambda p: order(p.stem)):
        pdf = png.with_suffix(".pdf")
        extra = f' · <a href="{_href(pdf, out_dir)}">pdf</a>' if pdf.is_file() else ""
        figure_items.append(f'<figure id="{esc(png.stem)}"><a href="{_href(png, out_dir)}"><img src="{_href(png, out_dir)}" '
                            f'alt="{esc(png.stem)}"></a><figcaption><code>{esc(png.stem)}</code>{extra}'
                            f'{notebook_link(png.stem)}</figcaption></figure>')
    shown = {p for stem in table_stems for p in (stem.with_suffix(s) for s in (".csv", ".md", ".tex"))}
    shown |= {p for p in files if p.suffix == ".png"} | {p.with_suffix(".pdf") for p in files if p.suffix == ".png"}
    others = [f'<li><a href="{_href(p, out_dir)}">{esc(p.name)}</a></li>' for p in files if p not in shown]

    failed = sum(1 for o in outcomes if o.error)
    summary = f"{len(outcomes) - failed} of {len(outcomes)} notebooks ran" + (
        f', <span class="failed">{failed} failed</span>' if failed else "")
    store = (f'<tr><th>run store</th><td><code>{esc(os.path.relpath(run_root.resolve(), out_dir.resolve()))}/</code>'
             "</td></tr>") if run_root is not None else ""
    page = out_dir / "index.html"
    page.write_text(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pml-kit reports: {esc(profile)}</title>
<style>{INDEX_STYLE}</style></head>
<body>
<h1>pml-kit reports, profile <code>{esc(profile)}</code></h1>
<table class="meta">
<tr><th>profile</th><td><code>{esc(profile)}</code></td></tr>
<tr><th>run date</th><td>{time.strftime('%Y-%m-%d %H:%M:%S %Z')}</td></tr>
<tr><th>git commit</th><td><code>{esc(git_commit() or 'unknown')}</code></td></tr>
<tr><th>this run</th><td>{summary} (<a href="#notebooks">notebooks</a>)</td></tr>
<tr><th>tables and figures</th><td><code>{esc(os.path.relpath(figures_dir.resolve(), out_dir.resolve()))}/</code></td></tr>
{store}
</table>
<p>Tables first, then figures, in the paper's order. Each table row lists the runs behind its numbers (the
seeds the cells average) with their config, metrics, training history and provenance.</p>
<h2>Tables</h2>
{chr(10).join(tables) or "<p><i>no tables yet</i></p>"}
<h2>Figures</h2>
{chr(10).join(figure_items) or "<p><i>no figures yet</i></p>"}
<h2 id="notebooks">Notebooks</h2>
<p>Executed notebooks rendered to HTML with their code hidden; the <code>ipynb</code> link is the executed
notebook itself (open it in JupyterLab: <code>./run_all.sh lab</code>).</p>
{notebooks}
{"<h2>Other files</h2><ul>" + chr(10).join(others) + "</ul>" if others else ""}
</body></html>
""")
    return page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="smoke", choices=["tiny", "smoke", "paper"])
    parser.add_argument("--data-root", default=None, help="datasets folder (default: the kit's cache for glyphs)")
    parser.add_argument("--results-root", default=str(ROOT / "results"))
    parser.add_argument("--reports-root", default=str(ROOT / "reports"))
    parser.add_argument("--figures-root", default=str(ROOT / "paper_figures"))
    parser.add_argument("--datasets", nargs="+", default=None)
    parser.add_argument("--methods", nargs="+", default=None)
    parser.add_argument("--gpus", type=int, default=None, help="GPUs to use (paper profile)")
    parser.add_argument("--only", nargs="+", default=None, help="run only these notebooks")
    parser.add_argument("--no-pin-cpu", action="store_true",
                        help="tiny / smoke: do not pin the CPU kernels (pml_core.reproducibility; README, "
                             "'Reproducibility across machines'): faster on many cores, numbers differ across CPUs")
    parser.add_argument("--retry-failed", action="store_true",
                        help="retry the runs whose last attempt failed (otherwise they are reported, not retried)")
    from ..commands.common import add_launcher_arguments

    add_launcher_arguments(parser, workers_default=None,
                           workers_default_text=f"smoke, pinned: one per CPU core, at most {MAX_PINNED_WORKERS}; "
                                                "otherwise 1: this process")
    args = parser.parse_args(argv)
    pinned = args.profile in PINNED_PROFILES and not args.no_pin_cpu
    if pinned:
        from .. import reproducibility

        os.environ.update(reproducibility.pinned_environment())  # the notebook kernels start in it
        print(f"[{args.profile}] CPU kernels pinned for reproducible numbers: "
              + " ".join(f"{k}={v}" for k, v in reproducibility.PIN.items()), flush=True)
    if args.workers is None:
        parallel = pinned and args.profile in PARALLEL_PROFILES and args.launcher == "local"
        args.workers = pinned_workers() if parallel else 1

    if args.profile == "paper" and not args.data_root:
        parser.error("the paper profile needs --data-root DIR (see README, 'Datasets')")
    out_dir = Path(args.reports_root) / args.profile
    out_dir.mkdir(parents=True, exist_ok=True)
    figures_dir = Path(args.figures_root) / args.profile
    figures_dir.mkdir(parents=True, exist_ok=True)
    common = {"profile": args.profile, "results_root": notebook_path(args.results_root),
              "output_dir": notebook_path(figures_dir), "data_root": notebook_path(args.data_root) if args.data_root else ""}
    if args.datasets:
        common["datasets"] = args.datasets
    if args.methods:
        common["methods"] = args.methods
    if args.gpus is not None:
        common["device"] = "cuda" if args.gpus > 0 else "cpu"

    if args.workers > 1 or args.launcher == "slurm" or args.retry_failed or (args.gpus or 0) > 1:
        from ..errors import PMLError

        try:
            submitted = train_first(args, common.get("device", "cpu"))
        except PMLError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        if submitted:
            print(f"[{args.profile}] the grid is submitted; once `python -m pml_core grid --profile {args.profile} "
                  "--status` (with the same --datasets / --methods / --results-root) shows it done, run this "
                  "command again without --launcher to execute the notebooks")
            return 0

    outcomes = []
    started = time.perf_counter()
    for entry in manifest(args.profile):
        if args.only and entry["name"] not in args.only:
            continue
        datasets = args.datasets or profile_grid(args.profile)["datasets"]
        for dataset in datasets if entry.get("per_dataset") else [None]:
            parameters = {**common, **entry.get("parameters", {})}
            label = entry["name"]
            if dataset is not None:
                parameters["dataset"] = dataset
                label = f"{label}-{dataset}"
            print(f"[{args.profile}] {label} ...", flush=True)
            outcome = execute(entry["name"], parameters, out_dir, label=label)
            status = f"FAILED: {outcome.error}" if outcome.error else "ok"
            print(f"[{args.profile}] {label}: {status} ({outcome.seconds:.0f} s)", flush=True)
            outcomes.append(outcome)
    write_machines(figures_dir, Path(args.results_root) / args.profile)
    index = write_index(out_dir, args.profile, outcomes, figures_dir, results_root=Path(args.results_root))
    failed = [o for o in outcomes if o.error]
    print(f"\nSummary ({args.profile}): {len(outcomes) - len(failed)} of {len(outcomes)} notebooks ran in "
          f"{time.perf_counter() - started:.0f} s")
    for outcome in outcomes:
        print(f"  {'FAILED' if outcome.error else 'ok    '} {outcome.name:28s} {outcome.seconds:7.0f} s")
    print(f"Rendered notebooks: {out_dir}/ (index: {index})")
    print(f"Tables and figures: {figures_dir}/")
    return 1 if failed or not outcomes else 0


def train_first(args, device: str) -> bool:
    """Train the slices the notebooks of ``args.profile`` need with the launcher options; True if submitted."""
    from ..commands.common import launch_options
    from ..data import default_data_root
    from . import faces, paper

    if args.workers == 1 and (args.gpus or 0) > 1:
        args.workers = args.gpus
    launch = launch_options(args)
    slices = [paper.grid_slice(args.profile, datasets=args.datasets)]
    face = faces.face_slice(args.profile, datasets=args.datasets, methods=args.methods)
    if not faces.is_stand_in(face):
        slices.append(face)
    submitted = False
    for slice_ in slices:
        print(f"[{args.profile}] training {', '.join(slice_['datasets'])} with {launch.workers} "
              f"{'Slurm' if launch.launcher == 'slurm' else 'local'} worker(s) ...", flush=True)
        report = paper.ensure_slice(args.profile, slice_, results_root=args.results_root,
                                    data_root=args.data_root or str(default_data_root()), device=device,
                                    methods=args.methods, launch=launch, retry_failed=args.retry_failed)
        print(report.summary(), flush=True)
        submitted |= report.launch is not None and report.launch.submitted
    return submitted


if __name__ == "__main__":
    sys.exit(main())
