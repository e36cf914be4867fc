// Q6_K: { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d } = 210 bytes. Chunk
// c = 4n + k (half n of the block, quarter k): low 4 bits from
// ql[64n + 32(k%2) + l] (nibble k/2), high 2 bits from qh[32n + l] >> 2k,
// scale scales[8n + 2k + l/16]; x = d * sc * (q - 32).
fn dequant(rb: u32, g: u32) {
    let o = rb + (g >> 3u) * 210u;
    let c = g & 7u;
    let n = c >> 2u;
    let k = c & 3u;
    let d = f16_at(o + 208u);
    let lbase = o + 64u * n + 32u * (k & 1u);
    let lshift = (k >> 1u) * 4u;
    let hbase = o + 128u + 32u * n;
    let sbase = o + 192u + 8u * n + 2u * k;
    let dl0 = d * f32(extractBits(bitcast<i32>(byte_at(sbase)), 0u, 8u));
    let dl1 = d * f32(extractBits(bitcast<i32>(byte_at(sbase + 1u)), 0u, 8u));
    for (var i = 0u; i < 8u; i++) {
        let ql = u32_at(lbase + 4u * i);
        let qh = u32_at(hbase + 4u * i);
        let dl = select(dl1, dl0, i < 4u);
        for (var e = 0u; e < 4u; e++) {
            let lo = (ql >> (8u * e + lshift)) & 15u;
            let hi = ((qh >> (8u * e + 2u * k)) & 3u) << 4u;
            put(4u * i + e, dl * f32(i32(lo | hi) - 32));
        }
    }
}
