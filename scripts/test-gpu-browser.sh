#!/usr/bin/env bash
# The GPU backend's browser tests (crate/src/gpu/browser_tests.rs) in headless
# Chromium through chromedriver; crate/webdriver.json passes the WebGPU flags.
# They are compiled only with --cfg gpu_browser, as wasm-bindgen's "run in
# browser" setting would otherwise move every wasm test out of Node.
set -euo pipefail
cd "$(dirname "$0")/../crate"
export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver)}"
# SwiftShader runs WebGPU on the CPU: minutes, not the runner's default 20 s.
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-600}"
export RUSTFLAGS="${RUSTFLAGS:-} --cfg gpu_browser"
# Its own target dir: the flag would otherwise rebuild the Node wasm tests.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/../target/wasm-gpu}"
cargo test -p webquant --lib --target wasm32-unknown-unknown -- gpu_browser "$@"
