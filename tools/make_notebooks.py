"""Author the notebooks of notebooks/ (run: .venv/bin/python tools/make_notebooks.py).

The .ipynb files are committed without outputs; this script is how they were written, so a change to
a notebook's structure is made here and the notebooks regenerated.
"""

from pathlib import Path

from nb import write

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

PARAMETERS = '''
profile = "smoke"            # tiny | smoke | paper
datasets = None              # None: the profile's grid (configs/grids/<profile>.yaml)
methods = None
dims = None
seeds = None
best_k = None
data_root = ""               # empty: the kit's data cache (glyphs are generated there)
device = "cpu"
results_root = "../results"  # the run store (shared with ./run_all.sh: complete runs are reused)
output_dir = ""              # empty: ../scratch/<profile>/ (git-ignored); ./run_all.sh: paper_figures/<profile>/
'''

SETUP = '''
from IPython.display import Markdown, display

from pml_core.data import default_data_root
from pml_core.report import figures, notebook, paper

output_dir = notebook.output_folder(profile, output_dir)
notebook.show_profile(profile, output_dir)
slice_ = paper.grid_slice(profile, datasets=datasets, methods=methods, dims=dims, seeds=seeds, best_k=best_k)
data_root = data_root or str(default_data_root())
'''

ENSURE = '''
report = paper.ensure_slice(profile, slice_, results_root=results_root, data_root=data_root, device=device,
                            methods=METHODS, echo=print)
print(report.summary())
'''


def table_notebook(name: str, header: str, methods_expr: str, reading: str) -> None:
    write(NOTEBOOKS / f"{name}.ipynb", [
        ("md", header),
        ("params", PARAMETERS),
        ("code", SETUP + f"METHODS = {methods_expr}\n" + ENSURE),
        ("code", f'''
table, paths = paper.paper_table("{name}", results_root, profile, slice_, output_dir, METHODS)
print(paper.written(paths))
display(Markdown(table.markdown()))
'''),
        ("md", reading),
    ])


def figure_notebook(name: str, header: str, methods_expr: str, body: str, reading: str) -> None:
    write(NOTEBOOKS / f"{name}.ipynb", [
        ("md", header),
        ("params", PARAMETERS),
        ("code", SETUP + f"METHODS = {methods_expr}\n" + ENSURE),
        ("code", body),
        ("md", reading),
    ])


write(NOTEBOOKS / "train_grid.ipynb", [
    ("md", f"""
# Train the grid of one dataset

The batch job behind every table: trains (or reuses) every run of the profile's grid for one dataset,
`methods` (plus the ablation `variants`) x `dims` x `seeds`, filling the run store
`results/<profile>/<dataset>/<method>-<dim>/seed-<s>/`. A run with `metrics.json` is complete and reused;
an interrupted one resumes from its last epoch; a failing one is reported and the others go on.
Run it per dataset, e.g. `papermill train_grid.ipynb out.ipynb -p dataset cub200 -p profile paper`.
"""),
    ("params", PARAMETERS + 'dataset = "glyphs"\n'),
    ("code", SETUP + '''
slice_["datasets"] = [dataset]
METHODS = list(dict.fromkeys(slice_["methods"] + slice_["variants"]))
''' + ENSURE),
    ("code", '''
import pandas as pd

from pml_core.experiments import runstore

status = pd.DataFrame([
    {"method": m, "dim": d, "seed": s,
     "state": "complete" if runstore.is_complete(p) else ("failed" if (p / "failed.json").exists() else "missing")}
    for m in METHODS for d in slice_["dims"] for s in slice_["seeds"]
    for p in [runstore.run_dir(results_root, profile, dataset, m, d, s)]])
status.pivot_table(index=["method", "dim"], columns="state", values="seed", aggfunc="count", fill_value=0)
'''),
    ("md", "Every row should count its seeds as `complete`; `failed` runs hold a `failed.json` with the reason."),
])

table_notebook("table_retrieval", """
# Retrieval quality (the paper's retrieval table)

**MAP@R** and **Recall@1/2/4/8** on each dataset's open-set test classes, for every method and
embedding size, deterministic methods first. Each cell is mean ± standard deviation in percent over the
best `best_k` seeds, seeds ranked by the run's selection score (validation MAP@R in the paper protocol);
the best value of each column is bold.
""", 'slice_["methods"]', """
How to read it: higher is better in every column (↑); differences below about one standard deviation are
seed noise. The csv beside the table holds the unrounded means, standard deviations, seed counts and the
runs behind each row; on the reports index every row links to those run folders.
""")

table_notebook("table_confidence", """
# Confidence quality (the paper's uncertainty table)

For the probabilistic methods (Gaussian or von Mises-Fisher embeddings): **ERC-MAP@R** and
**ERC-Recall@1** (area under the error-versus-reject curve, lower is better), **quality SCC** (Spearman
correlation between a test image's confidence and its crop fraction on the lossy test set, higher is
better) and the **confidence AUROC** of pair verification (does the pair confidence predict a correct
decision). Mean ± std over the best seeds.
""", '[m for m in slice_["methods"] if paper.is_probabilistic(m)]', """
How to read it: a good uncertainty estimate has low ERC (the errors are the uncertain queries), positive
quality correlation (degraded images get lower confidence) and AUROC above 50 %. The ERC values are the
areas under the curves of `fig_erc`.
""")

table_notebook("table_verification", """
# Verification on sampled pairs

Pair verification on the `-pairs` test sets (positives: random same-class pairs, negatives: random
different-class pairs, docs/reference.md §7): **max accuracy** (the reference's oracle threshold),
**10-fold accuracy** (threshold chosen on nine folds, applied to the tenth), **ROC AUC**, **TPR at
FPR 1e-3** and the **equal error rate** (lower is better).
""", 'slice_["methods"]', """
How to read it: the 10-fold accuracy is the honest one; the max accuracy tunes its threshold on the
test pairs themselves and is reported for comparison with the reference.
""")

table_notebook("table_ablations", """
# Design choices (the paper's ablations)

Each base method followed by its design-choice variants (`configs/grids/<profile>.yaml`, `ablations`):
for instance "no self-match" (PFE without self pairs), Gaussian / vMF (the other distribution),
"continued head" (continue the stage-0 head), "no augmentation" (in the uncertainty stage),
"deterministic targets" (vMF-loss). Columns: MAP@R, Recall@1, ERC-MAP@R and the quality correlation.
""", 'paper.ablation_methods(slice_)', """
How to read it: compare each variant with the base method above it; a dash marks a metric the method
does not have (deterministic embeddings have no confidence).
""")

PROBABILISTIC = '[m for m in slice_["methods"] if paper.is_probabilistic(m)]'
SEEDS = 'best_k=slice_["best_k"], num_seeds=len(slice_["seeds"])'

figure_notebook("fig_erc", """
# Error-versus-reject curves

For each probabilistic method and embedding size, test queries are sorted by confidence and the least
confident are rejected first; the curve shows the error of the kept queries (100 − Recall@1, and
100 − AP@R for ERC-MAP@R) against the fraction rejected. A useful confidence makes the curve fall; a flat
curve means confidence and errors are unrelated. The curves come from the runs of the tables (the best
`best_k` seeds); each method's **oracle** (dotted: its errors rejected first) and **random** baseline
(dash-dotted: flat at its overall error) bound what a confidence can do.
""", PROBABILISTIC, f'''
frame = paper.erc_frame(results_root, profile, slice_, METHODS)
if frame.empty:
    print("no probabilistic runs with confidences in this slice")
else:
    fig = figures.erc_figure(frame, {SEEDS})
    print(paper.written(figures.save_figure(fig, output_dir, "fig_erc")))
''', "The area under each curve, printed in its legend, is the ERC value of the confidence table "
     "(`table_confidence`): the same runs, the same per-query errors.")

figure_notebook("fig_filter_out", """
# Filtering out uncertain images

Recall@1 and MAP@R of the test set after removing the least confident images (both as queries and from
the gallery), for fractions 0 to 90 % (`num_filter_out_bins = 10`), for each probabilistic method and
embedding size, from the runs of the tables. With informative confidences the metrics rise as the
uncertain images go.
""", PROBABILISTIC, f'''
frame = paper.filter_out_frame(results_root, profile, slice_, METHODS)
if frame.empty:
    print("no filter-out metrics in this slice")
else:
    fig = figures.filter_out_figure(frame, {SEEDS})
    print(paper.written(figures.save_figure(fig, output_dir, "fig_filter_out")))
''', "Compare with the flat line a confidence-free method would draw: its metrics do not depend on the filter.")

figure_notebook("fig_quality", """
# Confidence against image quality

On the lossy test set every image is a centred crop keeping a random fraction (25 % to 100 %) of its side
and then resized back: smaller crops are degraded images. The figure shows each method's confidence
(z-scored per run, so methods with different confidence scales share an axis) against the crop fraction,
for the runs of the tables.
""", PROBABILISTIC, f'''
frame = paper.quality_frame(results_root, profile, slice_, METHODS)
if frame.empty:
    print("no lossy-set confidences in this slice")
else:
    fig = figures.quality_figure(frame, {SEEDS})
    print(paper.written(figures.save_figure(fig, output_dir, "fig_quality")))
''', "A rising line means the method is less confident about degraded images, as it should be (quality SCC > 0).")

figure_notebook("fig_embeddings", """
# Embeddings in two dimensions, with confidence

A 2-D PCA view of the test embeddings of one probabilistic run, chosen by a fixed rule: the run with the
best validation MAP@R among the probabilistic runs of the tables. Colour and marker shape are the
class (the 20 largest test classes), the marker size grows with the confidence; the axes say how much of
the variance each principal component explains. Uncertain images tend to sit between clusters.
""", PROBABILISTIC, '''
from pml_core.experiments import runstore
from pml_core.report.names import dataset_name, method_name

choice = paper.embedding_run(results_root, profile, slice_, METHODS)
if choice is None:
    print("no probabilistic run in this slice")
else:
    test_set = f"infer-{choice['dataset']}"
    stored = runstore.read_predictions(choice["path"])[test_set]
    fig = figures.embedding_scatter(
        stored["mean"], stored["labels"], stored.get("confidence"),
        class_names=paper.class_names(choice["path"], data_root, test_set),
        title=f"{method_name(choice['method'])}, {choice['dim']}-D, seed {choice['seed']}: "
              f"{dataset_name(choice['dataset'])} test embeddings (PCA)",
        subtitle=f"shown: {paper.EMBEDDING_RULE} (validation MAP@R {100 * choice['valid_mapr']:.1f} %)")
    print(paper.written(figures.save_figure(fig, output_dir, "fig_embeddings")))
''', "Large markers are confident images; small ones are the images the model is unsure about.")

write(NOTEBOOKS / "quickstart.ipynb", [
("md", """
# Quickstart: ArcFace on the embedded glyphs dataset

This notebook trains one run (ArcFace on deterministic, spherical 128-D embeddings, the paper's
deterministic baseline) on **glyphs**, the dataset the kit synthesises from the fonts inside matplotlib
(classes are characters; test characters never appear in training, as in CUB200). It then shows

1. the retrieval metrics of the trained network next to those of the same network untrained,
2. queries with their five nearest test images (solid green frame: same character, dashed red: another),
3. a 2-D PCA view of the test embeddings, coloured by class,
4. an explorer of the whole run store: pick a profile, a dataset, a method and a trained run, page through
   queries with their nearest neighbours and confidences, and see the run's training curves and its
   error-versus-reject curve (ERC).

A finished run is reused from the run store (`results/<profile>/glyphs/arcface-128/seed-0/`), so
re-running the notebook is fast. Run here, its figures go to `scratch/<profile>/` (git-ignored); only
`./run_all.sh` writes them to `paper_figures/<profile>/`.
"""),
("params", """
profile = "smoke"              # tiny | smoke | paper
results_root = "../results"    # the run store (shared with ./run_all.sh: complete runs are reused)
data_root = ""                 # empty: the kit's cache folder (glyphs are generated there on first use)
output_dir = ""                # empty: ../scratch/<profile>/ (git-ignored); ./run_all.sh: paper_figures/<profile>/
device = "cpu"
method = "arcface"
dim = 128
seed = 0
num_queries = 8
# the explorer (last section)
widgets = "auto"               # auto: dropdowns in JupyterLab, plain parameters under papermill | True | False
explore_dataset = None         # None: any; the explorer prefers a run with confidences
explore_method = None          # e.g. "pfe-arcface"
explore_dim = None
explore_seed = None
query_page = 1                 # which page of queries to show (plain-parameters mode; 1 is the first)
queries_per_page = 6
"""),
("code", """
%matplotlib inline
import pandas as pd

from pml_core.data import default_data_root
from pml_core.experiments import grid, runstore
from pml_core.experiments.explore import neighbours_and_images, untrained_metrics
from pml_core.report import notebook
from pml_core.report.figures import embedding_scatter, retrieval_grid, save_figure

output_dir = notebook.output_folder(profile, output_dir)
notebook.show_profile(profile, output_dir)
data_root = data_root or str(default_data_root())
report = grid.ensure_runs(profile, ["glyphs"], [method], [dim], [seed], results_root=results_root,
                          data_root=data_root, overrides=[f"device={device}"], echo=print)
print(report.summary())
run = runstore.run_dir(results_root, profile, "glyphs", method, dim, seed)
"""),
("md", """
## Retrieval metrics: trained against untrained

`mapr` is MAP@R (singleton queries count 0), `recall@k` the fraction of queries with a same-class image
among their k nearest neighbours. The untrained row is the same architecture with its random
initialisation: the gap is what training bought.
"""),
("code", """
keys = ["recall@1", "recall@2", "recall@4", "recall@8", "mapr"]
trained = runstore.read_metrics(run)["infer-glyphs"]
baseline = untrained_metrics(run, data_root)["infer-glyphs"]
pd.DataFrame({"trained": {k: trained[k] for k in keys}, "untrained": {k: baseline[k] for k in keys}}).T.round(4)
"""),
("md", """
## Queries and their nearest neighbours
"""),
("code", """
images, labels, means, confidences, neighbours = neighbours_and_images(run, data_root, k=5)
queries = list(range(0, len(labels), max(1, len(labels) // num_queries)))[:num_queries]
fig = retrieval_grid(images, labels, neighbours, queries, title=f"{method}, glyphs test classes")
save_figure(fig, output_dir, "quickstart_retrieval_grid");
"""),
("md", """
## Test embeddings in two dimensions

Each colour and marker is one test character (the 20 largest classes). Well-separated clusters mean a
good metric; overlapping ones are the confusions the grid above shows in red.
"""),
("code", """
fig = embedding_scatter(means, labels, confidences)
save_figure(fig, output_dir, "quickstart_embeddings");
"""),
("md", """
## Explore the run store

Every complete run of every profile, whoever trained it (this notebook, `./run_all.sh`, the `grid`
command); the table lists this profile's. In JupyterLab the cell below draws dropdowns for the profile,
dataset, method and run, a link to the run's folder, and buttons to page through the queries; elsewhere
(papermill, the rendered reports) it shows the run chosen by the `explore_*` parameters. Each page shows
queries with their nearest neighbours (the query's confidence under it) and a table of the neighbours'
classes (the characters, for glyphs) and cosines. Below: the run's **training curves** (`history.csv`:
the training loss and the validation metrics per epoch, the selected epoch marked) and, for a
probabilistic run, its **error-versus-reject curve**: the error of the queries kept after rejecting the
least confident ones. A falling curve means the confidence knows where the errors are; a flat one, at the
level of the dotted line (the error of all queries, which random confidences give), means it does not.
The run folders also hold TensorBoard logs: `tensorboard --logdir results/<profile>`.
"""),
("code", """
from IPython.display import display

from pml_core.report import explorer

store = explorer.Explorer(results_root, data_root, profile, k=5, per_page=queries_per_page)
display(store.runs_of(profile))
"""),
("code", """
if explorer.use_widgets(widgets):
    display(store.widget())
else:
    store.show(explore_dataset, explore_method, explore_dim, explore_seed, page=query_page)
"""),
])

# -- face verification ----------------------------------------------------------------------------

write(NOTEBOOKS / "table_face_verification.ipynb", [
    ("md", """
# Face verification (the paper's face table)

Methods trained on MS1MV2 (paper profile; `configs/datasets/faces-*.yaml`, iResNet-50, 512-D) and tested
on the verification bins: **10-fold accuracy** (the standard LFW protocol), the reference's **max
accuracy**, **TPR at FPR 1e-3 and 1e-4** per bin (LFW, CFP-FP, CFP-FF, AgeDB-30, CALFW, CPLFW, VGG2-FP),
the pair-confidence AUROC of probabilistic methods, and **IJB-B / IJB-C TAR at FAR 1e-5 / 1e-4** when
`ijb_root` is given (template mean for deterministic methods, PFE fusion + MLS for probabilistic ones).

**In the tiny and smoke profiles there is no face data: the table is a clearly labelled STAND-IN built
from the glyph runs' sampled verification pairs (`infer-glyphs-pairs`) that `train_grid` already trained;
those numbers say nothing about faces.**
"""),
    ("params", PARAMETERS + '''ijb_root = ""                # paper profile: folder holding IJBB/ and IJBC/ (meta/, loose_crop/); empty: no IJB
'''),
    ("code", '''
from IPython.display import Markdown, display

from pml_core.data import default_data_root
from pml_core.report import faces, notebook, paper

output_dir = notebook.output_folder(profile, output_dir)
notebook.show_profile(profile, output_dir)
slice_ = faces.face_slice(profile, datasets=datasets, methods=methods, dims=dims, seeds=seeds, best_k=best_k)
data_root = data_root or str(default_data_root())
if faces.is_stand_in(slice_):
    display(Markdown(f"**{faces.STAND_IN}.**"))
else:  # the real face grid (trains what is missing; minutes to days)
    print(paper.ensure_slice(profile, slice_, results_root=results_root, data_root=data_root, device=device,
                             echo=print).summary())
if ijb_root and not faces.is_stand_in(slice_):
    print("IJB results:", *faces.face_ijb_results(results_root, profile, slice_, ijb_root, device=device), sep="\\n  ")
'''),
    ("code", '''
table, paths = faces.face_table(results_root, profile, slice_, output_dir)
print(paper.written(paths))
display(Markdown(table.markdown()))
'''),
    ("md", """
How to read it: the 10-fold accuracy is the standard face number (threshold chosen on nine folds, applied to
the tenth; the folds are the bins' own consecutive blocks); the max accuracy tunes its threshold on the test
pairs and is reported for comparison with the reference. TPR at FPR 1e-4 needs at least 10,000 negative pairs
to mean anything (the bins have 3,000 to 3,500): read it as TPR at zero false accepts there.
"""),
])
