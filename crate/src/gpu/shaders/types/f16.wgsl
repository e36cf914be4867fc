// F16: two values a word, unpacked together. A row of odd length starts
// mid-word, which u32_at handles; a partial last chunk reads past the row
// (the kernel ignores those values).
fn dequant(rb: u32, g: u32) {
    let base = rb + g * 64u;
    for (var i = 0u; i < 16u; i++) {
        let v = unpack2x16float(u32_at(base + 4u * i));
        put(2u * i, v.x);
        put(2u * i + 1u, v.y);
    }
}
