// gate = silu(gate) * up, element-wise; n values a token (workgroup_id.z).

struct Params {
    n: u32,
}

@group(0) @binding(0) var<storage, read_write> gate: array<f32>;
@group(0) @binding(1) var<storage, read> up: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x < p.n) {
        let i = gid.z * p.n + gid.x;
        let g = gate[i];
        gate[i] = g / (1.0 + exp(-g)) * up[i];
    }
}
