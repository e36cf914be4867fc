// Reading ggml blocks from a tensor stored as the GGUF bytes, viewed as u32
// words (WGSL storage has no u8/u16). Blocks of 18, 22, 34, 110 or 210 bytes
// start at any even byte, so fields are read through byte offsets. The
// buffer is padded by one word so that `u32_at` may read past a row's end.

@group(0) @binding(0) var<storage, read> w: array<u32>;

fn byte_at(o: u32) -> u32 {
    return (w[o >> 2u] >> ((o & 3u) * 8u)) & 0xffu;
}

// A 16-bit field; ggml keeps them at even offsets.
fn u16_at(o: u32) -> u32 {
    return (w[o >> 2u] >> ((o & 2u) * 8u)) & 0xffffu;
}

// Four bytes from any offset, little-endian.
fn u32_at(o: u32) -> u32 {
    let s = (o & 3u) * 8u;
    let a = w[o >> 2u];
    if (s == 0u) {
        return a;
    }
    // WGSL forbids a shift by 32, hence the branch above.
    return (a >> s) | (w[(o >> 2u) + 1u] << (32u - s));
}

// f16 without the shader-f16 feature (SwiftShader lacks it).
fn f16_at(o: u32) -> f32 {
    return unpack2x16float(u16_at(o)).x;
}

// Signed byte `k` (0..4) of a word.
fn i8_of(q: u32, k: u32) -> f32 {
    return f32(extractBits(bitcast<i32>(q), k * 8u, 8u));
}

// A type's `dequant(rb, g)` hands each of the 32 weights of chunk g to
// `put(i, value)`, which the kernel defines (accumulate a dot product, or
// store). Calls inline, so the weights stay in registers; a private array
// indexed by a variable would not on CPU-emulated GPUs (lavapipe,
// SwiftShader).
