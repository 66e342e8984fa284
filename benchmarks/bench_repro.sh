#!/usr/bin/env bash
# Times `dvc repro` in a fresh clone of this repository (which carries the committed reference run):
#   1. nothing changed (a fresh clone is up to date),
#   2. only an analysis parameter changed (every analysis section's ci: 0.95 -> 0.9),
#   3. replay: the published responses loaded into an empty store, then every stage forced (`dvc repro -f`),
#   4. with --cold: every stage forced with an empty store (every model call made again), and the metrics
#      compared with the committed ones.
# Model calls are counted from the response store. Timings on a shared machine are noisy: run it alone.
#   bash benchmarks/bench_repro.sh [--cold] [CLONE_DIR]
set -euo pipefail
cold=0
if [[ "${1:-}" == "--cold" ]]; then cold=1; shift; fi
src=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$(mktemp -d)/clone}
git clone -q "$src" "$dir"
cd "$dir"
export PSY_STORE="$dir/data/cache/responses.sqlite"
calls() { uv run --frozen python -c "from analysis.core.store import ResponseStore; print(ResponseStore('$PSY_STORE').count())" 2>/dev/null || echo 0; }
secs() { python3 -c "import sys, time; print(round((time.time_ns() - int(sys.argv[1])) / 1e9, 1))" "$1"; }
stages() { grep -c "^Running stage" "$1" || true; }
uv sync --frozen -q

s=$(date +%s%N); uv run --frozen dvc repro > repro_noop.log 2>&1; noop=$(secs $s)
echo "no change:              ${noop} s, $(stages repro_noop.log) stages ran"

cp params.yaml params.yaml.orig
sed -i 's/^    ci: 0.95/    ci: 0.9/' params.yaml
c0=$(calls)
s=$(date +%s%N); uv run --frozen dvc repro > repro_analysis.log 2>&1; ana=$(secs $s)
echo "analysis param changed: ${ana} s, $(( $(calls) - c0 )) model calls; $(stages repro_analysis.log) stages ran:"
grep "^Running stage" repro_analysis.log | sed 's/^/    /'
cp params.yaml.orig params.yaml && git checkout -q -- . && rm params.yaml.orig

rm -f "$PSY_STORE"*
uv run --frozen python -m analysis.pipeline.responses load > /dev/null
c0=$(calls)
s=$(date +%s%N); uv run --frozen dvc repro -f > repro_replay.log 2>&1; rep=$(secs $s)
echo "replay (dvc repro -f):  ${rep} s, $(( $(calls) - c0 )) model calls; changed tables/metrics:" \
     "$(git status --porcelain data/raw data/processed metrics | wc -l)"

if [[ $cold == 1 ]]; then
  git checkout -q -- . && rm -f "$PSY_STORE"*
  s=$(date +%s%N); uv run --frozen dvc repro -f > repro_cold.log 2>&1; c=$(secs $s)
  echo "cold (dvc repro -f):    ${c} s, $(calls) model calls"
  uv run --frozen python - <<'EOF'
import json, subprocess
from pathlib import Path

def leaves(d, pre=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from leaves(v, f"{pre}{k}/")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            yield f"{pre}{k}", float(v)

worst = []
for f in sorted(Path("metrics").glob("*.json")):
    old = dict(leaves(json.loads(subprocess.run(["git", "show", f"HEAD:{f}"], capture_output=True, text=True).stdout)))
    new = dict(leaves(json.loads(f.read_text())))
    diffs = [abs(new[k] - old[k]) for k in old.keys() & new.keys() if old[k] == old[k] and new[k] == new[k]]
    worst.append((f.stem, len(diffs), max(diffs, default=0.0)))
for name, n, d in worst:
    print(f"    {name}: {n} numbers, largest difference from the committed metrics {d:.3g}")
EOF
fi
