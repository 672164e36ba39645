#!/usr/bin/env bash
# The kit's single entry point. Run `./run_all.sh --help` for the commands.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
STAMP="$VENV/.pml-kit-stamp"

usage() {
  cat <<'TXT'
Usage: ./run_all.sh [COMMAND] [OPTIONS]

Commands:
  smoke            (default) set up when needed, execute every notebook of the smoke profile on the
                   embedded glyphs dataset, render them to reports/smoke/*.html and write the tables and
                   figures to paper_figures/smoke/
  paper            the same on the real datasets:
                   ./run_all.sh paper --data-root DIR [--datasets cub200 ...] [--methods arcface ...] [--gpus N]
                   the training farmed out first (docs/cluster.md): --workers N (local processes, one GPU
                   each; --gpus N alone means N workers), --launcher slurm [--slurm-partition P]
                   [--gpus-per-node G] [--timeout-min M] [--slurm-array-parallelism K]
                   [--launcher-param KEY=VALUE ...] (submits a job array and stops: rerun without
                   --launcher when done), --retry-failed (retry runs whose last attempt failed)
  tiny             the same in the tiny profile (seconds; what the tests run)
  test [ARGS]      set up when needed, then run the whole pytest suite (ARGS go to pytest)
  setup [--browser]
                   create or refresh .venv when it is missing or the declared dependencies changed, register
                   the notebooks' Jupyter kernel "Python (pml-kit)" and install nbstripout as git's filter
                   for notebooks (docs/CONTRIBUTING.md); --browser also installs Debian's chromium and
                   chromedriver for the browser test
  lab [ARGS]       set up, register the "pml-kit" Jupyter kernel and start JupyterLab at the repository
                   root, opening notebooks/quickstart.ipynb (--port N, --token T; other ARGS go to
                   jupyter lab, e.g. --no-browser)
  -h, --help       this text
TXT
}

find_python() {
  local candidate
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
      echo "$candidate"; return 0
    fi
  done
  echo "error: Python 3.11 is required (python3.11 or python3 must be 3.11)" >&2
  return 1
}

dependency_stamp() {
  cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1
}

notebook_filter() {
  # Notebooks are committed without outputs: nbstripout is git's clean filter for *.ipynb (.gitattributes,
  # docs/CONTRIBUTING.md), so a notebook that JupyterLab saved with its outputs is unchanged to git.
  git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1 || return 0
  "$PY" -c 'import nbstripout' >/dev/null 2>&1 || return 0
  if (cd "$ROOT" && "$PY" -m nbstripout --is-installed) >/dev/null 2>&1 &&
     [[ "$(git -C "$ROOT" config --get filter.nbstripout.extrakeys)" == "metadata.language_info" ]]; then
    return 0
  fi
  (cd "$ROOT" && "$PY" -m nbstripout --install --attributes .gitattributes &&
     git config filter.nbstripout.extrakeys metadata.language_info)
  echo "setup: nbstripout is git's filter for notebooks: their outputs are never committed (docs/CONTRIBUTING.md)"
}

setup() {
  local browser=0
  for arg in "$@"; do
    case "$arg" in
      --browser) browser=1 ;;
      *) echo "error: unknown setup option $arg" >&2; exit 2 ;;
    esac
  done
  local want; want="$(dependency_stamp)"
  if [[ -x "$PY" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    echo "setup: .venv is up to date"
  else
    local python; python="$(find_python)"
    if [[ ! -x "$PY" ]]; then
      echo "setup: creating .venv with $python"
      "$python" -m venv "$VENV"
    else
      echo "setup: dependencies changed; refreshing .venv"
    fi
    "$PY" -m pip install --quiet --upgrade pip
    echo "setup: installing the kit and its dependencies (pip install -e .[dev]); the first time takes a few minutes"
    "$PY" -m pip install --quiet -e "$ROOT[dev]"
    echo "$want" > "$STAMP"
    echo "setup: done"
  fi
  notebook_filter
  # the kernel every notebook names, "Python (pml-kit)", for jupyter nbconvert / papermill / VS Code too
  "$PY" -c 'from pml_core.report.kernel import install; install()' >/dev/null 2>&1 ||
    echo "setup: could not register the Jupyter kernel pml-kit (./run_all.sh lab retries)" >&2
  if [[ $browser == 1 ]]; then
    if [[ ! -x /usr/bin/chromium ]] || ! command -v chromedriver >/dev/null 2>&1; then
      if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: setup --browser needs apt-get (Debian/Ubuntu) to install chromium and chromium-driver;" \
             "install them with your package manager" >&2
        exit 1
      fi
      local sudo=""
      [[ $(id -u) != 0 ]] && sudo="sudo"
      echo "setup: installing Debian's chromium and chromium-driver (apt-get)"
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
    fi
    if ! "$PY" -c 'import selenium' >/dev/null 2>&1; then
      echo "setup: installing selenium into .venv (pip install -e .[browser])"
      "$PY" -m pip install --quiet -e "$ROOT[browser]"
    fi
    echo "setup: browser test ready ($(/usr/bin/chromium --version 2>/dev/null), selenium" \
         "$("$PY" -c 'import selenium; print(selenium.__version__)'))"
  fi
}

run_profile() {
  local profile="$1"; shift
  setup
  cd "$ROOT"
  "$PY" -m pml_core.report.run_notebooks --profile "$profile" "$@"
}

lab() {
  # JupyterLab at the repository root on the kit's kernel (pml_core/report/lab.py); ARGS go to jupyter lab.
  setup
  cd "$ROOT"
  exec "$PY" -m pml_core.report.lab "$@"
}

command="${1:-smoke}"
[[ $# -gt 0 ]] && shift
case "$command" in
  -h|--help|help) usage ;;
  setup) setup "$@" ;;
  test)
    setup
    cd "$ROOT"
    export WANDB_MODE=offline
    status=0
    "$PY" -m pytest "$@" || status=$?
    if [[ $status == 5 ]]; then echo "error: no tests were collected" >&2; fi
    exit $status
    ;;
  smoke|tiny|paper) run_profile "$command" "$@" ;;
  lab) lab "$@" ;;
  *) echo "error: unknown command '$command'" >&2; usage >&2; exit 2 ;;
esac
