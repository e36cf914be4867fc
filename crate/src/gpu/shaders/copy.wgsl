// dst = src: the reference kernel for bandwidth (reads and writes n words).

struct Params {
    n: u32,
    wg_x: u32,
}

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * p.wg_x) * 64u + lid;
    if (i < p.n) {
        dst[i] = src[i];
    }
}
