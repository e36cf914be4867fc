#!/usr/bin/env python3
"""Regenerate tokens-*.txt: llama.cpp's token ids for the strings below.

Usage: python3 gen_tokens.py LLAMA_TOKENIZE STORIES_GGUF SMOLLM2_GGUF
(llama-tokenize from llama.cpp, built with `cmake --build BUILD --target
llama-tokenize`). Each output line is `hex(utf8 input)<TAB>ids`, with the
readable input in a `#` comment line above it. Ids are what
`llama-tokenize -m MODEL --stdin --ids` prints: BOS as the model adds it,
special-token texts parsed.
"""
import ast
import subprocess
import sys

CASES = [
    "Hello world",
    "Once upon a time, Lily's cat ate 12 fish.",
    " leading space and  double   spaces",
    "numbers 1234567 and 3.14159, 2,000",
    "punctuation!!! ... ??? (parens) [brackets] {braces} <angle> @#$%^&*",
    "tabs\tand\nnewlines\n\n  indented\r\n",
    "unicode: café naïve résumé — “quotes” 日本語 中文 Привет мир 🙂👍",
    "contractions: I'm you're he's we've they'll I'd don't CAN'T it's",
    "trailing spaces   ",
    "mixed123abc456 x²+y² ½ Ⅻ",
    "   ",
    "a\n\n\nb",
    "<|im_start|>user\nHi there<|im_end|>\n",
    "def f(x):\n    return x**2  # square\n",
]


def main():
    tool, models = sys.argv[1], {"stories260K": sys.argv[2], "smollm2": sys.argv[3]}
    for name, path in models.items():
        lines = []
        for text in CASES:
            out = subprocess.run(
                [tool, "-m", path, "--stdin", "--ids", "--log-disable"],
                input=text.encode(), capture_output=True, check=True,
            ).stdout.decode().strip().splitlines()[-1]
            ids = ast.literal_eval(out)
            lines.append("# " + repr(text))
            lines.append(text.encode().hex() + "\t" + ",".join(map(str, ids)))
        with open(f"tokens-{name}.txt", "w") as f:
            f.write("\n".join(lines) + "\n")


main()
