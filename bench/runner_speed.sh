#!/usr/bin/env bash
# Runner speed, one thread: `webquant bench` against llama.cpp's `llama-bench -t 1`
# on SmolLM2-135M-Instruct in Q4_0, Q8_0 and Q4_K_M (made from the F16 GGUF
# with `webquant quantize`, byte-identical to llama-quantize's output), both
# reading the same files. Prints prompt (pp) and generation (tg) tokens per
# second and the ratio webquant / llama.cpp (goal: >= 0.7).
#
# Usage: bench/runner_speed.sh
#   env: BUILD (llama.cpp cmake build with llama-bench; default /work/ref/build),
#        F16 (SmolLM2 F16 GGUF; default /work/ref/models/smollm2-135m-f16.gguf),
#        WORK (where the quantized models go; default /tmp/webquant-runner-speed),
#        P, N, R (prompt tokens, generated tokens, repetitions; 128, 64, 3),
#        TYPES (default "Q4_0 Q8_0 Q4_K_M")
# Build llama-bench with: cmake --build "$BUILD" --target llama-bench
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BUILD:-/work/ref/build}"
F16="${F16:-/work/ref/models/smollm2-135m-f16.gguf}"
WORK="${WORK:-/tmp/webquant-runner-speed}"
P="${P:-128}" N="${N:-64}" R="${R:-3}"
TYPES="${TYPES:-Q4_0 Q8_0 Q4_K_M}"
WQ="$ROOT/target/release/webquant"

(cd "$ROOT" && cargo build --release --bin webquant >&2)
mkdir -p "$WORK"
printf '| type | pp%s webquant | pp%s llama.cpp | ratio | tg%s webquant | tg%s llama.cpp | ratio |\n' "$P" "$P" "$N" "$N"
printf '| --- | --- | --- | --- | --- | --- | --- |\n'
for t in $TYPES; do
  m="$WORK/smollm2-135m-$t.gguf"
  [ -f "$m" ] || "$WQ" quantize "$F16" "$m" --type "$t" > /dev/null 2>&1
  ours=$("$WQ" bench "$m" -p "$P" -n "$N" -r "$R")
  theirs=$("$BUILD/bin/llama-bench" -m "$m" -t 1 -p "$P" -n "$N" -r "$R" -o csv 2>/dev/null)
  python3 - "$t" "$ours" "$theirs" <<'PY'
import csv, io, sys
t, ours, theirs = sys.argv[1:]
o = {l.split()[0][:2]: float(l.split()[1]) for l in ours.splitlines()}
l = {}
for r in csv.DictReader(io.StringIO(theirs)):
    l["pp" if int(r["n_prompt"]) > 0 else "tg"] = float(r["avg_ts"])
print(f"| {t} | {o['pp']:.1f} | {l['pp']:.1f} | {o['pp']/l['pp']:.2f} "
      f"| {o['tg']:.1f} | {l['tg']:.1f} | {o['tg']/l['tg']:.2f} |")
PY
done
