//! Portable kernels laid out for the compiler to vectorize: the trial
//! values of a search side by side in fixed-size arrays, each lane the
//! reference's own sequence of operations, so the results are the
//! reference's bits. Inlined into the x86 fast paths (compiled there with
//! AVX2) and the simd128 build's; the tests in `quant/tests` compare them
//! with the reference.

use crate::quant::reference::{nearest_int, GROUP_MAX_EPS};

/// Lanes of [`make_qx_quants`]: the 19 trial scales `is = -9..=9` in
/// lanes 0..19; the rest repeat `is = 0` so the width is a multiple of 8.
const TRIALS: usize = 24;

/// `reference::make_qx_quants` (`rmse_type == 1`) with its 19 trial scales
/// computed side by side: lane `c` sums `w·x·l` and `w·l·l` over the
/// values in order, as the reference's loop for `is = c - 9` does (the
/// first pass is `is = 0`: `nmax + 0.1·0` is `nmax` exactly). The choice
/// then scans the trials in the reference's order with its comparisons,
/// and the winner's quants are computed once.
#[inline(always)]
pub(crate) fn make_qx_quants(nmax: i32, x: &[f32], l_out: &mut [i8], qw: Option<&[f32]>) -> f32 {
    let n = x.len();
    let l_out = &mut l_out[..n];
    let mut max = 0f32;
    let mut amax = 0f32;
    for &v in x {
        let ax = v.abs();
        if ax > amax {
            amax = ax;
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l_out.fill(0);
        return 0.0;
    }
    let mut iscale = [0f32; TRIALS];
    for (c, s) in iscale.iter_mut().enumerate() {
        let is = if c < 19 { c as i32 - 9 } else { 0 };
        *s = if is == 0 {
            -(nmax as f32) / max
        } else {
            -(nmax as f32 + 0.1 * is as f32) / max
        };
    }
    let (mut sumlx, mut suml2) = ([0f32; TRIALS], [0f32; TRIALS]);
    let (lo, hi) = (-nmax, nmax - 1);
    for i in 0..n {
        let xi = x[i];
        let w = match qw {
            Some(qw) => qw[i],
            None => xi * xi,
        };
        let wx = w * xi;
        for c in 0..TRIALS {
            let l = nearest_int(iscale[c] * xi).clamp(lo, hi) as f32;
            sumlx[c] += wx * l;
            suml2[c] += w * l * l;
        }
    }
    const FIRST: usize = 9;
    let mut scale = if suml2[FIRST] != 0.0 {
        sumlx[FIRST] / suml2[FIRST]
    } else {
        0.0
    };
    let mut best = scale * sumlx[FIRST];
    let mut chosen = FIRST;
    for c in (0..19).filter(|&c| c != FIRST) {
        if suml2[c] > 0.0 && sumlx[c] * sumlx[c] > best * suml2[c] {
            scale = sumlx[c] / suml2[c];
            best = scale * sumlx[c];
            chosen = c;
        }
    }
    for (o, &xi) in l_out.iter_mut().zip(x) {
        *o = (nearest_int(iscale[chosen] * xi).clamp(lo, hi) + nmax) as i8;
    }
    scale
}
