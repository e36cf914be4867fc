#!/usr/bin/env python3
"""Whole-model quantization, natively: peak resident memory and wall time of
`webquant quantize` against llama-quantize on the same input, same machine,
same run.

Peak memory goal: under (largest tensor as f32) x 4 + 64 MiB, whatever the
number of tensors. Each tool runs REPEAT times; the medians are reported.

Usage: python3 bench/quantize_model.py MODEL.gguf PRESET [--llama-quantize BIN]
         [--webquant BIN] [--repeat N] [--out FILE.md]
Needs: gguf==0.19.0 (to size the tensors), GNU time at /usr/bin/time.
"""
import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from gguf import GGUFReader

ROOT = Path(__file__).resolve().parents[1]


def measure(cmd: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in bytes) of one run."""
    with tempfile.NamedTemporaryFile() as tf:
        t = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", tf.name, *cmd], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t
        kib = int(Path(tf.name).read_text().split()[-1])
    return wall, kib * 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("preset")
    ap.add_argument("--webquant", default=str(ROOT / "target/release/webquant"))
    ap.add_argument("--llama-quantize", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()

    r = GGUFReader(a.model)
    largest = max(r.tensors, key=lambda t: int(t.n_elements))
    bound = int(largest.n_elements) * 4 * 4 + 64 * 2**20
    size = os.path.getsize(a.model)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.gguf"
        runs = {"webquant (1 thread)": [a.webquant, "quantize", a.model, str(out), "--type", a.preset]}
        if a.llama_quantize:
            for n in (1, os.cpu_count() or 1):
                runs[f"llama-quantize ({n} thread{'s' if n > 1 else ''})"] = [
                    a.llama_quantize, a.model, str(out), a.preset, str(n)]
        results = {}
        for name, cmd in runs.items():
            ms = [measure(cmd) for _ in range(a.repeat)]
            results[name] = (statistics.median(w for w, _ in ms), max(m for _, m in ms))
    wq_wall, wq_mem = results["webquant (1 thread)"]
    lines = [
        f"Model {Path(a.model).name} ({size / 2**20:.1f} MiB, {len(r.tensors)} tensors), preset {a.preset}.",
        f"Largest tensor {largest.name}: {int(largest.n_elements)} values; "
        f"memory bound = 4 x {int(largest.n_elements) * 4 / 2**20:.1f} MiB + 64 MiB = {bound / 2**20:.1f} MiB.",
        f"Median of {a.repeat} runs each, same machine, same run.",
        "",
        "| tool | wall s | peak RSS MiB | webquant time ratio (them / us) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, (wall, mem) in results.items():
        ratio = "" if name.startswith("webquant") else f"{wall / wq_wall:.2f}x"
        lines.append(f"| {name} | {wall:.2f} | {mem / 2**20:.1f} | {ratio} |")
    verdict = "under" if wq_mem < bound else "OVER"
    lines += ["", f"webquant peak RSS {wq_mem / 2**20:.1f} MiB: {verdict} the bound of {bound / 2**20:.1f} MiB."]
    text = "\n".join(lines)
    print(text)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
