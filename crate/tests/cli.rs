//! The `webquant` command line as a user runs it: outputs are whole or
//! absent, inputs untouched, errors name the problem.

use std::path::{Path, PathBuf};
use std::process::Command;

use webquant::io::gguf::{write_gguf, GgufFile, TensorPlan, Value};
use webquant::io::source::FileSource;
use webquant::quant::GgmlType;

const BUNDLED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../web/models/stories260K.gguf"
);

fn webquant(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_webquant"))
        .args(args)
        .output()
        .expect("run webquant");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("webquant-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn quantize_writes_a_model_with_the_preset_and_leaves_the_input_alone() {
    let dir = temp_dir("ok");
    let before = std::fs::read(BUNDLED).unwrap();
    let out = dir.join("stories260K-Q4_K_M.gguf");
    let (ok, stdout, stderr) = webquant(&["quantize", BUNDLED, s(&out), "--type", "Q4_K_M"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("47 tensors"), "{stdout}");
    assert_eq!(std::fs::read(BUNDLED).unwrap(), before);
    let g = GgufFile::open(FileSource::open(&out).unwrap()).unwrap();
    assert_eq!(g.get_u64("general.file_type"), Some(15));
    // nothing but the output is left in the directory (no partial file)
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn threads_change_nothing_in_the_output() {
    let dir = temp_dir("threads");
    let quantize = |n: &str| {
        let out = dir.join(format!("t{n}.gguf"));
        let args = [
            "quantize",
            BUNDLED,
            s(&out),
            "--type",
            "Q4_K_M",
            "--threads",
            n,
        ];
        (webquant(&args), out)
    };
    let mut files = Vec::new();
    for n in ["1", "3"] {
        let ((ok, _, stderr), out) = quantize(n);
        assert!(ok, "{stderr}");
        files.push(std::fs::read(&out).unwrap());
    }
    assert!(files[0] == files[1]);
    let ((ok, _, e), out) = quantize("0");
    assert!(!ok && e.contains("--threads 0"), "{e}");
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_quantization_leaves_no_output() {
    let dir = temp_dir("nan");
    // a model whose second tensor holds a NaN: the first is written before it fails
    let input = dir.join("bad.gguf");
    let md = [
        (
            "general.architecture".to_string(),
            Value::String("llama".into()),
        ),
        ("llama.block_count".to_string(), Value::U32(1)),
    ];
    let plans = [
        TensorPlan {
            name: "blk.0.ffn_up.weight".into(),
            dims: vec![256, 4],
            ty: GgmlType::F32,
        },
        TensorPlan {
            name: "blk.0.ffn_down.weight".into(),
            dims: vec![256, 4],
            ty: GgmlType::F32,
        },
    ];
    let good: Vec<u8> = (0..1024)
        .flat_map(|i| (i as f32 * 0.01).sin().to_le_bytes())
        .collect();
    let mut bad = good.clone();
    bad[40..44].copy_from_slice(&f32::NAN.to_le_bytes());
    let f = std::fs::File::create(&input).unwrap();
    write_gguf(f, &md, &plans, |i| {
        Ok(if i == 0 { good.clone() } else { bad.clone() })
    })
    .unwrap();
    let out = dir.join("out.gguf");
    let (ok, _, stderr) = webquant(&["quantize", s(&input), s(&out), "--type", "q8_0"]);
    assert!(!ok);
    assert!(stderr.contains("blk.0.ffn_down.weight"), "{stderr}");
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "a partial file was left"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_arguments_say_what_is_wrong() {
    let dir = temp_dir("args");
    let out = dir.join("o.gguf");
    let (ok, _, e) = webquant(&["quantize", BUNDLED, s(&out), "--type", "q9_9"]);
    assert!(!ok && e.contains("q9_9"), "{e}");
    let (ok, _, e) = webquant(&["quantize", BUNDLED, BUNDLED, "--type", "q8_0"]);
    assert!(!ok && e.contains("is the input file"), "{e}");
    let (ok, _, e) = webquant(&["quantize", BUNDLED, s(&out)]);
    assert!(!ok && e.contains("--type"), "{e}");
    let (ok, _, e) = webquant(&["convert", BUNDLED, s(&out), "--type", "q4_0"]);
    assert!(!ok && e.contains("quantize"), "{e}");
    let missing = dir.join("missing.gguf");
    let (ok, _, e) = webquant(&["quantize", s(&missing), s(&out), "--type", "q8_0"]);
    assert!(!ok && !e.is_empty());
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

const CALIB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/src/model/testdata/calib-shakespeare.txt"
);

#[test]
fn imatrix_then_gptq_quantize() {
    let dir = temp_dir("gptq");
    let imat = dir.join("imatrix.gguf");
    let (ok, stdout, stderr) = webquant(&[
        "imatrix",
        BUNDLED,
        "--text",
        CALIB,
        "-o",
        s(&imat),
        "--ctx",
        "128",
        "--chunks",
        "4",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("35 entries from 4 chunks of 128 tokens"),
        "{stdout}"
    );
    let m = webquant::io::imatrix::read(FileSource::open(&imat).unwrap()).unwrap();
    assert_eq!(m["blk.1.ffn_down.weight"].len(), 172);

    let out = dir.join("q4_0.gguf");
    let (ok, stdout, stderr) = webquant(&[
        "quantize",
        BUNDLED,
        s(&out),
        "--type",
        "Q4_0",
        "--imatrix",
        s(&imat),
        "--gptq",
        "--calib",
        CALIB,
        "--ctx",
        "64",
        "--chunks",
        "4",
        "--group",
        "64",
        "--act-order",
    ]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("GPTQ rounded 30 matrices"), "{stderr}");
    assert!(stdout.contains("47 tensors"), "{stdout}");
    let g = GgufFile::open(FileSource::open(&out).unwrap()).unwrap();
    assert_eq!(g.tensor("blk.0.attn_q.weight").unwrap().ty, GgmlType::Q4_0);
    // nothing but the two outputs is left (no partial files)
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);

    let bad = |args: &[&str], want: &str| {
        let (ok, _, stderr) = webquant(args);
        assert!(!ok && stderr.contains(want), "{args:?}: {stderr}");
    };
    let o = dir.join("x.gguf");
    bad(
        &["quantize", BUNDLED, s(&o), "--type", "Q4_0", "--gptq"],
        "--calib FILE",
    );
    bad(
        &[
            "quantize",
            BUNDLED,
            s(&o),
            "--type",
            "Q4_0",
            "--calib",
            CALIB,
        ],
        "goes with --gptq",
    );
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "\n").unwrap();
    bad(
        &[
            "quantize",
            BUNDLED,
            s(&o),
            "--type",
            "Q4_0",
            "--gptq",
            "--calib",
            s(&empty),
        ],
        "no calibration text",
    );
    bad(
        &[
            "quantize",
            BUNDLED,
            s(&o),
            "--type",
            "f16",
            "--pure",
            "--gptq",
            "--calib",
            CALIB,
        ],
        "GPTQ rounds to",
    );
    bad(
        &[
            "quantize",
            BUNDLED,
            s(&o),
            "--type",
            "Q4_0",
            "--gptq",
            "--calib",
            CALIB,
            "--group",
            "48",
        ],
        "group 48",
    );
    bad(&["imatrix", BUNDLED, "--text", CALIB], "-o FILE");
    bad(&["imatrix", BUNDLED, "-o", s(&o)], "--text FILE");
    assert!(!o.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
