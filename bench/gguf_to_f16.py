#!/usr/bin/env python3
"""Convert a GGUF file to an F16 GGUF that llama-quantize accepts as input.

llama-quantize refuses to requantize already-quantized tensors (without
--allow-requantize) and its per-tensor rules are meant for F16/F32 input, so
the reference runs in bench/llama_quantize_types.sh start from this.

- every metadata key is copied unchanged, except general.file_type, which is
  set to 1 (LLAMA_FTYPE_MOSTLY_F16);
- every block-quantized tensor is dequantized (gguf.quants.dequantize) and
  stored as F16; F32 / F16 tensors are copied as they are;
- tensor order, names and shapes are kept.

Needs the PyPI package gguf==0.19.0.
Usage: gguf_to_f16.py IN.gguf OUT.gguf
"""
import sys

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter
from gguf.quants import dequantize

LLAMA_FTYPE_MOSTLY_F16 = 1


def main(src: str, dst: str) -> None:
    reader = GGUFReader(src)
    arch = reader.fields["general.architecture"].contents()
    writer = GGUFWriter(dst, arch=arch)  # writes general.architecture itself

    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue  # virtual fields / written by GGUFWriter
        vtype = field.types[0]
        if field.name == "general.file_type":
            writer.add_key_value(field.name, LLAMA_FTYPE_MOSTLY_F16, GGUFValueType.UINT32)
            continue
        sub_type = field.types[-1] if vtype == GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub_type)
    if "general.file_type" not in reader.fields:
        writer.add_key_value("general.file_type", LLAMA_FTYPE_MOSTLY_F16, GGUFValueType.UINT32)

    for t in reader.tensors:
        qt = t.tensor_type
        if qt == GGMLQuantizationType.F32:
            data = np.asarray(t.data, dtype=np.float32)
        elif qt == GGMLQuantizationType.F16:
            data = np.asarray(t.data, dtype=np.float16)
        else:
            data = dequantize(t.data, qt).astype(np.float16)
        # numpy order is the reverse of ggml's ne[]: ne[0] is the last axis
        shape = [int(d) for d in reversed(t.shape)]
        writer.add_tensor(t.name, data.reshape(shape))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
