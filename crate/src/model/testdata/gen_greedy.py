#!/usr/bin/env python3
"""Regenerate greedy-smollm2.txt: llama.cpp's greedy continuations.

Usage: python3 gen_greedy.py LLAMA_COMPLETION SMOLLM2_GGUF
(llama-completion from llama.cpp: `cmake --build BUILD --target llama-completion`).
Each line: `hex(prompt)<TAB>n<TAB>hex(generated text)<TAB>eos`, eos 1 when
generation ended on an end-of-generation token before n tokens. llama-completion
prints "\n\n" after every run and " [end of text]\n" before that at an end
token; neither is part of the generated text.
"""
import subprocess
import sys

N = 48
PROMPTS = [
    "The capital of France is",
    "Once upon a time, there was a",
    "<|im_start|>user\nWhat is the boiling point of water?<|im_end|>\n<|im_start|>assistant\n",
    "def fibonacci(n):",
]
END = b" [end of text]\n"


def main():
    tool, model = sys.argv[1], sys.argv[2]
    lines = []
    for p in PROMPTS:
        out = subprocess.run(
            [tool, "-m", model, "-p", p, "-n", str(N), "--temp", "0", "-t", "1",
             "--no-display-prompt", "-no-cnv", "--no-warmup"],
            capture_output=True, check=True,
        ).stdout
        assert out.endswith(b"\n\n")
        out = out[:-2]
        eos = out.endswith(END)
        text = out[: -len(END)] if eos else out
        lines.append("\t".join([p.encode().hex(), str(N), text.hex(), str(int(eos))]))
    with open("greedy-smollm2.txt", "w") as f:
        f.write("\n".join(lines) + "\n")


main()
