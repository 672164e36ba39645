"""Execute the notebooks of a profile with papermill and render them to HTML (what ``./run_all.sh`` runs).

``python -m pml_core.report.run_notebooks --profile smoke`` executes every notebook that
``notebooks/manifest.yaml`` lists for the profile, in order, into ``reports/<profile>/<name>.ipynb``,
renders each to ``reports/<profile>/<name>.html`` with inputs hidden, and prints a summary. A failing
notebook is reported and the others still run; the exit status is non-zero if any failed.
"""

from __future__ import annotations

import argparse
import html
import os
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


def render_html(executed: Path, target: Path) -> None:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter()
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_filename(str(executed))
    target.write_text(body)


def execute(name: str, parameters: dict, out_dir: Path, notebooks_dir: Path = NOTEBOOKS,
            kernel_name: str | None = None, label: str | None = None) -> Outcome:
    """Execute ``notebooks/<name>.ipynb`` into ``out_dir/<label>.ipynb`` and render ``<label>.html``."""
    import papermill

    label = label or name
    started = time.perf_counter()
    executed = out_dir / f"{label}.ipynb"
    error = None
    try:
        papermill.execute_notebook(str(notebooks_dir / f"{name}.ipynb"), str(executed), parameters=parameters,
                                   cwd=str(notebooks_dir), kernel_name=kernel_name, progress_bar=False,
                                   log_output=False)
    except Exception as exc:  # papermill raises PapermillExecutionError with the cell's traceback
        error = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    page = None
    if executed.is_file():
        page = out_dir / f"{label}.html"
        render_html(executed, page)
    return Outcome(label, time.perf_counter() - started, error, page)


INDEX_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #bbb; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #eee; }
.failed { color: #b00; font-weight: bold; }
.meta td, .meta th { text-align: left; }
figure { display: inline-block; margin: 0 1.5rem 1.5rem 0; vertical-align: top; }
figure img { max-width: 32rem; border: 1px solid #ddd; }
figcaption { font-size: 0.85rem; }
code { background: #f4f4f4; padding: 0 0.2rem; }
"""


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


def _table_html(stem: Path) -> str:
    """``<stem>.md`` rendered (the printed precision), else ``<stem>.csv`` through pandas, else a note."""
    md, csv = stem.with_suffix(".md"), stem.with_suffix(".csv")
    if md.is_file():
        rendered = markdown_table_html(md.read_text())
        if rendered:
            return rendered
    if csv.is_file():
        import pandas as pd

        try:
            return pd.read_csv(csv).to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0, na_rep="")
        except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            return f"<p><i>{html.escape(csv.name)} could not be read: {html.escape(str(exc))}</i></p>"
    return "<p><i>no table text</i></p>"


def write_index(out_dir: Path, profile: str, outcomes: list[Outcome], figures_dir: Path) -> Path:
    """``out_dir/index.html``: the landing page of a profile's reports.

    Links (all relative, so the folders can be moved or served together) to every rendered notebook of
    ``out_dir`` (this run's first, with their time and failures, then ones left by earlier runs), every table
    of ``figures_dir`` rendered as an HTML table with its csv / md / tex files, every figure as an image with
    its pdf, and any other file there; with the run date, the git commit and the profile.
    """
    from ..utils import git_commit

    out_dir, figures_dir = Path(out_dir), Path(figures_dir)
    esc = html.escape
    ran = {o.html.name: o for o in outcomes if o.html}
    failed_without_page = [o for o in outcomes if not o.html and o.error]
    pages = sorted(p for p in out_dir.glob("*.html") if p.name != "index.html")
    notebook_rows = []
    for page in sorted(pages, key=lambda p: (p.name not in ran, p.name)):
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
                          and p.suffix in (".md", ".csv", ".tex")})
    tables = []
    for stem in table_stems:
        own = [stem.with_suffix(s) for s in (".csv", ".md", ".tex") if stem.with_suffix(s).is_file()]
        links = " · ".join(f'<a href="{_href(p, out_dir)}">{esc(p.suffix[1:])}</a>' for p in own)
        tables.append(f'<h3 id="{esc(stem.name)}">{esc(stem.name)}</h3>\n<p>{links}</p>\n{_table_html(stem)}')
    figure_items = []
    for png in (p for p in files if p.suffix == ".png"):
        pdf = png.with_suffix(".pdf")
        extra = f' · <a href="{_href(pdf, out_dir)}">pdf</a>' if pdf.is_file() else ""
        figure_items.append(f'<figure><a href="{_href(png, out_dir)}"><img src="{_href(png, out_dir)}" '
                            f'alt="{esc(png.stem)}"></a><figcaption>{esc(png.stem)}{extra}</figcaption></figure>')
    shown = {p for stem in table_stems for p in (stem.with_suffix(s) for s in (".csv", ".md", ".tex"))}
    shown |= {p for p in files if p.suffix == ".png"} | {p.with_suffix(".pdf") for p in files if p.suffix == ".png"}
    others = [f'<li><a href="{_href(p, out_dir)}">{esc(p.name)}</a></li>' for p in files if p not in shown]

    failed = sum(1 for o in outcomes if o.error)
    summary = f"{len(outcomes) - failed} of {len(outcomes)} notebooks ran" + (
        f', <span class="failed">{failed} failed</span>' if failed else "")
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
<tr><th>this run</th><td>{summary}</td></tr>
<tr><th>tables and figures</th><td><code>{esc(os.path.relpath(figures_dir.resolve(), out_dir.resolve()))}/</code></td></tr>
</table>
<h2>Notebooks</h2>
<p>Executed notebooks rendered to HTML with their code hidden; the <code>ipynb</code> link is the executed
notebook itself (open it in JupyterLab: <code>./run_all.sh lab</code>).</p>
{notebooks}
<h2>Tables</h2>
{chr(10).join(tables) or "<p><i>no tables yet</i></p>"}
<h2>Figures</h2>
{chr(10).join(figure_items) or "<p><i>no figures yet</i></p>"}
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
    args = parser.parse_args(argv)
    if args.profile in PINNED_PROFILES and not args.no_pin_cpu:
        from .. import reproducibility

        os.environ.update(reproducibility.pinned_environment())  # the notebook kernels start in it
        print(f"[{args.profile}] CPU kernels pinned for reproducible numbers: "
              + " ".join(f"{k}={v}" for k, v in reproducibility.PIN.items()), flush=True)

    if args.profile == "paper" and not args.data_root:
        parser.error("the paper profile needs --data-root DIR (see README, 'Datasets')")
    out_dir = Path(args.reports_root) / args.profile
    out_dir.mkdir(parents=True, exist_ok=True)
    figures_dir = Path(args.figures_root) / args.profile
    figures_dir.mkdir(parents=True, exist_ok=True)
    common = {"profile": args.profile, "results_root": str(Path(args.results_root).resolve()),
              "output_dir": str(figures_dir.resolve()), "data_root": args.data_root or ""}
    if args.datasets:
        common["datasets"] = args.datasets
    if args.methods:
        common["methods"] = args.methods
    if args.gpus is not None:
        common["device"] = "cuda" if args.gpus > 0 else "cpu"

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
    index = write_index(out_dir, args.profile, outcomes, figures_dir)
    failed = [o for o in outcomes if o.error]
    print(f"\nSummary ({args.profile}): {len(outcomes) - len(failed)} of {len(outcomes)} notebooks ran in "
          f"{time.perf_counter() - started:.0f} s")
    for outcome in outcomes:
        print(f"  {'FAILED' if outcome.error else 'ok    '} {outcome.name:28s} {outcome.seconds:7.0f} s")
    print(f"Rendered notebooks: {out_dir}/ (index: {index})")
    print(f"Tables and figures: {figures_dir}/")
    return 1 if failed or not outcomes else 0


if __name__ == "__main__":
    sys.exit(main())
