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


def write_index(out_dir: Path, profile: str, outcomes: list[Outcome], figures_dir: Path) -> Path:
    from ..utils import git_commit

    items = "\n".join(
        f'<li><a href="{o.html.name}">{html.escape(o.name)}</a> ({o.seconds:.0f} s)'
        + (f' <b>FAILED</b>: {html.escape(o.error)}' if o.error else "") + "</li>"
        for o in outcomes if o.html)
    artefacts = "\n".join(
        f'<li><a href="{os.path.relpath(p, out_dir)}">{html.escape(p.name)}</a></li>'
        for p in sorted(figures_dir.glob("*")) if p.suffix in (".md", ".csv", ".png", ".pdf", ".tex"))
    page = out_dir / "index.html"
    page.write_text(f"""<!doctype html>
<html><head><meta charset="utf-8"><title>pml-kit reports: {profile}</title></head>
<body><h1>pml-kit reports, profile <code>{profile}</code></h1>
<p>Generated {time.strftime('%Y-%m-%d %H:%M:%S')} from commit <code>{git_commit() or 'unknown'}</code>.</p>
<h2>Notebooks</h2><ul>{items}</ul>
<h2>Tables and figures</h2><ul>{artefacts}</ul>
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
    args = parser.parse_args(argv)

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
