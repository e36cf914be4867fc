#!/usr/bin/env bash
# README command 1: install what is missing, build the release wasm, serve
# web/ with the bundled model. Usage: bash scripts/serve.sh [--port N]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
setup_build
cd "$ROOT"
node scripts/build-web.mjs
exec node scripts/serve.mjs "$@"
