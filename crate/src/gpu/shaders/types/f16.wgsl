// F16: two values a word; a row of odd length starts mid-word, hence u16_at.
fn dequant(rb: u32, g: u32) {
    let base = rb + g * 64u;
    for (var l = 0u; l < 32u; l++) {
        put(l, f16_at(base + 2u * l));
    }
}
