//! Any bytes given to the safetensors reader and the Hugging Face import:
//! an error or a model, never a panic, never a huge allocation. The same
//! bytes, if UTF-8, are also tried as config.json and as tokenizer.json
//! beside the fixture's valid files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webquant::io::hf::HfModel;
use webquant::io::safetensors::SafetensorsFile;
use webquant::quant::GgmlType;

const WEIGHTS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../crate/tests/data/hf-tiny/model/model.safetensors"
));
const CONFIG: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../crate/tests/data/hf-tiny/model/config.json"
));
const TOKENIZER: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../crate/tests/data/hf-tiny/model/tokenizer.json"
));

fn convert<S: webquant::io::source::ByteSource>(m: &HfModel<S>) {
    for i in 0..m.tensors.len() {
        let _ = m.tensor_f32(i);
    }
    let _ = m.write_gguf(std::io::sink(), "fuzz", GgmlType::F16);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = SafetensorsFile::open(data) {
        for t in &f.tensors {
            let _ = f.tensor_f32(t);
        }
    }
    if let Ok(m) = HfModel::open(data, CONFIG, Some(TOKENIZER), None) {
        convert(&m);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(m) = HfModel::open(WEIGHTS, text, Some(TOKENIZER), None) {
            convert(&m);
        }
        if let Ok(m) = HfModel::open(WEIGHTS, CONFIG, Some(text), Some(text)) {
            convert(&m);
        }
    }
});
