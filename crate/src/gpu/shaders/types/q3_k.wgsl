// Q3_K: { u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d } = 110 bytes.
// Chunk c = 4n + j: 2 low bits (qs[32n + l] >> 2j) & 3, minus 4 unless bit c
// of hmask[l] is set; 6-bit scale s (16 of them packed in 12 bytes: low
// nibbles in bytes 0..8, high bits in 8..12); x = d * (s - 32) * q.
fn scale_q3k(o: u32, i: u32) -> f32 {
    let lo = (byte_at(o + 96u + (i & 7u)) >> (4u * (i >> 3u))) & 15u;
    let hi = (byte_at(o + 104u + (i & 3u)) >> (2u * (i >> 2u))) & 3u;
    return f32(i32(lo | (hi << 4u)) - 32);
}

fn dequant(rb: u32, g: u32) {
    let o = rb + (g >> 3u) * 110u;
    let c = g & 7u;
    let n = c >> 2u;
    let j = c & 3u;
    let d = f16_at(o + 108u);
    let dl0 = d * scale_q3k(o, 8u * n + 2u * j);
    let dl1 = d * scale_q3k(o, 8u * n + 2u * j + 1u);
    let base = o + 32u + 32u * n;
    for (var i = 0u; i < 8u; i++) {
        let q = u32_at(base + 4u * i);
        let h = u32_at(o + 4u * i);
        let dl = select(dl1, dl0, i < 4u);
        for (var k = 0u; k < 4u; k++) {
            let lo = i32((q >> (8u * k + 2u * j)) & 3u);
            let hbit = (h >> (8u * k + c)) & 1u;
            put(4u * i + k, dl * f32(lo - select(4, 0, hbit == 1u)));
        }
    }
}
