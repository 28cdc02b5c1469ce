#!/usr/bin/env bash
# kstep speed/memory benchmark: kstep vs tf-keras (in-process and fresh process) vs the numpy GEMM limit.
#
# Usage: bash benchmarks/run.sh [WORKDIR]            (default /tmp/kstep-bench; the .h5 files stay there)
# Environment (all optional):
#   MODERN_VENV  the throwaway Keras venv made by ../shared/tools/modern/setup.sh  (default /tmp/oracle-venvs/modern)
#   KSTEP        the kstep command                                   (default "/tmp/kvenv/bin/python -m kstep")
#   BENCH_PY     bench.py                                 (default ../shared/tools/modern/bench.py next to the repo)
#   REPEATS      in-process TF repeats and kstep runs per model       (default 5)
#   COLD_REPEATS fresh-process TF dumps per model (~10 s each)         (default 2)
#   SKIP_BENCH=1 reuse WORKDIR/bench.json from an earlier run (only re-run kstep --profile and the table)
#   SKIP_LSTM=1  skip the LSTM benchmark
# Steps: 1. bench.py --arch all (ResNet50, MobileNetV2, VGG16 at 224x224, batch 1, random weights) -> bench.json,
#        2. engine_table.py: kstep dump --profile per model, per-layer losses vs the GEMM limit, the summary table,
#        3. lstm_bench.py: 2-layer LSTM(256) over 200 steps.
# Everything is printed and also written to WORKDIR/*.txt and WORKDIR/*.json.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORKDIR="${1:-/tmp/kstep-bench}"
MODERN_VENV="${MODERN_VENV:-/tmp/oracle-venvs/modern}"
KSTEP="${KSTEP:-/tmp/kvenv/bin/python -m kstep}"
BENCH_PY="${BENCH_PY:-$HERE/../../shared/tools/modern/bench.py}"
REPEATS="${REPEATS:-5}"
COLD_REPEATS="${COLD_REPEATS:-2}"
PY="$MODERN_VENV/bin/python"
export TF_CPP_MIN_LOG_LEVEL=3

[ -x "$PY" ] || { echo "no $PY: build it with bash ../shared/tools/modern/setup.sh" >&2; exit 2; }
mkdir -p "$WORKDIR"
{
  echo "# $(date -Is) on $(hostname): nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# OPENBLAS_* in the environment: $(env | grep '^OPENBLAS' | tr '\n' ' ' || true)"
  echo "# kstep: $KSTEP (commit $(cd "$HERE/.." && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$HERE/.." && git diff --quiet 2>/dev/null || echo ', with uncommitted changes'))"
  ${KSTEP%% *} -c 'import numpy as np; b = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
print("# kstep numpy", np.__version__, "BLAS:", b.get("name"), b.get("version"), "|", b.get("openblas configuration"))'
} | tee "$WORKDIR/machine.txt"

if [ "${SKIP_BENCH:-0}" != 1 ] || [ ! -f "$WORKDIR/bench.json" ]; then
  echo "== bench.py (TF in-process, TF fresh process, kstep dump process): takes a few minutes"
  "$PY" "$BENCH_PY" --arch all --size 224 --repeats "$REPEATS" --warmup 1 --cold-repeats "$COLD_REPEATS" \
      --no-numpy-backend --kstep "$KSTEP" --workdir "$WORKDIR" --json "$WORKDIR/bench.json" 2>&1 \
    | grep -v -e cudart_stub -e 'absl::InitializeLog' -e 'UserWarning: You are saving' -e 'saving_api.save_model' \
              -e 'compiled metrics have yet' | tee "$WORKDIR/bench.txt"
fi

echo "== engine_table.py (kstep dump --profile, per-layer losses vs GEMM limit)"
"$PY" "$HERE/engine_table.py" --workdir "$WORKDIR" --kstep "$KSTEP" --repeats "$REPEATS" \
    --json "$WORKDIR/engine_table.json" 2>&1 | grep -v -e cudart_stub -e 'absl::InitializeLog' \
  | tee "$WORKDIR/engine_table.txt"

if [ "${SKIP_LSTM:-0}" != 1 ]; then
  echo "== lstm_bench.py (2-layer LSTM, 200 steps)"
  "$PY" "$HERE/lstm_bench.py" --kstep "$KSTEP" --repeats "$REPEATS" --cold-repeats "$COLD_REPEATS" \
      --workdir "$WORKDIR" --json "$WORKDIR/lstm.json" 2>&1 \
    | grep -v -e cudart_stub -e 'absl::InitializeLog' -e 'UserWarning: You are saving' -e 'saving_api.save_model' \
    | tee "$WORKDIR/lstm.txt"
fi
