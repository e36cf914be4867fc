//! The JS API as JavaScript sees it: run under wasm-bindgen's test runner
//! (Node), values crossing the boundary through serde-wasm-bindgen.

use serde::Deserialize;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test as test;

use super::teach::TS_TYPES;
use super::teach::*;

#[derive(Deserialize)]
struct Quantized {
    values: Vec<i32>,
    dequantized: Vec<f32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Step {
    q: i32,
    dequantized: f32,
}

fn round4(x: f32) -> f64 {
    (x as f64 * 1e4).round() / 1e4
}

#[test]
fn worked_absmax_example_through_js() {
    let x = [1.2, -0.5, -4.3, 1.2, -3.1, 0.8, 2.4, 5.4];
    let q: Quantized = serde_wasm_bindgen::from_value(teach_absmax(&x, 8).unwrap()).unwrap();
    assert_eq!(q.values, [28, -12, -101, 28, -73, 19, 56, 127]);
    let deq: Vec<f64> = q.dequantized.iter().map(|&v| round4(v)).collect();
    assert_eq!(
        deq,
        [1.1906, -0.5102, -4.2945, 1.1906, -3.1039, 0.8079, 2.3811, 5.4]
    );

    let s: Step =
        serde_wasm_bindgen::from_value(teach_value(0.3, -1.0, 1.0, "symmetric", 8).unwrap())
            .unwrap();
    assert_eq!((s.q, round4(s.dequantized)), (38, 0.2992));
}

#[test]
fn config_objects_from_js_are_read() {
    let config = js_sys::JSON::parse(
        r#"{"scheme":"asymmetric","bits":4,"granularity":{"kind":"perGroup","size":4}}"#,
    )
    .unwrap();
    let x = [1.2, -0.5, -4.3, 1.2, -3.1, 0.8, 2.4, 5.4];
    let q: Quantized =
        serde_wasm_bindgen::from_value(teach_quantize(&x, 1, 8, config).unwrap()).unwrap();
    assert_eq!(q.values.len(), 8);
    assert!(q.values.iter().all(|&v| (0..=15).contains(&v)));
}

#[test]
fn bad_input_is_an_exception_with_a_message_not_a_trap() {
    let err = |r: Result<JsValue, wasm_bindgen::JsError>| -> String {
        let v: JsValue = r.expect_err("an error").into();
        js_sys::Error::from(v).message().into()
    };
    assert!(err(teach_absmax(&[1.0, f32::NAN], 8)).contains("index 1"));
    assert!(err(teach_absmax(&[1.0], 1)).contains("bits"));
    assert!(err(bit_fields("fp7", 1.0, None)).contains("fp7"));
    let bad = js_sys::JSON::parse(r#"{"scheme":"sideways","bits":4}"#).unwrap();
    assert!(err(teach_quantize(&[1.0], 1, 1, bad)).contains("invalid quantization config"));
}

#[test]
fn bit_fields_of_fp8() {
    #[derive(Deserialize)]
    struct B {
        bits: String,
        decoded: f32,
    }
    let b: B =
        serde_wasm_bindgen::from_value(bit_fields("fp8_e4m3", 448.0, None).unwrap()).unwrap();
    assert_eq!((b.bits.as_str(), b.decoded), ("01111110", 448.0));
}

/// The field names of `export interface NAME { ... }` in the TypeScript
/// section, sorted.
pub(super) fn ts_fields_in(ts: &str, name: &str) -> Vec<String> {
    let start = ts
        .find(&format!("export interface {name} {{"))
        .unwrap_or_else(|| panic!("interface {name} missing"));
    let body = &ts[start..];
    let body = &body[body.find('{').unwrap() + 1..body.find('}').unwrap()];
    let mut out: Vec<String> = body
        .split(';')
        .filter_map(|f| f.split(':').next())
        .map(|f| f.trim().trim_end_matches('?').to_string())
        .filter(|f| !f.is_empty())
        .collect();
    out.sort();
    out
}

fn ts_fields(name: &str) -> Vec<String> {
    ts_fields_in(TS_TYPES, name)
}

fn js_keys(v: &JsValue) -> Vec<String> {
    let mut k: Vec<String> = js_sys::Object::keys(&js_sys::Object::from(v.clone()))
        .iter()
        .filter_map(|k| k.as_string())
        .collect();
    k.sort();
    k
}

#[test]
fn typescript_interfaces_match_the_objects_returned() {
    let x = [1.2f32, -0.5, -4.3, 1.2];
    let q = teach_absmax(&x, 8).unwrap();
    assert_eq!(js_keys(&q), ts_fields("Quantized"));
    let groups = js_sys::Reflect::get(&q, &"groups".into()).unwrap();
    let g0 = js_sys::Reflect::get(&groups, &0.into()).unwrap();
    assert_eq!(js_keys(&g0), ts_fields("GroupParams"));
    let stats = js_sys::Reflect::get(&q, &"stats".into()).unwrap();
    assert_eq!(js_keys(&stats), ts_fields("ErrorStats"));
    let config = js_sys::Reflect::get(&q, &"config".into()).unwrap();
    assert_eq!(js_keys(&config), ts_fields("QuantConfig"));
    let v = teach_value(0.3, -1.0, 1.0, "symmetric", 8).unwrap();
    assert_eq!(js_keys(&v), ts_fields("ValueStep"));
    let b = bit_fields("fp16", 0.3, None).unwrap();
    assert_eq!(js_keys(&b), ts_fields("BitFields"));
    let h = histogram(&x, 4, None, None).unwrap();
    assert_eq!(js_keys(&h), ts_fields("Histogram"));
    let types = super::quant::ggml_types().unwrap();
    let t0 = js_sys::Reflect::get(&types, &0.into()).unwrap();
    assert_eq!(js_keys(&t0), ts_fields("GgmlTypeInfo"));
    let config = js_sys::JSON::parse(
        r#"{"scheme":"asymmetric","bits":4,"granularity":{"kind":"perTensor"},
            "calibration":{"method":"mse","candidates":10}}"#,
    )
    .unwrap();
    let q = teach_quantize(&x, 1, 4, config).unwrap();
    let groups = js_sys::Reflect::get(&q, &"groups".into()).unwrap();
    let g0 = js_sys::Reflect::get(&groups, &0.into()).unwrap();
    let search = js_sys::Reflect::get(&g0, &"search".into()).unwrap();
    let p0 = js_sys::Reflect::get(&search, &0.into()).unwrap();
    assert_eq!(js_keys(&p0), ts_fields("SearchPoint"));
}

fn get(v: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(v, &key.into()).unwrap()
}

fn first(v: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(&get(v, key), &0.into()).unwrap()
}

#[test]
fn qat_objects_match_their_typescript_interfaces() {
    let config = js_sys::JSON::parse(
        r#"{"bits":3,"scheme":"asymmetric","granularity":{"kind":"perRow"},"actBits":4}"#,
    )
    .unwrap();
    let mut t = QatTrainer::new(config.clone()).unwrap();
    t.train(15).unwrap();
    t.train(5).unwrap();
    assert_eq!(t.step(), 20);
    let v = t.view().unwrap();
    assert_eq!(js_keys(&v), ts_fields("QatView"));
    assert_eq!(js_keys(&get(&v, "config")), ts_fields("QatConfig"));
    assert_eq!(js_keys(&get(&v, "test")), ts_fields("QatEvals"));
    assert_eq!(js_keys(&get(&get(&v, "test"), "qat")), ts_fields("QatEval"));
    assert_eq!(js_keys(&get(&v, "history")), ts_fields("QatHistory"));
    assert_eq!(js_keys(&get(&v, "boundary")), ts_fields("QatBoundary"));
    let layer = first(&v, "layers");
    assert_eq!(js_keys(&layer), ts_fields("LayerView"));
    let grid = get(&layer, "qat");
    assert_eq!(js_keys(&grid), ts_fields("WeightGrid"));
    assert_eq!(js_keys(&first(&grid, "groups")), ts_fields("GridRange"));
    assert_eq!(js_keys(&first(&v, "gradient")), ts_fields("LayerGradient"));
    let acts = get(&v, "activations");
    assert_eq!(js_keys(&acts), ts_fields("QatActivations"));
    assert_eq!(js_keys(&first(&acts, "qatBatch")), ts_fields("ActRange"));
    let data = t.data().unwrap();
    assert_eq!(js_keys(&data), ts_fields("QatDataset"));
    assert_eq!(js_keys(&get(&data, "train")), ts_fields("QatPoints"));
    // Twenty steps in two calls are twenty steps in one.
    let whole = teach_qat(config, 20).unwrap();
    assert_eq!(
        js_sys::JSON::stringify(&v).unwrap(),
        js_sys::JSON::stringify(&whole).unwrap()
    );
    let r = teach_round_gradient("symmetric", 2, -1.0, 1.0, 13).unwrap();
    assert_eq!(js_keys(&r), ts_fields("RoundGradient"));
    let q = teach_fp4(&[0.1; 32], "nvfp4").unwrap();
    assert_eq!(js_keys(&q), ts_fields("Fp4Quantized"));
    assert_eq!(js_keys(&first(&q, "blocks")), ts_fields("Fp4Block"));
}

#[test]
fn bad_qat_and_fp4_arguments_are_exceptions_with_a_message() {
    let err = |r: Result<JsValue, wasm_bindgen::JsError>| -> String {
        let v: JsValue = r.expect_err("an error").into();
        js_sys::Error::from(v).message().into()
    };
    let cfg = |json: &str| js_sys::JSON::parse(json).unwrap();
    assert!(err(teach_qat(cfg(r#"{"bits":2}"#), 1)).contains("invalid QAT config"));
    assert!(err(teach_qat(
        cfg(r#"{"bits":1,"scheme":"symmetric","granularity":{"kind":"perTensor"}}"#),
        1
    ))
    .contains("bits"));
    let good = cfg(r#"{"bits":2,"scheme":"symmetric","granularity":{"kind":"perTensor"}}"#);
    let mut t = QatTrainer::new(good).unwrap();
    let e: JsValue = t.train(0).expect_err("an error").into();
    assert!(String::from(js_sys::Error::from(e).message()).contains("steps"));
    assert!(err(teach_round_gradient("sideways", 2, -1.0, 1.0, 10)).contains("sideways"));
    assert!(err(teach_fp4(&[1.0; 20], "mxfp4")).contains("multiple of 32"));
    assert!(err(teach_fp4(&[1.0; 32], "fp5")).contains("fp5"));
}
