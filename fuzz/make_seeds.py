"""Writes the fuzzers' seed corpus (small valid files) into fuzz/corpus/.
Run: python3 fuzz/make_seeds.py   (needs PyPI gguf==0.19.0 and numpy).
The safetensors seeds are copied from crate/tests/data/hf-tiny."""
import os
import struct

import numpy as np
import gguf
from gguf.quants import quantize

here = os.path.dirname(os.path.abspath(__file__))


def tiny_gguf(path):
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("seed")
    w.add_uint8("t.u8", 7)
    w.add_int16("t.i16", -3)
    w.add_uint64("t.u64", 1 << 40)
    w.add_float64("t.f64", 0.5)
    w.add_bool("t.bool", True)
    w.add_array("t.arr", [1, 2, 3])
    w.add_array("t.strs", ["a", "bc"])
    w.add_context_length(16)
    w.add_embedding_length(32)
    w.add_block_count(1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 32)).astype(np.float32)
    w.add_tensor("f32", x)
    w.add_tensor("f16", x.astype(np.float16))
    q = quantize(x, gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("q8_0", q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    q = quantize(np.tile(x, (1, 8)), gguf.GGMLQuantizationType.Q4_0)
    w.add_tensor("q4_0", q, raw_dtype=gguf.GGMLQuantizationType.Q4_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def tiny_llama2c(path):
    dim, hidden, layers, heads, kv, vocab, seq = 8, 16, 1, 2, 1, 4, 4
    head = dim // heads
    n = (vocab * dim + layers * dim + layers * dim * dim + 2 * layers * dim * kv * head
         + layers * dim * dim + layers * dim + 3 * layers * hidden * dim + dim + seq * head)
    with open(path, "wb") as f:
        f.write(struct.pack("<7i", dim, hidden, layers, heads, kv, vocab, seq))
        f.write(np.linspace(-1, 1, n, dtype=np.float32).tobytes())


def tiny_tokenizer(path):
    with open(path, "wb") as f:
        f.write(struct.pack("<i", 3))
        for i, tok in enumerate([b"<unk>", b"\n<s>\n", b"ab"]):
            f.write(struct.pack("<fi", -float(i), len(tok)) + tok)


def tiny_safetensors(folder):
    """The HF fixture's weights, config and tokenizer files, plus a minimal
    two-tensor file with every dtype the reader accepts."""
    import json
    import shutil
    data = os.path.join(here, "..", "crate", "tests", "data", "hf-tiny", "model")
    for f in ("model.safetensors", "config.json", "tokenizer.json"):
        shutil.copy(os.path.join(data, f), os.path.join(folder, f))
    header = {"__metadata__": {"format": "pt"},
              "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "b": {"dtype": "F16", "shape": [1, 2], "data_offsets": [8, 12]},
              "c": {"dtype": "BF16", "shape": [], "data_offsets": [12, 14]}}
    h = json.dumps(header).encode()
    with open(os.path.join(folder, "small.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + bytes(range(14)))


for name in ("gguf", "llama2c", "safetensors"):
    os.makedirs(os.path.join(here, "corpus", name), exist_ok=True)
tiny_gguf(os.path.join(here, "corpus", "gguf", "tiny.gguf"))
tiny_llama2c(os.path.join(here, "corpus", "llama2c", "tiny.bin"))
tiny_tokenizer(os.path.join(here, "corpus", "llama2c", "tokenizer.bin"))
tiny_safetensors(os.path.join(here, "corpus", "safetensors"))
