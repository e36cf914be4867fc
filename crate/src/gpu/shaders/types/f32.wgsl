// F32: chunk g is elements 32g..32g+32 of the row (the tail may run past it;
// the caller ignores those).
fn dequant(rb: u32, g: u32) {
    let base = (rb >> 2u) + g * 32u;
    for (var l = 0u; l < 32u; l++) {
        put(l, bitcast<f32>(w[base + l]));
    }
}
