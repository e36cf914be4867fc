// One query head per workgroup over positions 0..step.len of the KV cache:
// scores scaled by 1/sqrt(head_dim), softmax, weighted sum of values.
// Grouped-query attention: head h reads kv head h / kv_group. In a batch,
// query t (workgroup_id.z; row t of q and out) sees step.len + t positions
// (causal: its own and those before it) and has its own rows of att.

struct Params {
    head_dim: u32,
    kv_dim: u32,
    n_ctx: u32,
    kv_group: u32,
    layer_off: u32,
    scale: f32,
    pad0: u32,
    pad1: u32,
}

struct Step {
    pos: u32,
    token: u32,
    len: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> kcache: array<f32>;
@group(0) @binding(2) var<storage, read> vcache: array<f32>;
@group(0) @binding(3) var<storage, read_write> att: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;
@group(0) @binding(6) var<uniform> step: Step;

var<workgroup> red: array<f32, 64>;

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let h = wid.x;
    let hd = p.head_dim;
    // nwg.x is the number of query heads.
    let qo = (wid.z * nwg.x + h) * hd;
    let kvo = p.layer_off + (h / p.kv_group) * hd;
    let ao = (wid.z * nwg.x + h) * p.n_ctx;
    let len = step.len + wid.z;

    var mx = -3.0e38;
    for (var j = lid; j < len; j += 64u) {
        var s = 0.0;
        for (var d = 0u; d < hd; d++) {
            s += q[qo + d] * kcache[kvo + j * p.kv_dim + d];
        }
        s *= p.scale;
        att[ao + j] = s;
        mx = max(mx, s);
    }
    red[lid] = mx;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (lid < s) {
            red[lid] = max(red[lid], red[lid + s]);
        }
        workgroupBarrier();
    }
    let m = red[0];
    workgroupBarrier();

    var sum = 0.0;
    for (var j = lid; j < len; j += 64u) {
        let e = exp(att[ao + j] - m);
        att[ao + j] = e;
        sum += e;
    }
    red[lid] = sum;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (lid < s) {
            red[lid] += red[lid + s];
        }
        workgroupBarrier();
    }
    let inv = 1.0 / red[0];
    // The exponentials other threads wrote must be visible before the sum.
    storageBarrier();

    for (var d = lid; d < hd; d += 64u) {
        var o = 0.0;
        for (var j = 0u; j < len; j++) {
            o += att[ao + j] * inv * vcache[kvo + j * p.kv_dim + d];
        }
        out[qo + d] = o;
    }
}
