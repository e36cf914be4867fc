// out = x / sqrt(mean(x²) + eps) * weight, one workgroup a row of n
// (workgroup_id.z is the token). ggml sums the
// squares in f64; WGSL has no f64, so this sums in f32 (by a tree, which
// keeps the error near log2(n) roundings).

struct Params {
    n: u32,
    eps: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let b = wid.z * p.n;
    var acc = 0.0;
    for (var i = lid; i < p.n; i += 256u) {
        acc += x[b + i] * x[b + i];
    }
    part[lid] = acc;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            part[lid] += part[lid + s];
        }
        workgroupBarrier();
    }
    let mean = part[0] / f32(p.n);
    let scale = 1.0 / sqrt(mean + p.eps);
    for (var i = lid; i < p.n; i += 256u) {
        out[b + i] = x[b + i] * scale * weight[i];
    }
}
