// out[0..cols] = row `step.token` of a matrix (the token's embedding), when
// that row lies in this buffer of the matrix. Prefixed by common.wgsl and the
// type's `dequant`.

struct Params {
    rows: u32,
    cols: u32,
    row_bytes: u32,
    first_row: u32,
}

struct Step {
    pos: u32,
    token: u32,
    len: u32,
    pad: u32,
}

@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<uniform> step: Step;

// The chunk's first output and its number of weights.
var<private> OB: u32;
var<private> LIMIT: u32;

fn put(i: u32, v: f32) {
    if (i < LIMIT) {
        out[OB + i] = v;
    }
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32) {
    if (step.token < p.first_row || step.token >= p.first_row + p.rows) {
        return;
    }
    let rb = (step.token - p.first_row) * p.row_bytes;
    let chunks = (p.cols + 31u) / 32u;
    for (var g = lid; g < chunks; g += 64u) {
        OB = g * 32u;
        LIMIT = min(32u, p.cols - g * 32u);
        dequant(rb, g);
    }
}
