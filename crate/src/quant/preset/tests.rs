//! `quant::preset` against llama-quantize: the tensor types it chose for
//! real and synthetic models (tests/data/llama-quantize-types), and the
//! rules' corner cases.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use super::rules::{scan_layer, tensor_type_fallback, use_more_bits};
use super::*;

macro_rules! fixture {
    ($file:expr) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/llama-quantize-types/",
            $file
        ))
    };
}

// the llama-quantize runs per model: `<model>-<file>.txt` ("pure-X" = --pure X)
const PRESET_FILES: [&str; 16] = [
    "Q2_K",
    "Q3_K_S",
    "Q3_K_M",
    "Q3_K_L",
    "Q4_K_S",
    "Q4_K_M",
    "Q5_K_S",
    "Q5_K_M",
    "Q6_K",
    "Q4_0",
    "Q4_1",
    "Q5_0",
    "Q5_1",
    "Q8_0",
    "pure-Q4_K_M",
    "pure-Q8_0",
];

macro_rules! model_fixtures {
    ($m:literal) => {
        (
            $m,
            fixture!(concat!($m, "-tensors.txt")),
            [
                fixture!(concat!($m, "-Q2_K.txt")),
                fixture!(concat!($m, "-Q3_K_S.txt")),
                fixture!(concat!($m, "-Q3_K_M.txt")),
                fixture!(concat!($m, "-Q3_K_L.txt")),
                fixture!(concat!($m, "-Q4_K_S.txt")),
                fixture!(concat!($m, "-Q4_K_M.txt")),
                fixture!(concat!($m, "-Q5_K_S.txt")),
                fixture!(concat!($m, "-Q5_K_M.txt")),
                fixture!(concat!($m, "-Q6_K.txt")),
                fixture!(concat!($m, "-Q4_0.txt")),
                fixture!(concat!($m, "-Q4_1.txt")),
                fixture!(concat!($m, "-Q5_0.txt")),
                fixture!(concat!($m, "-Q5_1.txt")),
                fixture!(concat!($m, "-Q8_0.txt")),
                fixture!(concat!($m, "-pure-Q4_K_M.txt")),
                fixture!(concat!($m, "-pure-Q8_0.txt")),
            ],
        )
    };
}

type ModelFixture = (&'static str, &'static str, [&'static str; 16]);

fn models() -> [ModelFixture; 4] {
    [
        model_fixtures!("smollm2-135m"),
        model_fixtures!("stories260K"),
        model_fixtures!("tiny-untied"),
        model_fixtures!("tiny-moe"),
    ]
}

fn preset_of(file: &str) -> Preset {
    match file.strip_prefix("pure-") {
        Some(p) => Preset::Pure(Preset::from_name(p).unwrap().default_type()),
        None => Preset::from_name(file).unwrap(),
    }
}

struct Model {
    shape: ModelShape,
    tensors: Vec<(String, GgmlType, Vec<u64>)>,
}

fn parse_model(text: &str) -> Model {
    let mut shape = ModelShape::default();
    let mut tensors = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let mut w = line.split_whitespace();
        let key = w.next().unwrap();
        let num = |s: Option<&str>| s.unwrap().parse::<u32>().unwrap();
        match key {
            "arch" => shape.arch = w.next().unwrap().to_string(),
            "n_layer" => shape.n_layer = num(w.next()),
            "n_head" => shape.n_head = num(w.next()),
            "n_head_kv" => shape.n_head_kv = num(w.next()),
            "n_expert" => shape.n_expert = num(w.next()),
            "tensor" => {
                let name = w.next().unwrap().to_string();
                let ty = GgmlType::from_name(w.next().unwrap()).unwrap();
                let dims = w.map(|d| d.parse().unwrap()).collect();
                tensors.push((name, ty, dims));
            }
            other => panic!("unexpected fixture line {other:?}"),
        }
    }
    Model { shape, tensors }
}

/// `(file_type, [(name, type)])` of one llama-quantize output.
fn parse_types(text: &str) -> (u32, Vec<(&str, GgmlType)>) {
    let mut ftype = None;
    let mut types = Vec::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("# general.file_type ") {
            ftype = Some(v.trim().parse().unwrap());
        } else if !line.starts_with('#') && !line.is_empty() {
            let (name, ty) = line.split_once(' ').unwrap();
            types.push((name, GgmlType::from_name(ty).unwrap()));
        }
    }
    (ftype.expect("fixture without general.file_type"), types)
}

#[test]
fn plan_matches_llama_quantize() {
    let mut checked = 0;
    for (model_name, tensors_txt, preset_txts) in models() {
        let model = parse_model(tensors_txt);
        let descs: Vec<TensorDesc> = model
            .tensors
            .iter()
            .map(|(name, ty, dims)| TensorDesc {
                name,
                dims,
                ty: *ty,
            })
            .collect();
        for (file, text) in PRESET_FILES.iter().zip(preset_txts) {
            let preset = preset_of(file);
            let (ftype, expected) = parse_types(text);
            let got = plan(preset, &model.shape, &descs).unwrap();
            assert_eq!(got.len(), descs.len());
            assert_eq!(expected.len(), descs.len(), "{model_name} {file}");
            // llama-quantize writes tensors in the order it visits them
            let order: Vec<&str> = llama_tensor_order(&descs)
                .into_iter()
                .map(|i| descs[i].name)
                .collect();
            let expected_order: Vec<&str> = expected.iter().map(|&(n, _)| n).collect();
            assert_eq!(order, expected_order, "{model_name} {file}: tensor order");
            let mut bad = Vec::new();
            for (d, c) in descs.iter().zip(&got) {
                let want = expected.iter().find(|&&(n, _)| n == d.name).unwrap().1;
                if c.target != want {
                    bad.push(format!(
                        "{}: plan {} ({}), llama-quantize {}",
                        d.name, c.target, c.reason, want
                    ));
                }
            }
            assert!(bad.is_empty(), "{model_name} {file}:\n{}", bad.join("\n"));
            assert_eq!(file_type(preset), ftype, "{model_name} {file}: file_type");
            checked += descs.len();
        }
    }
    assert!(checked > 0);
}

fn desc<'a>(name: &'a str, dims: &'a [u64]) -> TensorDesc<'a> {
    TensorDesc {
        name,
        dims,
        ty: GgmlType::F16,
    }
}

#[test]
fn fallback_rule() {
    use GgmlType::*;
    // 256-blocks demote to a 32-block type
    assert_eq!(tensor_type_fallback(576, Q4K).unwrap(), (Q5_0, Some(Q4K)));
    assert_eq!(tensor_type_fallback(576, Q5K).unwrap(), (Q5_1, Some(Q5K)));
    assert_eq!(tensor_type_fallback(576, Q6K).unwrap(), (Q8_0, Some(Q6K)));
    assert_eq!(tensor_type_fallback(576, Q2K).unwrap(), (Q4_0, Some(Q2K)));
    assert_eq!(tensor_type_fallback(576, Q3K).unwrap(), (Q4_0, Some(Q3K)));
    assert_eq!(
        tensor_type_fallback(576, IQ4XS).unwrap(),
        (IQ4NL, Some(IQ4XS))
    );
    // and to F16 when 32 does not divide the row either
    assert_eq!(tensor_type_fallback(172, Q4K).unwrap(), (F16, Some(Q4K)));
    assert_eq!(tensor_type_fallback(172, Q8_0).unwrap(), (F16, Some(Q8_0)));
    // whole blocks: unchanged
    assert_eq!(tensor_type_fallback(512, Q4K).unwrap(), (Q4K, None));
    assert_eq!(tensor_type_fallback(64, Q4_0).unwrap(), (Q4_0, None));
    // Q8_K has no fallback in llama.cpp
    assert!(tensor_type_fallback(100, Q8K).is_err());

    // through plan: the reason stays, fallback_from records the rule's type
    let shape = ModelShape::llama(1, 4, 4);
    let dims = [576u64, 64];
    let c = plan(Preset::Q4KS, &shape, &[desc("blk.0.attn_q.weight", &dims)]).unwrap();
    assert_eq!(c[0].target, Q5_0);
    assert_eq!(c[0].fallback_from, Some(Q4K));
}

#[test]
fn kept_tensors_keep_their_type() {
    let shape = ModelShape::llama(1, 4, 4);
    let d1 = [256u64];
    let d2 = [256u64, 1, 1];
    let d3 = [256u64, 256];
    let tensors = [
        TensorDesc {
            name: "blk.0.attn_norm.weight",
            dims: &d1,
            ty: GgmlType::F32,
        },
        // trailing 1s do not count as dims (ggml_n_dims)
        desc("blk.0.attn_q.weight", &d2),
        desc("blk.0.ffn_gate_inp.weight", &d3),
        desc("blk.0.attn_q.bias", &d3),
        desc("blk.0.attn_q.weight_scale", &d3),
        desc("output_norm.weight", &d3),
        desc("blk.0.attn_k.weight", &d3),
    ];
    let c = plan(Preset::Q4KM, &shape, &tensors).unwrap();
    let targets: Vec<GgmlType> = c.iter().map(|c| c.target).collect();
    use GgmlType::*;
    assert_eq!(targets, [F32, F16, F16, F16, F16, F16, Q4K]);
}

#[test]
fn preset_names() {
    for p in Preset::ALL {
        assert_eq!(Preset::from_name(&p.name()).unwrap(), p);
        assert_eq!(Preset::from_name(&p.name().to_lowercase()).unwrap(), p);
        assert_eq!(p.name().parse::<Preset>().unwrap(), p);
    }
    assert_eq!(Preset::from_name(" q4_k_m ").unwrap(), Preset::Q4KM);
    assert_eq!(Preset::from_name("Q4_K").unwrap(), Preset::Q4KM);
    assert_eq!(Preset::from_name("q3_k").unwrap(), Preset::Q3KM);
    assert_eq!(Preset::from_name("Q5_K").unwrap(), Preset::Q5KM);
    let p = Preset::from_name("pure:q4_K").unwrap();
    assert_eq!(p, Preset::Pure(GgmlType::Q4K));
    assert_eq!(Preset::from_name(&p.to_string()).unwrap(), p);
    assert_eq!(file_type(Preset::Q4KM), 15);
    assert_eq!(file_type(Preset::Q8_0), 7);
    assert_eq!(file_type(Preset::Pure(GgmlType::F16)), 1);
}

#[test]
fn bad_input_is_an_error() {
    for bad in [
        "",
        "Q4_K_X",
        "Q7_0",
        "IQ2_XXS",
        "pure:",
        "pure:q9",
        "pure:q8_K",
    ] {
        let e = Preset::from_name(bad).unwrap_err().to_string();
        assert!(!e.is_empty(), "{bad}");
    }
    let e = Preset::from_name("Q4_K_X").unwrap_err().to_string();
    assert!(
        e.contains("unknown quantization preset") && e.contains("Q4_K_M"),
        "{e}"
    );

    let shape = ModelShape::llama(2, 4, 4);
    let ok = [256u64, 256];
    // no dims, a zero dim, too many dims, duplicates, a bad pure type, no layers
    let none: [u64; 0] = [];
    let zero = [0u64, 256];
    let five = [256u64, 1, 1, 1, 1];
    for ts in [
        vec![desc("blk.0.attn_q.weight", &none)],
        vec![desc("blk.0.attn_q.weight", &zero)],
        vec![desc("blk.0.attn_q.weight", &five)],
        vec![desc("a.weight", &ok), desc("a.weight", &ok)],
    ] {
        assert!(plan(Preset::Q4KM, &shape, &ts).is_err());
    }
    let one = [desc("blk.0.attn_q.weight", &ok)];
    assert!(plan(Preset::Pure(GgmlType::Q8K), &shape, &one).is_err());
    assert!(plan(Preset::Q4KM, &ModelShape::llama(0, 4, 4), &one).is_err());
    // an MoE tensor whose layer cannot be read, or is out of range
    let moe = ModelShape {
        n_expert: 8,
        ..ModelShape::llama(2, 4, 4)
    };
    let e3 = [256u64, 256, 8];
    assert!(plan(Preset::Q4KM, &moe, &[desc("ffn_down_exps.weight", &e3)]).is_err());
    assert!(plan(
        Preset::Q4KM,
        &moe,
        &[desc("blk.7.ffn_down_exps.weight", &e3)]
    )
    .is_err());
    assert!(plan(
        Preset::Q4KM,
        &moe,
        &[desc("blk.1.ffn_down_exps.weight", &e3)]
    )
    .is_ok());
}

#[test]
fn layer_order_and_scan() {
    assert_eq!(scan_layer("blk.12.attn_v.weight"), Some(12));
    assert_eq!(scan_layer("blk.-3.x"), Some(-3));
    assert_eq!(scan_layer("blk.x"), None);
    assert_eq!(scan_layer("token_embd.weight"), None);
    let d = [256u64, 256];
    let ts = [
        desc("blk.10.a.weight", &d),
        desc("blk.2.b.weight", &d),
        desc("output.weight", &d),
        desc("blk.2.a.weight", &d),
        desc("token_embd.weight", &d),
    ];
    let names: Vec<&str> = llama_tensor_order(&ts)
        .into_iter()
        .map(|i| ts[i].name)
        .collect();
    assert_eq!(
        names,
        [
            "output.weight",
            "token_embd.weight",
            "blk.2.a.weight",
            "blk.2.b.weight",
            "blk.10.a.weight"
        ]
    );
}

#[test]
fn seventy_b_and_use_more_bits() {
    // llama 70B: 80 layers, GQA -> attn_v Q4_K bumped to Q5_K for Q3_K_M
    let shape = ModelShape::llama(80, 64, 8);
    assert!(shape.is_70b());
    assert!(!ModelShape::llama(80, 64, 64).is_70b());
    let dims = [8192u64, 1024];
    let names: Vec<String> = (0..80).map(|i| format!("blk.{i}.attn_v.weight")).collect();
    let ts: Vec<TensorDesc> = names.iter().map(|n| desc(n, &dims)).collect();
    let c = plan(Preset::Q3KM, &shape, &ts).unwrap();
    assert!(c.iter().all(|c| c.target == GgmlType::Q5K));
    // Q4_K_M: use_more_bits layers get Q6_K
    let c = plan(Preset::Q4KM, &shape, &ts).unwrap();
    for (i, c) in c.iter().enumerate() {
        let want = if use_more_bits(i as i64, 80) {
            GgmlType::Q6K
        } else {
            GgmlType::Q5K
        };
        assert_eq!(c.target, want, "layer {i}");
    }
}
