// y[first_row + r] (+)= W[r, :] · x for the rows of one
// buffer of a matrix (a matrix larger than a binding is split by rows).
// Prefixed by common.wgsl and the type's `dequant`.
//
// TPR threads share a row, each taking every TPR-th 32-weight chunk, then
// the partial sums are added in workgroup memory; RPW rows a workgroup.
// Not with subgroup operations, though most adapters offer them: WGSL does
// not say which invocations share a subgroup, so a sum over a row's lanes
// would rely on one implementation's layout; workgroup memory works on all.

struct Params {
    rows: u32,
    cols: u32,
    row_bytes: u32,
    first_row: u32,
    accumulate: u32,
    wg_x: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const TPR: u32 = 16u;
const RPW: u32 = 4u;

var<workgroup> part: array<f32, 64>;

// This thread's sum, the chunk's first input and its number of weights (32
// but for the partial last chunk of an F32 / F16 row).
var<private> ACC: f32;
var<private> XO: u32;
var<private> LIMIT: u32;

fn put(i: u32, v: f32) {
    if (i < LIMIT) {
        ACC += v * x[XO + i];
    }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = (wid.x + wid.y * p.wg_x) * RPW + lid / TPR;
    let t = lid % TPR;
    ACC = 0.0;
    if (r < p.rows) {
        let rb = r * p.row_bytes;
        let chunks = (p.cols + 31u) / 32u;
        for (var g = t; g < chunks; g += TPR) {
            XO = g * 32u;
            LIMIT = min(32u, p.cols - g * 32u);
            dequant(rb, g);
        }
    }
    let acc = ACC;
    part[lid] = acc;
    workgroupBarrier();
    for (var s = TPR / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            part[lid] += part[lid + s];
        }
        workgroupBarrier();
    }
    if (t == 0u && r < p.rows) {
        let o = p.first_row + r;
        var prev = 0.0;
        if (p.accumulate != 0u) {
            prev = y[o];
        }
        y[o] = prev + part[lid];
    }
}
