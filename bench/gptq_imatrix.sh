#!/usr/bin/env bash
# Quality of round-to-nearest, imatrix and GPTQ quantization on text held
# out from the calibration text (the "GPTQ and importance matrices" table
# in BENCHMARKS.md).
#
#   bench/gptq_imatrix.sh NAME MODEL CTX CALIB_CHUNKS EVAL_CHUNKS TYPE...
#
# e.g. bench/gptq_imatrix.sh stories260K web/models/stories260K.gguf 256 16 20 Q4_0 Q3_K_M
#      bench/gptq_imatrix.sh smollm2 target/test-models/smollm2-135m-f16.gguf 512 4 2 Q4_0 Q3_K_M
#
# Calibration text: the first 100,000 bytes of tinyshakespeare; evaluation
# text: its last 100,000 bytes (disjoint). Both the imatrix and GPTQ see
# CALIB_CHUNKS chunks of CTX tokens; eval scores EVAL_CHUNKS chunks of CTX
# tokens against MODEL itself (its F32/F16 weights). GPTQ runs are timed
# with /usr/bin/time -v (wall time, peak RSS). GPTQ_PLAIN=1 adds GPTQ
# without the imatrix. Results: OUT/NAME-results.tsv.
set -euo pipefail
NAME=$1 MODEL=$2 CTX=$3 CALIB_CHUNKS=$4 EVAL_CHUNKS=$5
shift 5
W=${W:-target/release/webquant}
CORPUS=${CORPUS:-/work/shared/corpus/tinyshakespeare.txt}
OUT=${OUT:-target/bench-gptq}
mkdir -p "$OUT"
head -c 100000 "$CORPUS" > "$OUT/calib.txt"
tail -c 100000 "$CORPUS" > "$OUT/heldout.txt"
RES="$OUT/$NAME-results.tsv"
[ -f "$RES" ] || printf 'model\ttype\tmethod\tppl\tppl_ref\tmean_kld\tsame_top_pct\tbytes\n' > "$RES"

IMAT="$OUT/$NAME-imatrix.gguf"
"$W" imatrix "$MODEL" --text "$OUT/calib.txt" --ctx "$CTX" --chunks "$CALIB_CHUNKS" -o "$IMAT"

evaluate() { # TYPE METHOD FILE
  local log="$OUT/$NAME-$1-$2.eval"
  "$W" eval "$3" --text "$OUT/heldout.txt" --ctx "$CTX" --chunks "$EVAL_CHUNKS" --ref "$MODEL" > "$log" 2>/dev/null
  local ppl ref kld top
  ppl=$(awk '/Final estimate/ {print $5}' "$log")
  ref=$(awk '/^PPL\(base\)/ {print $3}' "$log")
  kld=$(awk '/Mean    KLD/ {print $3}' "$log")
  top=$(awk '/Same top p/ {print $4}' "$log")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$NAME" "$1" "$2" "$ppl" "$ref" "$kld" "$top" "$(stat -c %s "$3")" >> "$RES"
}

for T in "$@"; do
  Q="$OUT/$NAME-$T"
  "$W" quantize "$MODEL" "$Q-rtn.gguf" --type "$T" > /dev/null 2>&1
  evaluate "$T" rtn "$Q-rtn.gguf"
  "$W" quantize "$MODEL" "$Q-imatrix.gguf" --type "$T" --imatrix "$IMAT" > /dev/null 2>&1
  evaluate "$T" imatrix "$Q-imatrix.gguf"
  # GPTQ rounds the block projections whose type it supports; the imatrix
  # serves the tensors it does not (as llama-quantize would use it).
  /usr/bin/time -v "$W" quantize "$MODEL" "$Q-gptq.gguf" --type "$T" --imatrix "$IMAT" \
    --gptq --calib "$OUT/calib.txt" --ctx "$CTX" --chunks "$CALIB_CHUNKS" \
    > "$Q-gptq.log" 2> "$Q-gptq.time"
  evaluate "$T" gptq+imatrix "$Q-gptq.gguf"
  grep -E "GPTQ rounded|Elapsed|Maximum resident" "$Q-gptq.time" | sed "s/^/$NAME $T: /"
  if [ "${GPTQ_PLAIN:-0}" = 1 ]; then
    "$W" quantize "$MODEL" "$Q-gptq-plain.gguf" --type "$T" --gptq --calib "$OUT/calib.txt" \
      --ctx "$CTX" --chunks "$CALIB_CHUNKS" > /dev/null 2>&1
    evaluate "$T" gptq "$Q-gptq-plain.gguf"
  fi
done
cat "$RES"
