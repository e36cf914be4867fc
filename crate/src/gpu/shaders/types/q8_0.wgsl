// Q8_0: { f16 d; i8 qs[32] } = 34 bytes; x = d * q.
fn dequant(rb: u32, g: u32) {
    let o = rb + g * 34u;
    let d = f16_at(o);
    for (var i = 0u; i < 8u; i++) {
        let q = u32_at(o + 2u + 4u * i);
        for (var k = 0u; k < 4u; k++) {
            put(4u * i + k, i8_of(q, k) * d);
        }
    }
}
