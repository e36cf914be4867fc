// Q4_1: { f16 d; f16 m; u8 qs[16] } = 20 bytes; x = q * d + m.
fn dequant(rb: u32, g: u32) {
    let o = rb + g * 20u;
    let d = f16_at(o);
    let m = f16_at(o + 2u);
    for (var i = 0u; i < 4u; i++) {
        let q = u32_at(o + 4u + 4u * i);
        for (var k = 0u; k < 4u; k++) {
            let b = (q >> (8u * k)) & 0xffu;
            put(4u * i + k, f32(b & 15u) * d + m);
            put(16u + 4u * i + k, f32(b >> 4u) * d + m);
        }
    }
}
