// In wasm the same tests run under wasm-bindgen's runner (Node). The
// conversion through `model::source` (HfImport) is tested in
// model/source_tests.rs, on this file's fixtures.
use super::*;
use crate::io::gguf::GgufFile;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

// A tiny Llama made in Python and converted by llama.cpp's
// convert_hf_to_gguf.py; see tests/data/hf-tiny/README.md.
macro_rules! fixture {
    ($f:literal) => {
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/hf-tiny/", $f)
    };
}
const WEIGHTS: &[u8] = include_bytes!(fixture!("model/model.safetensors"));
const CONFIG: &str = include_str!(fixture!("model/config.json"));
const TOKENIZER: &str = include_str!(fixture!("model/tokenizer.json"));
const TOKENIZER_CONFIG: &str = include_str!(fixture!("model/tokenizer_config.json"));
pub(crate) const EXPECTED_F32: &[u8] = include_bytes!(fixture!("expected-f32.gguf"));
pub(crate) const EXPECTED_F16: &[u8] = include_bytes!(fixture!("expected-f16.gguf"));
const EXPECTED_BF16: &[u8] = include_bytes!(fixture!("expected-bf16.gguf"));

pub(crate) fn tiny() -> HfModel<&'static [u8]> {
    HfModel::open(WEIGHTS, CONFIG, Some(TOKENIZER), Some(TOKENIZER_CONFIG)).unwrap()
}

/// Convert and compare with llama.cpp's output: metadata key by key (order,
/// type, value), tensor infos, tensor bytes, then the whole file.
fn check_against_converter(ty: GgmlType, expected: &[u8]) {
    let m = tiny();
    let mut ours = Vec::new();
    // The converter names the model after its directory, "model".
    m.write_gguf(&mut ours, "Model", ty).unwrap();
    let want = GgufFile::open(expected).unwrap();
    let got = GgufFile::open(ours.as_slice()).unwrap();
    let w: Vec<_> = want.metadata_in_order().collect();
    let g: Vec<_> = got.metadata_in_order().collect();
    for (a, b) in w.iter().zip(&g) {
        assert_eq!(a, b, "metadata differs");
    }
    assert_eq!(w.len(), g.len(), "metadata count");
    assert_eq!(want.tensors.len(), got.tensors.len());
    for (a, b) in want.tensors.iter().zip(&got.tensors) {
        assert_eq!(a, b, "tensor info");
        assert_eq!(
            want.tensor_bytes(a).unwrap(),
            got.tensor_bytes(b).unwrap(),
            "data of {}",
            a.name
        );
    }
    assert!(ours == expected, "files differ although every part matched");
}

#[test]
fn f32_output_equals_llama_cpp_converter() {
    check_against_converter(GgmlType::F32, EXPECTED_F32);
}

#[test]
fn f16_output_equals_llama_cpp_converter() {
    check_against_converter(GgmlType::F16, EXPECTED_F16);
}

#[test]
fn bf16_output_equals_llama_cpp_converter() {
    check_against_converter(GgmlType::BF16, EXPECTED_BF16);
}

#[test]
fn config_and_tensor_list() {
    let m = tiny();
    let c = &m.config;
    assert_eq!(
        (
            c.n_layer,
            c.n_embd,
            c.n_head,
            c.n_head_kv,
            c.head_dim,
            c.vocab_size
        ),
        (2, 32, 4, Some(2), 8, 303)
    );
    assert_eq!(m.tokenizer_pre.as_deref(), Some("smollm"));
    let q = m
        .tensors
        .iter()
        .position(|t| t.name == "blk.1.attn_q.weight")
        .unwrap();
    assert_eq!(m.tensors[q].dims, vec![32, 32]);
    assert_eq!(m.tensors[q].src_ty, GgmlType::F16);
    assert_eq!(m.tensors[q].permute_heads, Some(4));
    let k = m
        .tensors
        .iter()
        .position(|t| t.name == "blk.0.attn_k.weight")
        .unwrap();
    assert_eq!(
        (m.tensors[k].dims.clone(), m.tensors[k].permute_heads),
        (vec![32, 16], Some(2))
    );
    assert_eq!(m.output_type(k, GgmlType::F16), GgmlType::F16);
    let n = m
        .tensors
        .iter()
        .position(|t| t.name == "output_norm.weight")
        .unwrap();
    assert_eq!(m.output_type(n, GgmlType::F16), GgmlType::F32);
    assert_eq!(m.tensor_f32(q).unwrap().len(), 32 * 32);
    assert!(m.tensor_bytes(m.tensors.len()).is_err());
}

#[test]
fn permutation_interleaves_the_two_rope_halves_of_each_head() {
    // 8 rows of one byte, 2 heads of 4 rows: halves [0,1],[2,3] and [4,5],[6,7].
    let rows: Vec<u8> = (0..8).collect();
    let p = permute_rows(&rows, &[8, 1], 2, 1).unwrap();
    assert_eq!(p, vec![0, 2, 1, 3, 4, 6, 5, 7]);
    // Rows of several elements move whole.
    let rows: Vec<u8> = (0..4).flat_map(|r| [r, 100 + r]).collect();
    let p = permute_rows(&rows, &[4, 2], 1, 1).unwrap();
    assert_eq!(p, vec![0, 100, 2, 102, 1, 101, 3, 103]);
    assert!(permute_rows(&rows, &[6, 1], 2, 1).is_err());
}

/// A safetensors file holding the fixture's tensors for which `keep` is true.
fn subset(keep: impl Fn(&str) -> bool) -> Vec<u8> {
    let f = SafetensorsFile::open(WEIGHTS).unwrap();
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for t in f.tensors.iter().filter(|t| keep(&t.name)) {
        let start = data.len();
        data.extend(f.tensor_bytes(t).unwrap());
        let dtype = match t.ty {
            GgmlType::F32 => "F32",
            GgmlType::F16 => "F16",
            _ => "BF16",
        };
        header.insert(
            t.name.clone(),
            serde_json::json!({"dtype": dtype, "shape": t.shape, "data_offsets": [start, data.len()]}),
        );
    }
    let h = serde_json::to_string(&header).unwrap();
    let mut v = (h.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(h.as_bytes());
    v.extend(data);
    v
}

#[test]
fn tied_embeddings_have_no_output_tensor() {
    let w = subset(|n| n != "lm_head.weight");
    let tied = CONFIG.replace(
        "\"tie_word_embeddings\": false",
        "\"tie_word_embeddings\": true",
    );
    let m = HfModel::open(w.as_slice(), &tied, Some(TOKENIZER), Some(TOKENIZER_CONFIG)).unwrap();
    assert_eq!(m.tensors.len(), 20);
    assert!(m.tensors.iter().all(|t| t.name != "output.weight"));
    let mut out = Vec::new();
    m.write_gguf(&mut out, "Model", GgmlType::F16).unwrap();
    let g = GgufFile::open(out.as_slice()).unwrap();
    let want = GgufFile::open(EXPECTED_F16).unwrap();
    assert!(g.tensor("output.weight").is_none());
    let t = g.tensor("token_embd.weight").unwrap();
    assert_eq!(
        g.tensor_bytes(t).unwrap(),
        want.tensor_bytes(want.tensor("token_embd.weight").unwrap())
            .unwrap()
    );
}

#[test]
fn sharded_model_gives_the_same_tensors() {
    let index = r#"{"metadata":{},"weight_map":{"lm_head.weight":"model-00002-of-00002.safetensors",
        "model.embed_tokens.weight":"model-00001-of-00002.safetensors"}}"#;
    assert_eq!(
        shard_files(index).unwrap(),
        vec![
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors"
        ]
    );
    assert!(shard_files("{}")
        .unwrap_err()
        .to_string()
        .contains("weight_map"));
    let a = subset(|n| n.starts_with("model.layers.1") || n == "lm_head.weight");
    let b = subset(|n| !(n.starts_with("model.layers.1") || n == "lm_head.weight"));
    let m = HfModel::open_sharded(
        vec![a.as_slice(), b.as_slice()],
        CONFIG,
        Some(TOKENIZER),
        Some(TOKENIZER_CONFIG),
    )
    .unwrap();
    let whole = tiny();
    assert_eq!(m.tensors.len(), whole.tensors.len());
    for (i, t) in m.tensors.iter().enumerate() {
        let j = whole.tensors.iter().position(|u| u.name == t.name).unwrap();
        assert_eq!(
            m.tensor_bytes(i).unwrap(),
            whole.tensor_bytes(j).unwrap(),
            "{}",
            t.name
        );
    }
    // A tensor in two shards is an error.
    let e = HfModel::open_sharded(vec![WEIGHTS, WEIGHTS], CONFIG, None, None)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("appears twice"), "{e}");
}

fn config_err(config: &str) -> String {
    match HfModel::open(WEIGHTS, config, Some(TOKENIZER), Some(TOKENIZER_CONFIG)) {
        Ok(_) => panic!("accepted config {config}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_config_json_names_the_problem() {
    let e = config_err(&CONFIG.replace("\"hidden_size\"", "\"hidden_sizes\""));
    assert!(
        e.contains("config.json") && e.contains("missing \"hidden_size\""),
        "{e}"
    );
    let e = config_err(&CONFIG.replace("\"num_hidden_layers\"", "\"layers\""));
    assert!(e.contains("missing \"n_layers\""), "{e}");
    let e = config_err(&CONFIG.replace("LlamaForCausalLM", "Qwen2ForCausalLM"));
    assert!(e.contains("\"Qwen2ForCausalLM\" is not supported"), "{e}");
    let e = config_err(&CONFIG.replace(
        "\"num_attention_heads\": 4",
        "\"num_attention_heads\": \"4\"",
    ));
    assert!(e.contains("\"num_attention_heads\" is \"4\""), "{e}");
    let e = config_err(&CONFIG.replace(
        "\"rope_scaling\": null",
        "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}",
    ));
    assert!(e.contains("\"llama3\" is not supported"), "{e}");
    let e = config_err(&CONFIG.replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 3"));
    assert!(e.contains("not a multiple"), "{e}");
    let e = config_err(&CONFIG.replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1"));
    assert!(
        e.contains("\"model.layers.1.") && e.contains("no llama GGUF name"),
        "{e}"
    );
    let e = config_err(&CONFIG.replace("\"vocab_size\": 303", "\"vocab_size\": 200"));
    assert!(e.contains("not below config.json's vocab_size 200"), "{e}");
    assert!(config_err("[]").contains("not a JSON object"));
    assert!(config_err("{").contains("not valid JSON"));
}

#[test]
fn linear_rope_scaling_and_missing_tokenizer() {
    let cfg = CONFIG.replace(
        "\"rope_scaling\": null",
        "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 4.0}",
    );
    let m = HfModel::open(WEIGHTS, &cfg, None, None).unwrap();
    let md = m.gguf_metadata("x", GgmlType::F32).unwrap();
    let get = |k: &str| md.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    assert_eq!(
        get("llama.rope.scaling.type"),
        Some(Value::String("linear".into()))
    );
    assert_eq!(get("llama.rope.scaling.factor"), Some(Value::F32(4.0)));
    assert_eq!(
        get("tokenizer.ggml.model"),
        Some(Value::String("none".into()))
    );
    assert!(m.gguf_metadata("x", GgmlType::Q8_0).is_err());
}

#[test]
fn unknown_pre_tokenizer_must_be_named_by_the_caller() {
    let tok = TOKENIZER.replace(
        "\"individual_digits\": true",
        "\"individual_digits\": false",
    );
    assert_ne!(tok, TOKENIZER);
    let mut m = HfModel::open(WEIGHTS, CONFIG, Some(&tok), Some(TOKENIZER_CONFIG)).unwrap();
    assert_eq!(m.tokenizer_pre, None);
    let e = m.gguf_metadata("x", GgmlType::F16).unwrap_err().to_string();
    assert!(e.contains("pre-tokenizer not recognised"), "{e}");
    m.tokenizer_pre = Some("gpt-2".into());
    assert!(m.gguf_metadata("x", GgmlType::F16).is_ok());
}

#[test]
fn unsupported_tokenizers_are_refused() {
    let e = HfModel::open(
        WEIGHTS,
        CONFIG,
        Some("{\"model\":{\"type\":\"Unigram\"}}"),
        None,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("tokenizer.json") && e.contains("Unigram"), "{e}");
    let e = HfModel::open(
        WEIGHTS,
        CONFIG,
        Some("{\"model\":{\"type\":\"BPE\",\"vocab\":{}}}"),
        None,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("not a byte-level BPE"), "{e}");
}

#[test]
fn size_label_matches_gguf_py() {
    assert_eq!(size_label(34_912), "35K");
    assert_eq!(size_label(134_515_008), "135M");
    assert_eq!(size_label(1_235_814_400), "1.2B");
    assert_eq!(size_label(400), "0.40K");
}
