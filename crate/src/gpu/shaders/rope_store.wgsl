// RoPE ("normal" mode: adjacent pairs) on q in place and on k, storing the
// rotated k and v at position step.pos of this layer's KV cache; in a batch,
// token t (workgroup_id.z, its q, k and v at row t) is at step.pos + t. The cos/sin
// table is computed on the CPU as ggml does (angles by repeated
// multiplication), since WGSL's sin/cos are only accurate near [-pi, pi].

struct Params {
    q_dim: u32,
    kv_dim: u32,
    head_dim: u32,
    rope_dim: u32,
    layer_off: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

struct Step {
    pos: u32,
    token: u32,
    len: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read_write> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> kcache: array<f32>;
@group(0) @binding(4) var<storage, read_write> vcache: array<f32>;
@group(0) @binding(5) var<storage, read> table: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;
@group(0) @binding(7) var<uniform> step: Step;

fn rotate(a: f32, b: f32, i: u32, pos: u32) -> vec2<f32> {
    // Pair i of its head; pairs past rope_dim stay as they are.
    let j = (2u * i) % p.head_dim;
    if (j >= p.rope_dim) {
        return vec2<f32>(a, b);
    }
    let t = pos * p.rope_dim + j;
    let c = table[t];
    let s = table[t + 1u];
    return vec2<f32>(a * c - b * s, a * s + b * c);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let pos = step.pos + gid.z;
    if (2u * i < p.q_dim) {
        let qi = gid.z * p.q_dim + 2u * i;
        let r = rotate(q[qi], q[qi + 1u], i, pos);
        q[qi] = r.x;
        q[qi + 1u] = r.y;
    }
    if (2u * i < p.kv_dim) {
        let ki = gid.z * p.kv_dim + 2u * i;
        let r = rotate(k[ki], k[ki + 1u], i, pos);
        let o = p.layer_off + pos * p.kv_dim + 2u * i;
        kcache[o] = r.x;
        kcache[o + 1u] = r.y;
        vcache[o] = v[ki];
        vcache[o + 1u] = v[ki + 1u];
    }
}
