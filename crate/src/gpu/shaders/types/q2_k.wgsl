// Q2_K: { u8 scales[16]; u8 qs[64]; f16 d; f16 dmin } = 84 bytes. Chunk
// c = 4n + j: 2-bit values (qs[32n + l] >> 2j) & 3, scale byte
// scales[8n + 2j + l/16] (low nibble scale, high nibble min);
// x = d*sc * q - dmin*m.
fn dequant(rb: u32, g: u32) {
    let o = rb + (g >> 3u) * 84u;
    let c = g & 7u;
    let n = c >> 2u;
    let j = c & 3u;
    let d = f16_at(o + 80u);
    let dmin = f16_at(o + 82u);
    let s0 = byte_at(o + 8u * n + 2u * j);
    let s1 = byte_at(o + 8u * n + 2u * j + 1u);
    let dl0 = d * f32(s0 & 15u);
    let ml0 = dmin * f32(s0 >> 4u);
    let dl1 = d * f32(s1 & 15u);
    let ml1 = dmin * f32(s1 >> 4u);
    let base = o + 16u + 32u * n;
    for (var i = 0u; i < 8u; i++) {
        let q = u32_at(base + 4u * i);
        let first = i < 4u;
        let dl = select(dl1, dl0, first);
        let ml = select(ml1, ml0, first);
        for (var k = 0u; k < 4u; k++) {
            put(4u * i + k, dl * f32((q >> (8u * k + 2u * j)) & 3u) - ml);
        }
    }
}
