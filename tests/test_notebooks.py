"""Notebooks: committed without outputs (and kept so by the nbstripout git filter), on the kit's kernel, each
executed by papermill in the tiny profile with nothing but the kit's own lines on the terminal, tables and
figures written where the profile says, reports opening with their parameters and a link to the index, and
tables identical when regenerated from an independently trained run store."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from conftest import ROOT
from pml_core.errors import ConfigError
from pml_core.report import notebook as notebook_setup
from pml_core.report import run_notebooks

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
FILTER_KEYS = "metadata.language_info"  # what ./run_all.sh setup adds to nbstripout's defaults


def _git(*args, cwd=ROOT, check=True) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=check).stdout.strip()


def _as_committed(path: Path) -> str:
    """The notebook as a commit would hold it: through git's clean filter when one is active for the file
    (nbstripout, as ./run_all.sh setup installs it), else the file itself (a fresh clone, CI)."""
    try:
        attribute = _git("check-attr", "filter", "--", str(path.relative_to(ROOT)))
        clean = _git("config", "--get", "filter.nbstripout.clean", check=False)
    except (OSError, subprocess.CalledProcessError):
        return path.read_text()
    if not attribute.endswith(": nbstripout") or not clean:
        return path.read_text()
    return subprocess.run(clean, shell=True, cwd=ROOT, input=path.read_text(), capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean_and_parameterized(path):
    notebook = nbformat.reads(_as_committed(path), as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code), "commit notebooks without outputs"
    assert "parameters" in code[0].metadata.get("tags", []), "the first code cell must be the parameters cell"
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")
    assert notebook.metadata.kernelspec == {"name": "pml-kit", "display_name": "Python (pml-kit)", "language": "python"}
    listed = {entry["name"] for entry in run_notebooks.manifest("smoke") + run_notebooks.manifest("paper")}
    assert path.stem in listed, "every notebook is in notebooks/manifest.yaml"
    source = next(cell.source for cell in code if "parameters" in cell.metadata.get("tags", []))
    assert re.search(r'^output_dir = ""', source, re.M), "interactive runs write to scratch/<profile>/"
    assert "paper_figures" not in "".join(cell.source for cell in code if "parameters" not in cell.metadata.get("tags", []))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_is_what_the_git_filter_leaves(path):
    """A fixed point of nbstripout: otherwise git would show a notebook that was only opened as modified."""
    stripped = subprocess.run([sys.executable, "-m", "nbstripout", "--textconv", "--extra-keys", FILTER_KEYS],
                              input=_as_committed(path), capture_output=True, text=True, check=True).stdout
    assert stripped == _as_committed(path), f"regenerate with tools/make_notebooks.py ({path.name} is not stripped)"


def test_git_filter_keeps_outputs_out_of_commits(tmp_path):
    """.gitattributes + the filter ./run_all.sh setup installs: a notebook saved with outputs (by nbconvert
    --inplace, VS Code...; JupyterLab itself saves committed notebooks without them, test_lab.py) has no diff,
    and what git stores of it has no outputs."""
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / ".gitattributes", repo / ".gitattributes")
    shutil.copy(ROOT / "notebooks" / "quickstart.ipynb", repo / "notebooks" / "quickstart.ipynb")
    _git("init", "-q", cwd=repo)
    for command in ([sys.executable, "-m", "nbstripout", "--install", "--attributes", ".gitattributes"],
                    ["git", "config", "filter.nbstripout.extrakeys", FILTER_KEYS],
                    ["git", "config", "user.email", "t@example.org"], ["git", "config", "user.name", "t"]):
        subprocess.run(command, cwd=repo, check=True, capture_output=True)
    _git("add", "-A", cwd=repo)
    _git("commit", "-qm", "notebooks", cwd=repo)
    assert _git("status", "--porcelain", cwd=repo) == ""

    path = repo / "notebooks" / "quickstart.ipynb"
    executed = nbformat.read(path, as_version=4)
    for count, cell in enumerate(c for c in executed.cells if c.cell_type == "code"):
        cell.execution_count = count + 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * 1000)]
    executed.metadata["language_info"] = {"name": "python", "version": "3.11.9", "file_extension": ".py"}
    executed.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nbformat.write(executed, path)
    assert "x" * 1000 in path.read_text()
    assert _git("diff", "--stat", cwd=repo) == "", "a notebook saved with outputs has no diff"
    _git("add", "-A", cwd=repo)
    assert _git("status", "--porcelain", cwd=repo) == "", "staging it changes nothing"
    stored = nbformat.reads(_git("show", ":notebooks/quickstart.ipynb", cwd=repo), as_version=4)
    assert all(not c.get("outputs") for c in stored.cells)
    path.write_text(path.read_text().replace("num_queries = 8", "num_queries = 9"))
    assert _git("status", "--porcelain", cwd=repo) == "M notebooks/quickstart.ipynb", "a real edit still shows"


def test_output_folder_follows_the_profile():
    assert notebook_setup.output_folder("tiny") == Path("../scratch/tiny")
    assert notebook_setup.output_folder("smoke", "", "notebooks") == Path("notebooks/../scratch/smoke")
    assert notebook_setup.output_folder("smoke", "../paper_figures/smoke") == Path("../paper_figures/smoke")
    assert notebook_setup.output_folder("tiny", "/tmp/figures") == Path("/tmp/figures")
    with pytest.raises(ConfigError, match="smoke profile's folder"):
        notebook_setup.output_folder("tiny", "../paper_figures/smoke")
    with pytest.raises(ConfigError, match="profile must be"):
        notebook_setup.output_folder("quick")
    assert "tiny" in notebook_setup.profile_note("tiny") and "smoke" not in notebook_setup.profile_note("tiny")
    if not (ROOT / ".git").exists():
        return  # not a git checkout: nothing is ignored
    ignored = {path: subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode
               for path in ("scratch/tiny/x.png", "paper_figures/tiny/x.png", "paper_figures/smoke/x.png")}
    assert ignored == {"scratch/tiny/x.png": 0, "paper_figures/tiny/x.png": 0, "paper_figures/smoke/x.png": 1}, \
        "scratch/ and paper_figures/tiny/ are git-ignored, paper_figures/smoke/ is committed"


def test_notebook_paths_are_relative_inside_the_repository(tmp_path):
    assert run_notebooks.notebook_path(ROOT / "results") == "../results"
    assert run_notebooks.notebook_path(ROOT / "paper_figures" / "tiny") == "../paper_figures/tiny"
    assert run_notebooks.notebook_path(tmp_path) == str(tmp_path.resolve())


@pytest.mark.parametrize("options, workers", [([], 3), (["--workers", "1"], None), (["--no-pin-cpu"], None),
                                              (["--workers", "2", "--no-pin-cpu"], 2)])
def test_pinned_profiles_train_with_one_worker_per_core(options, workers, monkeypatch, tmp_path):
    """smoke pinned: the grid is trained first by one local worker per core (3 here); an explicit --workers,
    no pin, or the tiny profile keeps one process (the notebooks train in their own kernel)."""
    trained = []
    monkeypatch.setattr(os, "environ", dict(os.environ))  # the pin is written into os.environ
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    monkeypatch.setattr(run_notebooks, "train_first", lambda args, device: trained.append(args.workers) or False)
    monkeypatch.setattr(run_notebooks, "manifest", lambda *args, **kwargs: [])
    roots = [f"--{kind}-root={tmp_path / kind}" for kind in ("results", "reports", "figures")]
    run_notebooks.main(["--profile", "smoke", *roots, *options])
    assert trained == ([workers] if workers else [])
    trained.clear()
    run_notebooks.main(["--profile", "tiny", *roots, *options])
    assert trained == ([workers] if workers and "--workers" in options else [])
    assert run_notebooks.pinned_workers() == 3


def test_machines_file_counts_the_runs_of_each_machine(tmp_path):
    import json

    store = tmp_path / "results" / "smoke"
    one = {"platform": "Linux-x86_64", "python": "3.11.7", "versions": {"torch": "2.14.1"}, "device": "cpu",
           "cpu_kernels": {"cpu": "AMD EPYC", "pinned": True}, "wall_seconds": 1.0, "git_commit": "abc"}
    other = {**one, "cpu_kernels": {"cpu": "Intel Xeon", "pinned": True}, "wall_seconds": 2.0}
    for index, record in enumerate([one, {**one, "wall_seconds": 5.0, "git_commit": "def"}, other]):
        run = store / "glyphs" / f"m-128/seed-{index}"
        run.mkdir(parents=True)
        (run / "provenance.json").write_text(json.dumps(record))
    first = run_notebooks.write_machines(tmp_path, store).read_text()
    machines = json.loads(first)["machines"]
    assert [(m["cpu_kernels"]["cpu"], m["runs"]) for m in machines] == [("AMD EPYC", 2), ("Intel Xeon", 1)]
    assert "wall_seconds" not in machines[0] and "git_commit" not in machines[0]
    assert run_notebooks.write_machines(tmp_path, store).read_text() == first  # a rerun writes the same file


def test_progress_echo_passes_only_progress_lines():
    import io

    sink = io.StringIO()
    echo = run_notebooks.ProgressEcho(sink)
    for chunk in ("grid: 2 runs, 0 complete\n[1/2] glyphs/arcface-8 seed 0: ep", "och 1/2, loss 3\nwritten:\n",
                  "  [x/2] no\n[2/2] glyphs/arcface-8 seed 1: done\n[3/3] unfinished"):
        echo.write(chunk)
    assert sink.getvalue() == "  [1/2] glyphs/arcface-8 seed 0: epoch 1/2, loss 3\n  [2/2] glyphs/arcface-8 seed 1: done\n"


KIT_LINES = [r"\[tiny\] CPU kernels pinned for reproducible numbers: .*", r"\[tiny\] [\w-]+ \.\.\.", r"\[tiny\] [\w-]+: (ok|FAILED: .*) \(\d+ s\)", r"  \[\d+/\d+\] \S+/seed-\d+: .*",
             r"", r"Summary \(tiny\): \d+ of \d+ notebooks ran in \d+ s", r"  (ok    |FAILED) [\w-]+ +\d+ s",
             r"Rendered notebooks: .*", r"Tables and figures: .*"]


@pytest.fixture(scope="module")
def tiny_outputs(tmp_path_factory, data_root):
    """``./run_all.sh tiny`` without the setup step, in a subprocess: (root, exit status, stdout + stderr)."""
    root = tmp_path_factory.mktemp("tiny")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "pml_core.report.run_notebooks", "--profile", "tiny",
                           "--data-root", str(data_root), "--results-root", str(root / "results"),
                           "--reports-root", str(root / "reports"), "--figures-root", str(root / "figures")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    return root, done.returncode, done.stdout + done.stderr


def test_a_tiny_run_prints_only_the_kits_lines(tiny_outputs):
    _, status, output = tiny_outputs
    assert status == 0, output[-3000:]
    strangers = [line for line in output.splitlines() if not any(re.fullmatch(p, line) for p in KIT_LINES)]
    assert not strangers, "noise on a normal run:\n" + "\n".join(strangers[:20])
    assert re.search(r"^  \[1/6\] glyphs/arcface-8/seed-0: epoch 1/2, loss [\d.]+, valid/mapr [\d.]+ \(\d+ s\)$",
                     output, re.M), "one progress line per epoch"
    assert re.search(r"^  \[6/6\] glyphs/pfe-nms-arcface-8/seed-1: done in \d+ s, infer-glyphs recall@1", output, re.M)


def test_reports_open_with_parameters_profile_and_index_link(tiny_outputs):
    reports = tiny_outputs[0] / "reports" / "tiny"
    for name in ("table_retrieval", "fig_erc", "quickstart"):
        executed = nbformat.read(reports / f"{name}.ipynb", as_version=4)
        assert executed.metadata.kernelspec.name == "pml-kit"
        header = executed.cells[1]
        assert header.cell_type == "markdown" and "pml-report-header" in header.metadata.tags
        assert "](index.html)" in header.source and "| `profile` | `\"tiny\"` (given) |" in header.source
        assert re.search(r"\| `output_dir` \| `\"\S+/figures/tiny\"` \(given\) \| empty: \.\./scratch/&lt;profile&gt;/",
                         header.source), "the parameter's comment, escaped for markdown"
        html = (reports / f"{name}.html").read_text()
        assert 'href="index.html"' in html and "Profile <code>tiny</code>" in html and "scratch/&lt;profile&gt;/" in html
        assert "smoke</code> profile" not in html and "With the `smoke` profile" not in html
    run = tiny_outputs[0] / "results" / "tiny" / "glyphs" / "arcface-8" / "seed-0"
    assert list((run / "tensorboard").glob("events.out.tfevents.*")), "grid runs log to TensorBoard"


def test_every_notebook_runs_in_the_tiny_profile(tiny_outputs):
    root, status, _ = tiny_outputs
    reports = root / "reports" / "tiny"
    expected = [e["name"] + ("-glyphs" if e.get("per_dataset") else "") for e in run_notebooks.manifest("tiny")]
    for name in expected:
        executed = nbformat.read(reports / f"{name}.ipynb", as_version=4)
        errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
        assert not errors, f"{name}: {errors[0].ename if errors else ''}"
        html = (reports / f"{name}.html").read_text()
        assert "<html" in html and "import " not in html, f"{name}: inputs must be hidden in the HTML"
    assert status == 0
    index = (reports / "index.html").read_text()
    assert all(f'href="{name}.html"' in index for name in expected)


def test_tables_and_figures_are_written_and_not_empty(tiny_outputs):
    figures = tiny_outputs[0] / "figures" / "tiny"
    for table in ("table_retrieval", "table_confidence", "table_verification", "table_ablations"):
        frame = pd.read_csv(figures / f"{table}.csv")
        assert len(frame) >= 1 and frame.filter(like="mean/").notna().any().any(), table
        assert (figures / f"{table}.md").read_text().count("\n") >= 3
        assert "\\begin{tabular}" in (figures / f"{table}.tex").read_text()
    retrieval = pd.read_csv(figures / "table_retrieval.csv")
    assert set(retrieval.method) == {"arcface", "pfe-arcface"}
    confidence = pd.read_csv(figures / "table_confidence.csv")
    assert set(confidence.method) == {"pfe-arcface"}  # probabilistic methods only
    for figure in ("fig_erc", "fig_filter_out", "fig_quality", "fig_embeddings", "quickstart_retrieval_grid",
                   "quickstart_embeddings"):
        for suffix in ("png", "pdf"):
            assert (figures / f"{figure}.{suffix}").stat().st_size > 1000, f"{figure}.{suffix}"


def test_tables_are_identical_when_regenerated_from_scratch(tiny_outputs, tmp_path, data_root):
    root, _, _ = tiny_outputs
    status = run_notebooks.main(["--profile", "tiny", "--data-root", str(data_root), "--only", "table_retrieval",
                                 "--results-root", str(tmp_path / "results"), "--reports-root", str(tmp_path / "reports"),
                                 "--figures-root", str(tmp_path / "figures")])
    assert status == 0
    for suffix in ("md", "tex"):  # the printed precision
        assert (tmp_path / "figures/tiny" / f"table_retrieval.{suffix}").read_text() == \
               (root / "figures/tiny" / f"table_retrieval.{suffix}").read_text()


def test_two_stage_runs_reuse_the_identical_first_stage(tiny_outputs):
    import torch

    glyphs = tiny_outputs[0] / "results" / "tiny" / "glyphs"
    for seed in (0, 1):
        base = torch.load(glyphs / f"arcface-8/seed-{seed}/checkpoints/stage-0/best.pth", weights_only=True)
        for method in ("pfe-arcface", "pfe-nms-arcface"):
            reused = torch.load(glyphs / f"{method}-8/seed-{seed}/checkpoints/stage-0/best.pth", weights_only=True)
            assert reused["model"].keys() == base["model"].keys()
            assert all(torch.equal(reused["model"][k], base["model"][k]) for k in base["model"])
    history = (glyphs / "pfe-arcface-8/seed-0/history.csv").read_text().splitlines()
    assert {row.split(",")[0] for row in history[1:]} == {"0", "1"}  # stage-0 epochs are part of its history


def test_erc_curve_areas_are_the_table_erc_values(tiny_outputs):
    """The area under each curve of fig_erc is the ERC of table_confidence: the same runs (best k seeds), the
    per-query errors of the evaluation itself, bit for bit."""
    from pml_core.experiments import runstore
    from pml_core.report import figures, paper

    root = tiny_outputs[0]
    slice_ = paper.grid_slice("tiny")
    methods = [m for m in slice_["methods"] if paper.is_probabilistic(m)]
    frame = paper.erc_frame(root / "results", "tiny", slice_, methods)
    assert not frame.empty and frame.exact.all()
    for (method, dim, seed, metric), curve in frame.groupby(["method", "dim", "seed", "metric"]):
        stored = runstore.read_metrics(runstore.run_dir(root / "results", "tiny", "glyphs", method, dim, seed))
        assert curve.error.to_numpy().mean() == stored["infer-glyphs"][metric], (method, seed, metric)
    table = pd.read_csv(root / "figures" / "tiny" / "table_confidence.csv").set_index(["method", "dim"])
    for (dataset, metric, method, dim), line in figures.erc_lines(frame).items():
        assert line.area == table.at[(method, dim), f"mean/{dataset}/{metric}"], (method, metric)
        assert line.seeds == slice_["best_k"]


def test_index_rows_link_to_the_files_of_their_runs(tiny_outputs):
    import re
    from urllib.parse import unquote

    root = tiny_outputs[0]
    reports = root / "reports" / "tiny"
    index = (reports / "index.html").read_text()
    links = re.findall(r'(?:href|src)="([^"]+)"', index)
    assert links and all("://" not in link and not link.startswith("/") for link in links), "relative links only"
    for name in ("table_retrieval", "table_confidence", "table_verification", "table_ablations",
                 "table_face_verification"):
        section = index[index.index(f'<section id="{name}">'):]
        section = section[:section.index("</section>")]
        rows = [line for line in section.splitlines() if line.startswith("<tr><td title=")]
        frame = pd.read_csv(root / "figures" / "tiny" / f"{name}.csv")
        assert len(rows) == len(frame), name
        for row, (method, dim, runs) in zip(rows, frame[["method", "dim", "runs"]].itertuples(index=False)):
            assert f'title="{method}"' in row
            hrefs = [unquote(h) for h in re.findall(r'href="([^"]+)"', row)]
            for run in runs.split():
                assert run.startswith(f"glyphs/{method}-{dim}/seed-")
                for file in ("config.yaml", "metrics.json", "history.csv", "provenance.json"):
                    assert any(h.endswith(f"{run}/{file}") for h in hrefs), (name, run, file)
            assert hrefs and all((reports / h).is_file() for h in hrefs), (name, hrefs)
    assert 'class="stand-in"' in index, "the face table's STAND-IN warning is on the index"
    order = [index.index(f'id="{name}"') for name in ("table_retrieval", "table_confidence", "table_verification",
                                                       "table_ablations", "table_face_verification", "fig_erc",
                                                       "fig_filter_out", "fig_quality", "fig_embeddings",
                                                       "quickstart_embeddings")]
    assert order == sorted(order), "tables then figures, in the manifest's order"


def test_rendered_reports_load_nothing_from_the_network_and_show_their_parameters(tiny_outputs):
    import re

    pages = sorted((tiny_outputs[0] / "reports" / "tiny").glob("*.html"))
    assert len(pages) > 5
    for page in pages:
        text = page.read_text()
        assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", text), f"{page.name} loads a URL"
        assert not re.search(r"""import\(\s*["'](?:https?:)?//""", text), page.name
        assert "cdnjs" not in text and "unpkg.com" not in text and "jsdelivr" not in text, page.name
        if page.name != "index.html":
            assert 'href="index.html"' in text and "with these parameters" in text, page.name
            assert re.search(r'<td><code>profile</code></td>\s*<td><code>"tiny"</code> \(given\)</td>', text), page.name
    table = next(p for p in pages if p.name == "table_retrieval.html").read_text()
    assert "Profile <code>tiny</code>" in table and "With the <code>smoke</code> profile" not in table
