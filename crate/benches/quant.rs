//! Quantize and dequantize throughput per ggml type, in MB/s of f32 input
//! (criterion reports it as bytes/s). `node scripts/bench-quant.mjs` runs this
//! together with libgguf and the browser on the same data and prints ratios.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use webquant::quant::blocks;
use webquant::quant::synth::{self, Aligned};

/// 64 rows of 4096 values: 1 MiB of f32, a typical weight row length.
const ROWS: usize = 64;
const ROW_LEN: usize = 4096;

fn quant(c: &mut Criterion) {
    let data = Aligned::from_slice(&synth::weights(ROWS, ROW_LEN, 1));
    let data = data.as_slice();
    let bytes = (data.len() * 4) as u64;
    for ty in blocks::quantizable() {
        let packed = match blocks::quantize(ty, data, ROW_LEN, None) {
            Ok(p) => Aligned::from_slice(&p),
            Err(e) => panic!("{}: {e}", ty.name()),
        };
        let mut out = Aligned::<f32>::zeroed(data.len());
        let mut g = c.benchmark_group(ty.name());
        g.throughput(Throughput::Bytes(bytes));
        g.bench_function("quantize", |b| {
            let mut dst = Aligned::<u8>::zeroed(packed.as_slice().len());
            b.iter(|| blocks::quantize_into(ty, black_box(data), ROW_LEN, None, dst.as_mut_slice()))
        });
        g.bench_function("dequantize", |b| {
            b.iter(|| {
                blocks::dequantize_into(
                    ty,
                    black_box(packed.as_slice()),
                    ROW_LEN,
                    out.as_mut_slice(),
                )
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    // Short runs: 18 types x 2 operations. scripts/bench-quant.mjs reads the
    // fastest sample of each and repeats the whole run (--rounds).
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = quant
}
criterion_main!(benches);
