#!/usr/bin/env python3
"""What quantization costs, per llama.cpp preset: size, bits per weight,
perplexity, mean KL divergence and top-token agreement against the
unquantized model, for stories260K and SmolLM2-135M-Instruct.

Each preset is made from the unquantized GGUF with `webquant quantize` (its
files are byte-identical to llama-quantize's: tests/interop) and scored with
`webquant eval --ref`, which runs both models over the same chunks of
Tiny Shakespeare (perplexity as llama-perplexity computes it: each chunk of
n_ctx tokens, the second half scored).

Usage: python3 bench/quality.py [--out bench/results/quality.md]
(needs target/release/webquant and target/test-models/smollm2-135m-f16.gguf,
which scripts/test.sh makes).
"""
import argparse
import datetime
import os
import re
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WQ = ROOT / "target/release/webquant"
TEXT = ROOT.parent / "shared/corpus/tinyshakespeare.txt"
TYPES = ["F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K"]
MODELS = [
    # name, unquantized file, its type, n_ctx, chunks
    ("stories260K", ROOT / "web/models/stories260K.gguf", "F32", 256, 100),
    ("SmolLM2-135M-Instruct", ROOT / "target/test-models/smollm2-135m-f16.gguf", "F16", 512, 4),
]


def run(*args: str) -> str:
    r = subprocess.run([str(WQ), *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"webquant {' '.join(args)} failed:\n{r.stderr}")
    return r.stdout


def num(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    if not m:
        raise SystemExit(f"no {pattern!r} in:\n{text}")
    return float(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "bench/results/quality.md"))
    out = Path(ap.parse_args().out)
    lines = [
        "# What quantization costs: quality per preset",
        "",
        f"Made by `bench/quality.py` on {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC. "
        "Text: `shared/corpus/tinyshakespeare.txt` (the first chunks). Reference: the "
        "unquantized model (stories260K F32, SmolLM2 F16). Size is the GGUF file; bits "
        "per weight count every tensor (norms included).",
        "",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for name, base, base_type, ctx, chunks in MODELS:
            if not base.exists():
                raise SystemExit(f"{base} is missing (scripts/test.sh makes it)")
            lines += [f"## {name} (n_ctx {ctx}, {chunks} chunks)", "",
                      "| type | size MiB | bits/weight | PPL | ΔPPL vs ref | mean KLD | same top token |",
                      "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
            for t in TYPES:
                q = Path(tmp) / f"{name}-{t}.gguf"
                if t == base_type:
                    q = base
                    report = run("quantize", str(base), str(Path(tmp) / "probe.gguf"),
                                 "--type", t.lower(), "--pure")
                elif t in ("F16", "F32"):
                    report = run("convert", str(base), str(q), "--type", t.lower())
                else:
                    report = run("quantize", str(base), str(q), "--type", t)
                bpw = num(r"-> ([\d.]+) bits per weight\)", report)
                ev = run("eval", str(q), "--text", str(TEXT), "--ctx", str(ctx),
                         "--chunks", str(chunks), "--ref", str(base))
                ppl = num(r"Final estimate: PPL = ([\d.]+)", ev)
                dppl = num(r"PPL\(Q\)-PPL\(base\)\s*:\s*(-?[\d.]+)", ev)
                kld = num(r"Mean\s+KLD:\s*(-?[\d.]+)", ev)
                top = num(r"Same top p:\s*([\d.]+) %", ev)
                size = os.path.getsize(q) / 2**20
                lines.append(f"| {t} | {size:.2f} | {bpw:.2f} | {ppl:.4f} | {dppl:+.4f} | "
                             f"{kld:.6f} | {top:.2f} % |")
                print(lines[-1], flush=True)
            lines.append("")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
