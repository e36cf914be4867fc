//! Any bytes given to the llama2.c checkpoint and tokenizer readers: an
//! error or a model, never a panic, never a huge allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webquant::io::llama2c::{read_tokenizer, Llama2cModel};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Llama2cModel::open(data) {
        for i in 0..m.tensor_names().count() {
            let _ = m.tensor_f32(i);
        }
    }
    // The same bytes as a tokenizer file, for a few vocabulary sizes.
    for vocab in [1usize, 3, 512] {
        let _ = read_tokenizer(data, vocab);
    }
});
