//! Any bytes given to the GGUF reader: an error or a model, never a panic,
//! never a huge allocation (libFuzzer's -rss_limit_mb catches those).
#![no_main]

use libfuzzer_sys::fuzz_target;
use webquant::io::gguf::GgufFile;
use webquant::model::{tensor_stats, ModelInfo};

fuzz_target!(|data: &[u8]| {
    let Ok(g) = GgufFile::open(data) else { return };
    let _ = ModelInfo::from_gguf(&g);
    for t in &g.tensors {
        let _ = t.n_bytes();
        let _ = g.tensor_bytes(t);
    }
    // Reads and dequantizes each tensor: exercises the type/shape checks.
    for i in 0..g.tensors.len() {
        let _ = tensor_stats(&g, i);
    }
});
