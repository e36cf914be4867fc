#!/usr/bin/env bash
# Native runner against llama-bench on the same GGUF files, one thread, one
# run of this script: per file, `webquant bench` then `llama-bench` (prompt
# 128 tokens in one batch, 64 generated one at a time, 3 repetitions), with
# the CPU model and its SIMD extensions first.
#   scripts/bench-native-vs-llamacpp.sh LLAMA_BENCH MODEL.gguf... [-- --cpu avx2]
# LLAMA_BENCH: llama.cpp's llama-bench, built from llama-cpp-python==0.3.36's
# sources (README, "Speed"); webquant's release binary must be built.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LB="$1"; shift
models=(); extra=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; extra=("$@"); break; fi
  models+=("$1"); shift
done
grep -m1 "model name" /proc/cpuinfo
echo "SIMD: $(grep -m1 flags /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx|fma|f16c)|vnni' | sort -u | tr '\n' ' ')"
for m in "${models[@]}"; do
  echo "## $(basename "$m") webquant"
  "$ROOT/target/release/webquant" bench "$m" -p 128 -n 64 -r 3 --threads 1 "${extra[@]}" 2>&1 | grep -E "extensions|pp128|tg64"
  echo "## $(basename "$m") llama.cpp"
  "$LB" -m "$m" -t 1 -p 128 -n 64 -r 3 2>&1 | grep -E "pp128|tg64"
done
