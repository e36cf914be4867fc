// y[t][first_row + r] (+)= W[r, :] · x[t] for tokens t < step.n, the rows of
// one buffer of a matrix (split by rows as for matvec.wgsl); x is n rows of
// `cols`, y n rows of `ldy`. Prefixed by common.wgsl and the type's
// `dequant`.
//
// The same layout as matvec.wgsl (TPR threads a row, RPW rows a workgroup)
// with NT tokens a workgroup (workgroup_id.z is the tile): each weight is
// decoded once and multiplied into NT accumulators, so the weights are read
// once per tile of tokens rather than once per token. The accumulators are
// two vec4s, not an array: a private array indexed by a variable leaves the
// registers on CPU-emulated GPUs (see common.wgsl).

struct Params {
    rows: u32,
    cols: u32,
    row_bytes: u32,
    first_row: u32,
    accumulate: u32,
    wg_x: u32,
    ldy: u32,
    pad0: u32,
}

struct Step {
    pos: u32,
    token: u32,
    len: u32,
    n: u32,
}

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<uniform> step: Step;

const TPR: u32 = 16u;
const RPW: u32 = 4u;
const NT: u32 = 8u;

var<workgroup> part: array<vec4<f32>, 128>;

var<private> A0: vec4<f32>;
var<private> A1: vec4<f32>;
// Where each of the tile's tokens starts in x; tokens past step.n repeat
// the last one (their sums are not stored), which keeps the reads in bounds.
var<private> T0: vec4<u32>;
var<private> T1: vec4<u32>;
var<private> XO: u32;
var<private> LIMIT: u32;

fn put(i: u32, v: f32) {
    if (i < LIMIT) {
        let o = XO + i;
        A0 += v * vec4<f32>(x[T0.x + o], x[T0.y + o], x[T0.z + o], x[T0.w + o]);
        A1 += v * vec4<f32>(x[T1.x + o], x[T1.y + o], x[T1.z + o], x[T1.w + o]);
    }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = (wid.x + wid.y * p.wg_x) * RPW + lid / TPR;
    let t = lid % TPR;
    let t0 = wid.z * NT;
    let last = step.n - 1u;
    T0 = vec4<u32>(min(t0, last), min(t0 + 1u, last), min(t0 + 2u, last), min(t0 + 3u, last)) * p.cols;
    T1 = vec4<u32>(min(t0 + 4u, last), min(t0 + 5u, last), min(t0 + 6u, last), min(t0 + 7u, last)) * p.cols;
    A0 = vec4<f32>(0.0);
    A1 = vec4<f32>(0.0);
    if (r < p.rows) {
        let rb = r * p.row_bytes;
        let chunks = (p.cols + 31u) / 32u;
        for (var g = t; g < chunks; g += TPR) {
            XO = g * 32u;
            LIMIT = min(32u, p.cols - g * 32u);
            dequant(rb, g);
        }
    }
    let a0 = A0;
    let a1 = A1;
    part[2u * lid] = a0;
    part[2u * lid + 1u] = a1;
    workgroupBarrier();
    for (var s = TPR / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            part[2u * lid] += part[2u * (lid + s)];
            part[2u * lid + 1u] += part[2u * (lid + s) + 1u];
        }
        workgroupBarrier();
    }
    // Thread t of a row stores token t0 + t of it.
    let tok = t0 + t;
    if (t < NT && tok < step.n && r < p.rows) {
        let o = tok * p.ldy + p.first_row + r;
        var prev = 0.0;
        if (p.accumulate != 0u) {
            prev = y[o];
        }
        let row0 = 2u * (lid - t);
        y[o] = prev + part[row0 + t / 4u][t % 4u];
    }
}
