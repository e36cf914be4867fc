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

// A module with a shared memory and one atomic load: browsers without wasm
// threads refuse to validate it (wasm-feature-detect's threads probe).
const THREADS_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 5, 4, 1, 3, 1, 1, 10, 11, 1, 9, 0, 65, 0, 254, 16, 2, 0, 26, 11]);

// Whether the threads build can run here, and if not, why (one sentence).
export function wasmThreads() {
  if (!globalThis.crossOriginIsolated) {
    return { ok: false, reason: 'this page is not cross-origin isolated (its server does not send the COOP and COEP headers), so shared memory is off' };
  }
  try {
    if (typeof SharedArrayBuffer !== 'function' || !WebAssembly.validate(THREADS_PROBE)) {
      return { ok: false, reason: 'this browser does not support shared WebAssembly memory' };
    }
  } catch {
    return { ok: false, reason: 'this browser does not support shared WebAssembly memory' };
  }
  return { ok: true, reason: '' };
}
