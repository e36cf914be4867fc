//! `model::source` on real inputs: a Hugging Face model (io/hf_tests.rs's
//! tiny Llama) through HfImport and QuantizeJob, as `webquant convert` and
//! the web app's import take it, against llama.cpp's converter.
// In wasm the same tests run under wasm-bindgen's runner (Node).

use crate::io::gguf::{GgufFile, Value};
use crate::io::hf::tests::{tiny, EXPECTED_F16, EXPECTED_F32};
use crate::model::quantize::{QuantizeJob, Target};
use crate::model::source::{HfImport, ModelSource};
use crate::quant::preset::{self, Preset};
use crate::quant::GgmlType;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// The path `webquant convert` takes: HfImport as a ModelSource, planned
/// with Preset::Pure and written by QuantizeJob. Tensor infos and bytes
/// must equal the converter's; metadata too, except that QuantizeJob moves
/// general.quantization_version and general.file_type to the end (as it
/// does for every source).
/// The whole-model quantization job of `preset` on `src`, run to its end.
fn quantize<S: ModelSource>(src: &S, preset: Preset) -> Vec<u8> {
    let targets = Target::plan(src, preset, false).unwrap();
    let mut job = QuantizeJob::new(
        src,
        targets,
        preset::file_type(preset),
        Default::default(),
        Vec::new(),
    )
    .unwrap();
    job.run(|_, _, _| true).unwrap();
    job.finish().unwrap()
}

fn check_model_source_path(ty: GgmlType, expected: &[u8]) {
    let src = HfImport::new(tiny(), "Model").unwrap();
    let st = src.tensors();
    // The converter's order: HF names sorted, so lm_head comes first.
    assert_eq!(st[0].name, "output.weight");
    let e = st.iter().find(|t| t.name == "token_embd.weight").unwrap();
    assert_eq!((e.ty, e.dims.clone()), (GgmlType::BF16, vec![32, 303]));
    let preset = Preset::Pure(ty);
    let out = quantize(&src, preset);
    let got = GgufFile::open(out.as_slice()).unwrap();
    let want = GgufFile::open(expected).unwrap();
    let moved = ["general.quantization_version", "general.file_type"];
    let order = |g: &GgufFile<&[u8]>| -> Vec<(String, Value)> {
        let mut v: Vec<_> = g
            .metadata_in_order()
            .filter(|(k, _)| !moved.contains(k))
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        for k in moved {
            v.push((
                k.to_string(),
                g.metadata_in_order()
                    .find(|(x, _)| *x == k)
                    .unwrap()
                    .1
                    .clone(),
            ));
        }
        v
    };
    assert_eq!(order(&got), order(&want));
    assert_eq!(got.tensors.len(), want.tensors.len());
    for (a, b) in want.tensors.iter().zip(&got.tensors) {
        assert_eq!(a, b, "tensor info");
        assert_eq!(
            want.tensor_bytes(a).unwrap(),
            got.tensor_bytes(b).unwrap(),
            "data of {}",
            a.name
        );
    }
}

#[test]
fn model_source_f32_conversion_equals_llama_cpp_converter() {
    check_model_source_path(GgmlType::F32, EXPECTED_F32);
}

#[test]
fn model_source_f16_conversion_equals_llama_cpp_converter() {
    check_model_source_path(GgmlType::F16, EXPECTED_F16);
}

#[test]
fn model_source_quantizes_to_q4_k_m() {
    let src = HfImport::new(tiny(), "Model").unwrap();
    let preset = Preset::from_name("Q4_K_M").unwrap();
    let out = quantize(&src, preset);
    let g = GgufFile::open(out.as_slice()).unwrap();
    assert_eq!(g.get_u64("general.file_type"), Some(15));
    assert_eq!(g.tensors.len(), 21);
    // Rows of 32 are not a multiple of 256: K-quants fall back, but the
    // quantized weights still approximate the (permuted) source.
    let t = g.tensor("blk.0.attn_q.weight").unwrap();
    assert_ne!(t.ty, GgmlType::F32);
    let i = src
        .model
        .tensors
        .iter()
        .position(|x| x.name == t.name)
        .unwrap();
    let want = src.model.tensor_f32(i).unwrap();
    let got = crate::quant::blocks::dequantize(t.ty, &g.tensor_bytes(t).unwrap(), 32).unwrap();
    let err: f32 = want
        .iter()
        .zip(&got)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    let max: f32 = want.iter().fold(0.0, |m, v| m.max(v.abs()));
    assert!(err < 0.1 * max, "max error {err} for values up to {max}");
}
