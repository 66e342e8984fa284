#!/usr/bin/env bash
# Times `dvc repro` in a fresh clone: cold, nothing changed, and after changing only an analysis
# parameter (counting the model calls each made, from the response store).
#   bash benchmarks/bench_repro.sh [CLONE_DIR]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$(mktemp -d)/clone}
git clone -q "$src" "$dir"
cd "$dir"
export PSY_STORE="$dir/data/cache/responses.sqlite"
calls() { uv run --frozen python -c "from analysis.core.store import ResponseStore; print(ResponseStore('$PSY_STORE').count())" 2>/dev/null || echo 0; }
secs() { python3 -c "import sys, time; print(round((time.time_ns() - int(sys.argv[1])) / 1e9, 1))" "$1"; }
uv sync --frozen -q
s=$(date +%s%N); uv run --frozen dvc repro > repro_cold.log 2>&1; cold=$(secs $s)
c1=$(calls)
s=$(date +%s%N); uv run --frozen dvc repro > repro_noop.log 2>&1; noop=$(secs $s)
c2=$(calls)
sed -i 's/^    ci: 0.95/    ci: 0.9/' params.yaml   # every analysis section's CI level
s=$(date +%s%N); uv run --frozen dvc repro > repro_analysis.log 2>&1; ana=$(secs $s)
c3=$(calls)
ran=$(grep -c "^Running stage" repro_analysis.log || true)
echo "cold dvc repro:            ${cold} s, ${c1} model calls recorded"
echo "no-change dvc repro:       ${noop} s, $((c2 - c1)) new model calls; $(grep -c '^Running stage' repro_noop.log || true) stages ran"
echo "analysis-param change:     ${ana} s, $((c3 - c2)) new model calls; ${ran} stages ran:"
grep "^Running stage" repro_analysis.log | sed 's/^/    /'
