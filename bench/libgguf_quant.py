"""Quantize / dequantize throughput of libgguf's compiled ggml quantizers
(PyPI libgguf==0.2.2), on the same data as webquant's criterion benchmark.

Prints JSON: {"rows", "row_len", "results": {type: {"quantize": MB/s, "dequantize": MB/s}}}
where MB/s is megabytes (10^6) of f32 input (or output) per second.
Usage: python3 bench/libgguf_quant.py TYPE... [--rows R --row-len N --seconds S]
"""
import argparse
import json
import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import libgguf  # noqa: E402
from synth import weights  # noqa: E402


def rate(fn, n_bytes: int, seconds: float) -> float:
    """MB/s of the fastest of repeated calls for about `seconds` (after one
    warm-up): the call least slowed by other work on a shared machine."""
    fn()
    times = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 5:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return n_bytes / min(times) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("types", nargs="+")
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--row-len", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=1.0)
    args = ap.parse_args()

    x = weights(args.rows, args.row_len, args.seed)
    n_bytes = x.nbytes
    names = {t.name.lower(): t for t in libgguf.GGMLQuantizationType}
    results = {}
    for name in args.types:
        qt = names[name.lower()]
        rs = libgguf.row_size(qt, args.row_len)
        q = np.empty((args.rows, rs), dtype=np.uint8)
        y = np.empty_like(x)
        # imatrix None: the plain (reference) quantizer, as webquant's bench.
        quant = lambda: libgguf.quantize_rows_into_raw(qt, x, q, args.rows, args.row_len, None)  # noqa: E731
        deq = lambda: libgguf.dequantize_rows_into_raw(qt, q, y, args.rows, args.row_len)  # noqa: E731
        results[name] = {"quantize": rate(quant, n_bytes, args.seconds), "dequantize": rate(deq, n_bytes, args.seconds)}
    json.dump({"rows": args.rows, "row_len": args.row_len, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
