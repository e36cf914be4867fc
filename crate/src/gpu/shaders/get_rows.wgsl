// Row t of out = row ids[t] of a matrix (token t's embedding), when that row
// lies in this buffer of the matrix; one workgroup a token (workgroup_id.z).
// Prefixed by common.wgsl and the type's `dequant`.

struct Params {
    rows: u32,
    cols: u32,
    row_bytes: u32,
    first_row: u32,
}

@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> ids: array<u32>;

// The chunk's first output and its number of weights.
var<private> OB: u32;
var<private> LIMIT: u32;

fn put(i: u32, v: f32) {
    if (i < LIMIT) {
        out[OB + i] = v;
    }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let token = ids[wid.z];
    if (token < p.first_row || token >= p.first_row + p.rows) {
        return;
    }
    let rb = (token - p.first_row) * p.row_bytes;
    let chunks = (p.cols + 31u) / 32u;
    for (var g = lid; g < chunks; g += 64u) {
        OB = wid.z * p.cols + g * 32u;
        LIMIT = min(32u, p.cols - g * 32u);
        dequant(rb, g);
    }
}
