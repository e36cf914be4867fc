// Q5_K: { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] } = 176
// bytes; bit c of qh[l] is the fifth bit of element l of sub-block c.
fn dequant(rb: u32, g: u32) {
    let o = rb + (g >> 3u) * 176u;
    let c = g & 7u;
    let sm = scale_min_k4(o + 4u, c);
    let d1 = f16_at(o) * sm.x;
    let m1 = f16_at(o + 2u) * sm.y;
    let base = o + 48u + (c >> 1u) * 32u;
    let shift = (c & 1u) * 4u;
    for (var i = 0u; i < 8u; i++) {
        let q = u32_at(base + 4u * i);
        let h = u32_at(o + 16u + 4u * i);
        for (var k = 0u; k < 4u; k++) {
            let lo = (q >> (8u * k + shift)) & 15u;
            let hi = ((h >> (8u * k + c)) & 1u) << 4u;
            put(4u * i + k, d1 * f32(lo | hi) - m1);
        }
    }
}
