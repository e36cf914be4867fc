// Q4_0: { f16 d; u8 qs[16] } = 18 bytes; low nibbles are elements 0..16,
// high nibbles 16..32; x = (q - 8) * d.
fn dequant(rb: u32, g: u32) {
    let o = rb + g * 18u;
    let d = f16_at(o);
    for (var i = 0u; i < 4u; i++) {
        let q = u32_at(o + 2u + 4u * i);
        for (var k = 0u; k < 4u; k++) {
            let b = (q >> (8u * k)) & 0xffu;
            put(4u * i + k, (f32(b & 15u) - 8.0) * d);
            put(16u + 4u * i + k, (f32(b >> 4u) - 8.0) * d);
        }
    }
}
