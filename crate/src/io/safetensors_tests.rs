// In wasm the same tests run under wasm-bindgen's runner (Node).
use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const TINY: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/hf-tiny/model/model.safetensors"
));

/// A safetensors file from a JSON header and a data section.
fn file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut v = (header.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(data);
    v
}

fn err(bytes: &[u8]) -> String {
    match SafetensorsFile::open(bytes) {
        Ok(_) => panic!("accepted a bad file"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn reads_the_fixture_lazily_with_all_three_dtypes() {
    let f = SafetensorsFile::open(TINY).unwrap();
    assert_eq!(f.tensors.len(), 21);
    assert_eq!(f.metadata.get("format").map(String::as_str), Some("pt"));
    let names: Vec<&str> = f.tensors.iter().map(|t| t.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let k = f.tensor("model.layers.0.self_attn.k_proj.weight").unwrap();
    assert_eq!((k.ty, k.shape.clone()), (GgmlType::F32, vec![16, 32]));
    assert_eq!(k.ggml_dims(), vec![32, 16]);
    let q = f.tensor("model.layers.1.self_attn.q_proj.weight").unwrap();
    assert_eq!(q.ty, GgmlType::F16);
    let e = f.tensor("model.embed_tokens.weight").unwrap();
    assert_eq!((e.ty, e.n_bytes), (GgmlType::BF16, 303 * 32 * 2));
    // BF16 widening is exact: the top 16 bits of each f32 are the stored bits.
    let bytes = f.tensor_bytes(e).unwrap();
    let vals = f.tensor_f32(e).unwrap();
    assert_eq!(vals.len(), 303 * 32);
    for (v, b) in vals.iter().zip(bytes.chunks_exact(2)) {
        assert_eq!(v.to_bits() >> 16, u16::from_le_bytes([b[0], b[1]]) as u32);
        assert_eq!(v.to_bits() & 0xffff, 0);
    }
    assert!(vals.iter().any(|v| *v != 0.0));
}

#[test]
fn sniffs_safetensors_but_not_gguf_or_llama2c() {
    assert!(looks_like_safetensors(TINY));
    assert_eq!(
        crate::io::sniff(&TINY[..16]),
        crate::io::FileKind::Safetensors
    );
    assert!(!looks_like_safetensors(&TINY[..8]));
    assert_eq!(
        crate::io::sniff(b"GGUF\x03\0\0\0\0"),
        crate::io::FileKind::Gguf
    );
    // A llama2.c header: dim 64, hidden 172 as the first 8 bytes.
    let mut l2c = 64i32.to_le_bytes().to_vec();
    l2c.extend_from_slice(&172i32.to_le_bytes());
    l2c.extend_from_slice(&5i32.to_le_bytes());
    assert_eq!(crate::io::sniff(&l2c), crate::io::FileKind::Llama2c);
}

#[test]
fn truncated_files_are_rejected_with_the_reason() {
    for n in [0, 7, 8, 20, 100, TINY.len() - 1] {
        let e = err(&TINY[..n]);
        assert!(e.starts_with("safetensors file:"), "{n}: {e}");
        assert!(e.contains("truncated") || e.contains("shorter"), "{n}: {e}");
    }
}

#[test]
fn absurd_header_length_is_refused_without_reading() {
    let mut v = u64::MAX.to_le_bytes().to_vec();
    v.extend_from_slice(b"{}");
    assert!(err(&v).contains("over the 100000000-byte limit"));
    let mut v = (MAX_HEADER_LEN + 1).to_le_bytes().to_vec();
    v.extend_from_slice(b"{}");
    assert!(err(&v).contains("limit"));
}

#[test]
fn overlapping_gapped_and_out_of_file_offsets_are_rejected() {
    let two = |a: [u64; 2], b: [u64; 2]| {
        format!(
            r#"{{"a":{{"dtype":"F32","shape":[2],"data_offsets":[{},{}]}},"b":{{"dtype":"F32","shape":[2],"data_offsets":[{},{}]}}}}"#,
            a[0], a[1], b[0], b[1]
        )
    };
    let ok = file(&two([0, 8], [8, 16]), &[0u8; 16]);
    let f = SafetensorsFile::open(ok.as_slice()).unwrap();
    assert_eq!(f.tensors[1].offset, f.data_offset + 8);
    let e = err(&file(&two([0, 8], [4, 12]), &[0u8; 16]));
    assert!(e.contains("\"a\" and \"b\" overlap"), "{e}");
    let e = err(&file(&two([0, 8], [12, 20]), &[0u8; 20]));
    assert!(e.contains("belong to no tensor"), "{e}");
    let e = err(&file(&two([0, 8], [8, 16]), &[0u8; 12]));
    assert!(
        e.contains("\"b\" ends at byte 16") && e.contains("truncated"),
        "{e}"
    );
    let e = err(&file(&two([0, 8], [8, 16]), &[0u8; 20]));
    assert!(
        e.contains("cover 16 bytes") && e.contains("holds 20"),
        "{e}"
    );
    let e = err(&file(
        r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551615,7]}}"#,
        &[0u8; 8],
    ));
    assert!(e.contains("\"a\"") && e.contains("needs 8"), "{e}");
}

#[test]
fn unsupported_and_unknown_dtypes_name_the_tensor() {
    let e = err(&file(
        r#"{"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#,
        &[0u8; 8],
    ));
    assert!(
        e.contains("\"ids\" has dtype I64") && e.contains("F32, F16 and BF16"),
        "{e}"
    );
    let e = err(&file(
        r#"{"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}"#,
        &[0u8; 1],
    ));
    assert!(e.contains("\"w\" has unknown dtype \"Q4\""), "{e}");
}

#[test]
fn shape_size_mismatch_and_overflow_are_rejected() {
    let e = err(&file(
        r#"{"w":{"dtype":"F16","shape":[3,2],"data_offsets":[0,8]}}"#,
        &[0u8; 8],
    ));
    assert!(
        e.contains("\"w\"") && e.contains("hold 8 bytes") && e.contains("needs 12"),
        "{e}"
    );
    let e = err(&file(
        r#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#,
        &[0u8; 8],
    ));
    assert!(e.contains("overflows"), "{e}");
}

#[test]
fn malformed_headers_are_rejected() {
    for (h, want) in [
        ("", "not a JSON object"),
        ("[1,2]", "not a JSON object"),
        ("{\"w\":{\"dtype\":\"F32\"}}", "\"w\""),
        (
            "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}",
            "\"w\"",
        ),
        ("{\"__metadata__\":{\"a\":1}}", "__metadata__"),
    ] {
        let e = err(&file(h, &[]));
        assert!(e.contains(want), "{h}: {e}");
    }
    let mut bad_utf8 = file("{\"\u{e9}\":1}", &[]);
    bad_utf8[9] = 0xff;
    assert!(err(&bad_utf8).contains("UTF-8"));
    // An empty model is valid.
    assert!(SafetensorsFile::open(file("{}", &[]).as_slice())
        .unwrap()
        .tensors
        .is_empty());
}
