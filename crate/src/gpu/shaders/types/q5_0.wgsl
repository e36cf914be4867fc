// Q5_0: { f16 d; u8 qh[4]; u8 qs[16] } = 22 bytes; bit j of qh is the fifth
// bit of element j; x = (q - 16) * d.
fn dequant(rb: u32, g: u32) {
    let o = rb + g * 22u;
    let d = f16_at(o);
    let qh = u32_at(o + 2u);
    for (var i = 0u; i < 4u; i++) {
        let q = u32_at(o + 6u + 4u * i);
        for (var k = 0u; k < 4u; k++) {
            let j = 4u * i + k;
            let b = (q >> (8u * k)) & 0xffu;
            let h0 = ((qh >> j) << 4u) & 0x10u;
            let h1 = (qh >> (j + 12u)) & 0x10u;
            put(j, (f32((b & 15u) | h0) - 16.0) * d);
            put(16u + j, (f32((b >> 4u) | h1) - 16.0) * d);
        }
    }
}
