#!/usr/bin/env bash
# Time `./run_all.sh smoke` in a fresh clone (setup, glyph generation, every smoke run, every notebook) and
# check the regenerated tables against this checkout's committed paper_figures/smoke/ (BENCHMARKS.md, "Glyphs
# tuning"). Run it on an idle machine: numbers taken while other jobs share the CPUs are not the idle time.
#
#   benchmarks/time_smoke.sh [WORK_DIR]        # default: a new temporary folder
set -euo pipefail
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${1:-$(mktemp -d)}"
mkdir -p "$WORK"
git clone --quiet "$SRC" "$WORK/clone"
cd "$WORK/clone"
export PML_DATA_ROOT="$WORK/data"   # empty: the glyphs are generated as on a new machine
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); commit $(git rev-parse --short HEAD)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
./run_all.sh smoke
end=$(date +%s)
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "./run_all.sh smoke in a fresh clone: $(( (end - start) / 60 )) min $(( (end - start) % 60 )) s"
.venv/bin/python -m pml_core.report.compare_tables "$SRC/paper_figures/smoke" paper_figures/smoke
