// What this browser offers, probed without loading webquant itself.

// A minimal module using one SIMD instruction: browsers without wasm SIMD
// refuse to validate it (the same probe as the wasm-feature-detect package).
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

export function hasWasmSimd() {
  try {
    return WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}
