#!/usr/bin/env bash
# The GPU browser tests (crate/src/{gpu/browser_tests,model/gpu_browser_tests,
# wasm/gpu_browser_tests}.rs: the test names start with gpu_browser) in headless
# Chromium through chromedriver; crate/webdriver.json passes the WebGPU flags.
# They are compiled only with the gpu-browser-tests feature, as wasm-bindgen's
# "run in browser" setting would otherwise move every wasm test out of Node.
set -euo pipefail
cd "$(dirname "$0")/../crate"
export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver)}"
# SwiftShader runs WebGPU on the CPU: minutes, not the runner's default 20 s.
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-600}"
cargo test -p webquant --lib --target wasm32-unknown-unknown --features gpu-browser-tests -- gpu_browser "$@"
