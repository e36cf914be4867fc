// Q4_K: { f16 d; f16 dmin; u8 scales[12]; u8 qs[128] } = 144 bytes, 256
// weights in 8 sub-blocks of 32 (a chunk each). Sub-blocks 2p and 2p+1 share
// qs[32p..32p+32], low and high nibbles; x = d*sc * q - dmin*m.
fn dequant(rb: u32, g: u32) {
    let o = rb + (g >> 3u) * 144u;
    let c = g & 7u;
    let sm = scale_min_k4(o + 4u, c);
    let d1 = f16_at(o) * sm.x;
    let m1 = f16_at(o + 2u) * sm.y;
    let base = o + 16u + (c >> 1u) * 32u;
    let shift = (c & 1u) * 4u;
    for (var i = 0u; i < 8u; i++) {
        let q = u32_at(base + 4u * i);
        for (var k = 0u; k < 4u; k++) {
            put(4u * i + k, d1 * f32((q >> (8u * k + shift)) & 15u) - m1);
        }
    }
}
