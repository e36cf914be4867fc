//! `webquant`: the native command line for the same jobs the web app does.
//!
//!   webquant inspect FILE
//!   webquant convert INPUT OUTPUT --type f32|f16|bf16 [--tokenizer TOK] [--name NAME]
//!   webquant quantize INPUT OUTPUT --type TYPE [--pure] [--imatrix FILE] [--tokenizer TOK] [--threads N]
//!                     [--gptq --calib FILE [--ctx N] [--chunks N] [--damp F] [--group N] [--act-order]]
//!   webquant imatrix MODEL --text FILE -o FILE [--ctx N] [--chunks N]
//!   webquant run MODEL [--prompt TEXT] [-n N] [--temp T] [--top-k K] [--top-p P] [--seed S] [--chat] [--device D]
//!   webquant eval MODEL --text FILE [--ctx N] [--ref REFERENCE_MODEL] [--chunks N] [--device D]
//!   webquant bench MODEL [-p N] [-n N] [-r R] [--device D]
//!   webquant gpu [--bench] [--rows R] [--cols C] [--tokens T]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use webquant::io::gguf::GgufFile;
use webquant::io::hf::{self, HfModel};
use webquant::io::imatrix;
use webquant::io::llama2c::{self, Llama2cModel};
use webquant::io::source::{ByteSource, FileSource};
use webquant::io::{sniff, FileKind};
use webquant::model::calib::{self, Calibration, GptqJob, ImatrixJob};
use webquant::model::quantize::{QuantizeJob, Target};
use webquant::model::source::{HfImport, Llama2cImport, ModelSource};
use webquant::model::ModelInfo;
use webquant::quant::preset::{self, Preset};
use webquant::quant::GgmlType;
use webquant::{Error, Result};

const USAGE: &str = "usage:
  webquant inspect FILE
  webquant convert INPUT OUTPUT --type f32|f16|bf16 [--tokenizer TOKENIZER.bin] [--name NAME]
  webquant quantize INPUT OUTPUT --type TYPE [--pure] [--imatrix FILE] [--tokenizer TOKENIZER.bin] [--name NAME]
                    [--threads N (default: every core)]
                    [--gptq --calib FILE [--ctx N] [--chunks N] [--damp 0.01] [--group N|-1] [--act-order] [--block 128]]
  webquant imatrix MODEL --text FILE -o FILE [--ctx N] [--chunks N] [--threads N]
  webquant run MODEL [--prompt TEXT] [-n N] [--temp T] [--top-k K] [--top-p P] [--seed S] [--ctx N] [--chat] [--device auto|cpu|gpu] [--threads N] [--cpu native|avx2]
  webquant eval MODEL --text FILE [--ctx N] [--ref REFERENCE_MODEL] [--chunks N] [--device cpu|gpu|auto] [--threads N] [--cpu native|avx2]
  webquant bench MODEL [-p 128] [-n 64] [-r 3] [--device cpu|gpu|auto] [--threads N] [--cpu native|avx2]
  webquant gpu [--bench] [--rows 2048] [--cols 2048] [--tokens 32]

INPUT may be a GGUF file, a llama2.c checkpoint (with --tokenizer), or a
Hugging Face Llama model's model.safetensors (or model.safetensors.index.json
for a sharded one), read with config.json, tokenizer.json and, if present,
tokenizer_config.json from the same folder; --name sets general.name (default:
the folder's name).
TYPE is a llama.cpp preset (Q2_K, Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, Q5_K_S,
Q5_K_M, Q6_K, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) or a ggml type (q4_K, iq4_nl, ...);
--pure gives every quantizable tensor that one type, without the preset's rules.
The output is written whole or not at all; the input is never modified.
--gptq (GGUF input): the block projections whose type is q4_0, q4_1, q5_0,
q5_1, q8_0, q4_K or q5_K are rounded by GPTQ, calibrated on --calib text in
chunks of --ctx tokens (default 512, or the model's context if shorter; all
chunks unless --chunks);
--damp is the dampening (fraction of the mean Hessian diagonal), --group the
columns whose block scales are chosen together (a multiple of the block size;
-1: all from the original weights), --act-order rounds columns by decreasing
activation energy. Other tensors are quantized as without --gptq.
imatrix: llama.cpp's importance matrix (GGUF, as llama-imatrix writes it) of
MODEL over --text, chunked as llama-imatrix.
run: generate -n tokens (default 128) after the prompt (temperature 0 is greedy;
--chat wraps the prompt as a ChatML user turn); timings go to stderr.
eval: perplexity over FILE in chunks of --ctx tokens (default 512) as
llama-perplexity; with --ref, KL divergence from the reference model too.
bench: tokens per second as llama-bench: a prompt of -p tokens in one batch, then
-n tokens one at a time; the mean of -r runs (llama-bench's avg_ts).
With --device gpu it runs on the GPU and then, as the reference, on the CPU.
--device: where the model runs; run's default is auto (a hardware GPU when one
can run the model, else the CPU, saying which and why on stderr; a software
adapter such as lavapipe only when asked for with gpu); eval and bench default
to cpu, whose numbers compare with llama.cpp's CPU backend.
gpu: the adapter and what it offers; --bench times the matrix-vector kernel of
each type on a random ROWS x COLS matrix (GB/s of weight bytes) against a buffer
copy on the same GPU and the CPU's product on the same matrix, then the
matrix-matrix kernel on a batch of --tokens inputs (GFLOP/s, and its speed-up
over as many matrix-vector products).
--threads N: the CPU threads quantize, imatrix, run, eval and bench split their
work over (default: every core); outputs and logits are the same for any N.
--cpu avx2: use no x86 extension past AVX2, FMA and F16C (no AVX-VNNI, no
AVX-512), as on CPUs without them; logits are the same either way.";

/// Options that take no value.
const FLAGS: &[&str] = &["pure", "chat", "bench", "gptq", "act-order"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("webquant: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Positional arguments and `--flag value` options.
struct Args {
    positional: Vec<String>,
    options: Vec<(String, String)>,
}

impl Args {
    fn parse(args: &[String]) -> Result<Self> {
        let mut positional = Vec::new();
        let mut options = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            // `-n 64` is `--n 64`.
            let short = (a.len() == 2 && a.as_bytes()[1].is_ascii_alphabetic())
                .then(|| a.strip_prefix('-'))
                .flatten();
            if let Some(name) = a.strip_prefix("--").or(short) {
                if FLAGS.contains(&name) {
                    options.push((name.to_string(), String::new()));
                    continue;
                }
                let value = it
                    .next()
                    .ok_or_else(|| Error::invalid(format!("--{name} needs a value")))?;
                options.push((name.to_string(), value.clone()));
            } else {
                positional.push(a.clone());
            }
        }
        Ok(Args {
            positional,
            options,
        })
    }

    fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, name: &str) -> bool {
        self.options.iter().any(|(k, _)| k == name)
    }

    fn expect(&self, n: usize, allowed: &[&str]) -> Result<()> {
        if self.positional.len() != n {
            return Err(Error::invalid(format!(
                "expected {n} file argument(s), got {}\n{USAGE}",
                self.positional.len()
            )));
        }
        if let Some((k, _)) = self
            .options
            .iter()
            .find(|(k, _)| !allowed.contains(&k.as_str()))
        {
            return Err(Error::invalid(format!("unknown option --{k}\n{USAGE}")));
        }
        Ok(())
    }
}

fn run(args: &[String]) -> Result<()> {
    let Some((cmd, rest)) = args.split_first() else {
        return Err(Error::invalid(USAGE));
    };
    let a = Args::parse(rest)?;
    match cmd.as_str() {
        "inspect" => {
            a.expect(1, &[])?;
            inspect(Path::new(&a.positional[0]))
        }
        "convert" => {
            a.expect(2, &["type", "tokenizer", "name"])?;
            let ty = GgmlType::from_name(a.option("type").unwrap_or("f32"))?;
            convert(
                Path::new(&a.positional[0]),
                Path::new(&a.positional[1]),
                ty,
                a.option("tokenizer").map(Path::new),
                a.option("name"),
            )
        }
        "quantize" => {
            a.expect(
                2,
                &[
                    "type",
                    "pure",
                    "imatrix",
                    "tokenizer",
                    "name",
                    "gptq",
                    "calib",
                    "ctx",
                    "chunks",
                    "damp",
                    "group",
                    "act-order",
                    "block",
                    "threads",
                ],
            )?;
            let ty = a
                .option("type")
                .ok_or_else(|| Error::invalid(format!("quantize needs --type TYPE\n{USAGE}")))?;
            let gptq_only = [
                "calib",
                "ctx",
                "chunks",
                "damp",
                "group",
                "act-order",
                "block",
            ];
            if !a.flag("gptq") {
                if let Some(o) = gptq_only.iter().find(|o| a.option(o).is_some()) {
                    return Err(Error::invalid(format!("--{o} goes with --gptq")));
                }
            } else {
                return quantize_gptq(&a, Preset::from_type_arg(ty, a.flag("pure"))?);
            }
            quantize(
                Path::new(&a.positional[0]),
                Path::new(&a.positional[1]),
                Preset::from_type_arg(ty, a.flag("pure"))?,
                a.option("imatrix").map(Path::new),
                a.option("tokenizer").map(Path::new),
                a.option("name"),
                threads_arg(&a)?,
            )
        }
        "run" => {
            a.expect(
                1,
                &[
                    "prompt", "n", "temp", "top-k", "top-p", "seed", "ctx", "chat", "device",
                    "threads", "cpu",
                ],
            )?;
            cpu_arg(&a)?;
            run_model(&a)
        }
        "imatrix" => {
            a.expect(1, &["text", "o", "ctx", "chunks", "threads"])?;
            compute_imatrix(&a)
        }
        "eval" => {
            a.expect(
                1,
                &["text", "ctx", "ref", "chunks", "device", "threads", "cpu"],
            )?;
            cpu_arg(&a)?;
            eval(&a)
        }
        "bench" => {
            a.expect(1, &["p", "n", "r", "device", "threads", "cpu"])?;
            cpu_arg(&a)?;
            bench(&a)
        }
        "gpu" => {
            a.expect(0, &["bench", "rows", "cols", "tokens"])?;
            if a.flag("bench") {
                return gpu_bench(&a);
            }
            let info = pollster::block_on(webquant::gpu::probe());
            match info.reason {
                Some(r) => println!("{r}"),
                None => println!(
                    "{} ({}{}), shader-f16 {}, subgroups {}, max storage binding {} MiB",
                    info.name,
                    info.backend,
                    if info.software { ", software" } else { "" },
                    info.shader_f16,
                    info.subgroups,
                    info.max_storage_buffer_binding_size >> 20
                ),
            }
            Ok(())
        }
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(Error::invalid(format!(
            "unknown command {other:?}\n{USAGE}"
        ))),
    }
}

/// `writeln!` into a String (which cannot fail).
macro_rules! outln {
    ($o:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($o, $($arg)*);
    }};
}

/// Print to stdout; a closed pipe (`webquant inspect x | head`) is not an error.
fn emit(text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

fn inspect(path: &Path) -> Result<()> {
    let mut o = String::new();
    let src = FileSource::open(path)?;
    let mut head = [0u8; 4];
    src.read_at(0, &mut head).ok();
    if sniff(&head) != FileKind::Gguf {
        let m = Llama2cModel::open(src)?;
        outln!(o, "llama2.c checkpoint: {:?}", m.config);
        return emit(&o);
    }
    let g = GgufFile::open(src)?;
    let info = ModelInfo::from_gguf(&g);
    outln!(o, "name:         {}", info.name);
    outln!(o, "architecture: {}", info.architecture);
    outln!(o, "GGUF version: {}", info.gguf_version);
    outln!(o, "file size:    {} bytes", info.file_bytes);
    outln!(o, "parameters:   {}", info.parameter_count);
    outln!(o, "tensors:      {}", info.tensor_count);
    let types: Vec<String> = info
        .types
        .iter()
        .map(|(t, n)| format!("{t}: {n}"))
        .collect();
    outln!(o, "types:        {}", types.join(", "));
    outln!(o, "\nmetadata:");
    for (k, v) in g.metadata_in_order() {
        outln!(o, "  {k} = {}", v.display());
    }
    outln!(o, "\ntensors:");
    for t in &info.tensors {
        outln!(
            o,
            "  {:<32} {:<8} {:?} {} bytes",
            t.name,
            t.ty,
            t.dims,
            t.n_bytes
        );
    }
    emit(&o)
}

/// Open INPUT as a model source: a GGUF file, a llama2.c checkpoint with
/// its tokenizer, or a Hugging Face model's safetensors with the JSON files
/// beside it.
fn open_model(
    input: &Path,
    tokenizer: Option<&Path>,
    name: Option<&str>,
) -> Result<Box<dyn ModelSource>> {
    let is_index = input
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".safetensors.index.json"));
    if is_index {
        let index = read_text(input)?;
        let dir = folder(input);
        let shards = hf::shard_files(&index)?
            .iter()
            .map(|f| FileSource::open(dir.join(f)))
            .collect::<Result<Vec<_>>>()?;
        return open_hf(shards, dir, name);
    }
    let src = FileSource::open(input)?;
    // safetensors needs 9 bytes (length + '{'); a short file reads as zeros.
    let mut head = [0u8; 16];
    let n = head.len().min(src.len() as usize);
    src.read_at(0, &mut head[..n])?;
    Ok(match sniff(&head[..n]) {
        FileKind::Gguf => Box::new(GgufFile::open(src)?),
        FileKind::Safetensors => open_hf(vec![src], folder(input), name)?,
        FileKind::Llama2c => {
            let tok = tokenizer.ok_or_else(|| {
                Error::invalid("a llama2.c checkpoint needs --tokenizer TOKENIZER.bin")
            })?;
            let model = Llama2cModel::open(src)?;
            let vocab = llama2c::read_tokenizer(&FileSource::open(tok)?, model.config.vocab_size)?;
            let stem = input
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("model");
            Box::new(Llama2cImport::new(model, name.unwrap_or(stem), &vocab)?)
        }
    })
}

/// The folder holding `path` (`.` for a bare file name).
fn folder(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))
    })
}

/// A Hugging Face model: its weights plus config.json, tokenizer.json and
/// tokenizer_config.json (optional) from `dir`.
fn open_hf(
    shards: Vec<FileSource>,
    dir: &Path,
    name: Option<&str>,
) -> Result<Box<dyn ModelSource>> {
    let config = read_text(&dir.join("config.json"))?;
    let tokenizer = read_text(&dir.join("tokenizer.json"))?;
    let tok_config_path = dir.join("tokenizer_config.json");
    let tok_config = if tok_config_path.exists() {
        Some(read_text(&tok_config_path)?)
    } else {
        None
    };
    let model = HfModel::open_sharded(shards, &config, Some(&tokenizer), tok_config.as_deref())?;
    // The converter's fallback name is the model folder's.
    let dir_name = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().and_then(|n| n.to_str()).map(str::to_string))
        .unwrap_or_else(|| "model".to_string());
    Ok(Box::new(HfImport::new(model, name.unwrap_or(&dir_name))?))
}

fn convert(
    input: &Path,
    output: &Path,
    ty: GgmlType,
    tokenizer: Option<&Path>,
    name: Option<&str>,
) -> Result<()> {
    if !matches!(ty, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16) {
        return Err(Error::invalid(format!(
            "convert writes f32, f16 or bf16; for {} use `webquant quantize`",
            ty.name()
        )));
    }
    refuse_same_file(input, output)?;
    let model = open_model(input, tokenizer, name)?;
    let preset = Preset::Pure(ty);
    let targets = Target::plan(model.as_ref(), preset, false)?;
    run_job(
        model.as_ref(),
        output,
        targets,
        preset::file_type(preset),
        Default::default(),
        Default::default(),
        default_threads(),
    )
}

fn quantize(
    input: &Path,
    output: &Path,
    preset: Preset,
    imatrix_path: Option<&Path>,
    tokenizer: Option<&Path>,
    name: Option<&str>,
    threads: usize,
) -> Result<()> {
    refuse_same_file(input, output)?;
    let model = open_model(input, tokenizer, name)?;
    let importance = match imatrix_path {
        Some(p) => imatrix::read(FileSource::open(p)?)?,
        None => Default::default(),
    };
    let targets = Target::plan(model.as_ref(), preset, imatrix_path.is_some())?;
    run_job(
        model.as_ref(),
        output,
        targets,
        preset::file_type(preset),
        importance,
        Default::default(),
        threads,
    )
}

/// Load `g` with a KV cache of one calibration chunk, `--ctx` tokens
/// (default 512, capped at the model's context), and cut `text` into
/// chunks (`--chunks` at most).
fn calibration(
    a: &Args,
    g: &GgufFile<FileSource>,
    text: &str,
) -> Result<(webquant::model::generate::Runner, Calibration)> {
    let model_ctx = webquant::model::config::Config::from_gguf(g)?.seq_len;
    let n_ctx: usize = number(a, "ctx", 512.min(model_ctx))?;
    let chunks = match a.option("chunks") {
        Some(_) => Some(number(a, "chunks", 0)?),
        None => None,
    };
    let mut runner = webquant::model::generate::Runner::load(g, n_ctx.min(model_ctx))?;
    runner.transformer.set_threads(threads_arg(a)?);
    let calib = Calibration::new(&runner.tokenizer, text, n_ctx, model_ctx, chunks)?;
    Ok((runner, calib))
}

fn compute_imatrix(a: &Args) -> Result<()> {
    let text_path = a
        .option("text")
        .ok_or_else(|| Error::invalid(format!("imatrix needs --text FILE\n{USAGE}")))?;
    let out = a
        .option("o")
        .ok_or_else(|| Error::invalid(format!("imatrix needs -o FILE\n{USAGE}")))?;
    let text = read_text(Path::new(text_path))?;
    let g = open_gguf(&a.positional[0])?;
    let (mut runner, calib) = calibration(a, &g, &text)?;
    let n_ctx = calib.n_ctx();
    let t0 = std::time::Instant::now();
    let mut job = ImatrixJob::new(calib, runner.transformer.config.n_layers, text_path);
    let n_layers = runner.transformer.config.n_layers;
    loop {
        let more = job.step(&mut runner.transformer)?;
        let (done, total) = job.progress();
        if !more || done % n_layers == 0 {
            eprintln!("[{done}/{total}] {} chunks done", done.div_ceil(n_layers));
        }
        if !more {
            break;
        }
    }
    let data = job.result();
    write_atomically(Path::new(out), |w| data.write(w))?;
    emit(&format!(
        "{} entries from {} chunks of {n_ctx} tokens in {:.1} s; wrote {out}\n",
        data.entries.len(),
        data.chunk_count,
        t0.elapsed().as_secs_f64()
    ))
}

fn quantize_gptq(a: &Args, preset: Preset) -> Result<()> {
    use webquant::quant::gptq::GptqOptions;

    let (input, output) = (Path::new(&a.positional[0]), Path::new(&a.positional[1]));
    refuse_same_file(input, output)?;
    if a.option("tokenizer").is_some() || a.option("name").is_some() {
        return Err(Error::invalid(
            "--gptq runs the model, so it needs a GGUF input; convert others first",
        ));
    }
    let calib_path = a
        .option("calib")
        .ok_or_else(|| Error::invalid("--gptq needs calibration text: --calib FILE"))?;
    let text = read_text(Path::new(calib_path))?;
    let g = open_gguf(&a.positional[0])?;
    let importance = match a.option("imatrix") {
        Some(p) => imatrix::read(FileSource::open(p)?)?,
        None => Default::default(),
    };
    let targets = Target::plan(&g, preset, a.option("imatrix").is_some())?;
    let gptq_targets = calib::gptq_targets(&g.tensors(), &targets);
    if gptq_targets.is_empty() {
        return Err(Error::invalid(format!(
            "no block projection of this plan has a type GPTQ rounds to ({})",
            webquant::quant::gptq::SUPPORTED
                .map(|t| t.name())
                .join(", ")
        )));
    }
    let group: i64 = number(a, "group", 0)?;
    let opts = GptqOptions {
        damp: number(a, "damp", 0.01)?,
        block: number(a, "block", 128)?,
        group: (group > 0).then_some(group as usize),
        act_order: a.flag("act-order"),
        static_groups: group == -1,
    };
    if group < -1 {
        return Err(Error::invalid(format!("--group {group}: give N > 0 or -1")));
    }
    let t0 = std::time::Instant::now();
    let (mut runner, calib) = calibration(a, &g, &text)?;
    let (n_chunks, n_ctx) = (calib.n_chunks(), calib.n_ctx());
    let t = &mut runner.transformer;
    let mut job = GptqJob::new(t, calib, gptq_targets, opts)?;
    eprintln!(
        "GPTQ on {n_chunks} chunks of {n_ctx} tokens from {calib_path}, {} steps",
        job.progress().1
    );
    let mut layer = 0;
    while job.step(t)? {
        if job.layer() != layer {
            layer = job.layer();
            let (done, total) = job.progress();
            eprintln!(
                "[{done}/{total}] block {} done, {:.1} s",
                layer - 1,
                t0.elapsed().as_secs_f64()
            );
        }
    }
    let replaced = job.take_results(t)?;
    drop(runner);
    eprintln!(
        "GPTQ rounded {} matrices in {:.1} s",
        replaced.len(),
        t0.elapsed().as_secs_f64()
    );
    run_job(
        &g,
        output,
        targets,
        preset::file_type(preset),
        importance,
        replaced,
        threads_arg(a)?,
    )
}

/// Run a whole-model job into `output`, printing a line per tensor and the totals.
fn run_job(
    model: &dyn ModelSource,
    output: &Path,
    targets: Vec<Target>,
    file_type: u32,
    importance: imatrix::Importance,
    replacements: HashMap<String, (GgmlType, Vec<u8>)>,
    threads: usize,
) -> Result<()> {
    let mut report = String::new();
    write_atomically(output, |w| {
        let mut job = QuantizeJob::new(model, targets, file_type, importance, w)?
            .with_replacements(replacements)?
            .with_threads(threads);
        outln!(
            report,
            "{:<28} {:>18} {:>6} -> {:<6} {:>10} {:>10} {:>9} {:>8}",
            "tensor",
            "shape",
            "from",
            "to",
            "bytes in",
            "bytes out",
            "SQNR dB",
            "cosine"
        );
        let total = job.progress().1;
        let mut done = 0;
        while let Some(r) = job.step()? {
            done += 1;
            let line = format!(
                "{:<28} {:>18} {:>6} -> {:<6} {:>10} {:>10} {:>9} {:>8.6}",
                r.name,
                format!("{:?}", r.dims),
                r.from,
                r.to,
                r.bytes_in,
                r.bytes_out,
                r.sqnr_db.map_or("exact".to_string(), |d| format!("{d:.2}")),
                r.cosine
            );
            // progress goes to stderr as it happens; the table to stdout at the end
            eprintln!("[{done}/{total}] {}", r.name);
            outln!(report, "{line}");
        }
        let t = job.totals();
        outln!(
            report,
            "\n{} tensors, {} weights: {} -> {} bytes ({:.3} -> {:.3} bits per weight)",
            t.tensors,
            t.n_elements,
            t.bytes_in,
            t.bytes_out,
            t.bits_per_weight_in,
            t.bits_per_weight_out
        );
        job.finish()?;
        Ok(())
    })?;
    outln!(report, "wrote {}", output.display());
    emit(&report)
}

/// The user's source file is never the output.
fn refuse_same_file(input: &Path, output: &Path) -> Result<()> {
    if let (Ok(a), Ok(b)) = (input.canonicalize(), output.canonicalize()) {
        if a == b {
            return Err(Error::invalid(format!(
                "output {} is the input file; choose another name",
                output.display()
            )));
        }
    }
    Ok(())
}

/// Write to a temporary file beside `output` and rename it into place only
/// when complete, so an output is whole or absent.
fn write_atomically(
    output: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<()>,
) -> Result<()> {
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = output
        .file_name()
        .ok_or_else(|| Error::invalid(format!("{} is not a file name", output.display())))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".partial-{}", std::process::id()));
    let tmp: PathBuf = dir.join(tmp_name);
    let result = (|| {
        let file = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::new(file);
        write(&mut w)?;
        let file = w.into_inner().map_err(|e| Error::Io(e.into_error()))?;
        file.sync_all()?;
        std::fs::rename(&tmp, output)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Every core this process may use.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `--threads N` (default: every core); the output is the same for any N.
/// `--cpu native` (the default: every extension the CPU has) or `--cpu
/// avx2` (nothing past AVX2, FMA and F16C, to compare with builds for such
/// CPUs).
fn cpu_arg(a: &Args) -> Result<()> {
    match a.option("cpu") {
        None | Some("native") => Ok(()),
        #[cfg(target_arch = "x86_64")]
        Some("avx2") => {
            if !webquant::cpu::has_avx2() {
                return Err(Error::invalid(
                    "--cpu avx2: this CPU has no AVX2, FMA and F16C",
                ));
            }
            webquant::cpu::limit_to_avx2();
            Ok(())
        }
        Some(v) => Err(Error::invalid(format!(
            "--cpu {v:?}: give native{}",
            if cfg!(target_arch = "x86_64") {
                " or avx2"
            } else {
                ""
            }
        ))),
    }
}

fn threads_arg(a: &Args) -> Result<usize> {
    match number(a, "threads", default_threads())? {
        0 => Err(Error::invalid("--threads 0: give 1 or more")),
        n => Ok(n),
    }
}

fn number<T: std::str::FromStr>(a: &Args, name: &str, default: T) -> Result<T> {
    match a.option(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| Error::invalid(format!("--{name}: {v:?} is not a valid number"))),
    }
}

fn open_gguf(path: &str) -> Result<GgufFile<FileSource>> {
    GgufFile::open(FileSource::open(path)?)
}

fn run_model(a: &Args) -> Result<()> {
    use std::io::Write as _;
    use std::time::Instant;
    use webquant::model::generate::Generation;
    use webquant::model::sampler::SamplerConfig;

    let n: usize = number(a, "n", 128)?;
    let prompt = a.option("prompt").unwrap_or("");
    let prompt = if a.flag("chat") {
        webquant::model::tokenizer::chatml(&[("user", prompt)], true)
    } else {
        prompt.to_string()
    };
    let sampler = SamplerConfig {
        temperature: number(a, "temp", 0.0)?,
        top_k: number(a, "top-k", 40)?,
        top_p: number(a, "top-p", 0.95)?,
        seed: number(a, "seed", 42)?,
    };
    let g = open_gguf(&a.positional[0])?;
    let t0 = Instant::now();
    let ctx: usize = number(a, "ctx", 0)?;
    // Size the KV cache to the job unless told: the prompt's tokens plus n.
    let ctx = if ctx > 0 {
        ctx
    } else {
        let tk = webquant::model::tokenizer::Tokenizer::from_gguf(&g)?;
        tk.encode(&prompt, true, true).len().max(1) + n
    };
    let mut runner = load_runner(&g, ctx, device(a, "auto")?, threads_arg(a)?)?;
    let load = t0.elapsed();
    let mut gen = Generation::new(&runner, &prompt, n, sampler)?;
    let n_prompt = gen.tokens.len();
    let mut out = std::io::stdout().lock();
    let t1 = Instant::now();
    let mut first = None;
    let mut n_gen = 0usize;
    while let Some((_, piece)) = gen.step(&mut runner)? {
        first.get_or_insert_with(|| t1.elapsed());
        n_gen += 1;
        if let Err(e) = out.write_all(piece.as_bytes()).and_then(|()| out.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            return Err(e.into());
        }
    }
    let _ = writeln!(out);
    let total = t1.elapsed();
    let first = first.unwrap_or(total);
    // The first step evaluates the prompt (and samples one token); the rest
    // are one token each.
    let gen_rate = if n_gen > 1 {
        (n_gen - 1) as f64 / (total - first).as_secs_f64()
    } else {
        0.0
    };
    eprintln!(
        "load {:.2} s; prompt {n_prompt} tokens at {:.2} tok/s; generated {n_gen} tokens at {:.2} tok/s",
        load.as_secs_f64(),
        n_prompt as f64 / first.as_secs_f64(),
        gen_rate
    );
    Ok(())
}

fn eval(a: &Args) -> Result<()> {
    use std::io::Write as _;
    use webquant::model::eval::Evaluation;

    let text_path = a
        .option("text")
        .ok_or_else(|| Error::invalid(format!("eval needs --text FILE\n{USAGE}")))?;
    let text = std::fs::read_to_string(text_path)
        .map_err(|e| Error::invalid(format!("{text_path}: {e}")))?;
    let n_ctx: usize = number(a, "ctx", 512)?;
    let mut model = load_runner(
        &open_gguf(&a.positional[0])?,
        n_ctx,
        device(a, "cpu")?,
        threads_arg(a)?,
    )?;
    let mut reference = match a.option("ref") {
        Some(p) => Some(load_runner(
            &open_gguf(p)?,
            n_ctx,
            device(a, "cpu")?,
            threads_arg(a)?,
        )?),
        None => None,
    };
    let mut ev = Evaluation::new(&model.tokenizer, &text, n_ctx, model.transformer.n_ctx())?;
    if a.option("chunks").is_some() {
        ev.limit_chunks(number(a, "chunks", 0)?);
    }
    let t0 = std::time::Instant::now();
    let mut shown = 0;
    loop {
        let more = ev.step(
            &mut model.transformer,
            reference.as_mut().map(|r| &mut r.transformer),
        )?;
        let r = ev.result();
        for (i, p) in r.chunk_ppl.iter().enumerate().skip(shown) {
            eprint!("[{}]{p:.4},", i + 1);
            let _ = std::io::stderr().flush();
        }
        shown = r.chunk_ppl.len();
        if !more {
            break;
        }
    }
    let r = ev.result();
    eprintln!(
        "\n{} chunks of {n_ctx} tokens, {} tokens scored, {:.1} s",
        r.chunks,
        r.tokens_scored,
        t0.elapsed().as_secs_f64()
    );
    let mut o = String::new();
    outln!(
        o,
        "Final estimate: PPL = {:.4} +/- {:.5}",
        r.ppl,
        r.ppl_uncertainty
    );
    if let Some(kl) = &r.kl {
        outln!(o, "PPL(base)         : {:.6}", kl.ppl_base);
        outln!(o, "PPL(Q)-PPL(base)  : {:.6}", kl.delta_ppl);
        outln!(o, "PPL(Q)/PPL(base)  : {:.6}", kl.ppl_ratio);
        outln!(
            o,
            "Mean    KLD: {:10.6} +/- {:10.6}",
            kl.mean_kld,
            kl.mean_kld_uncertainty
        );
        for (f, v) in &kl.kld_percentiles {
            let label = match *f {
                1.0 => "Maximum".to_string(),
                0.5 => "Median ".to_string(),
                0.0 => "Minimum".to_string(),
                f => format!("{:5.1}% ", 100.0 * f),
            };
            outln!(o, "{label} KLD: {v:10.6}");
        }
        outln!(o, "Same top p: {:6.3} %", 100.0 * kl.same_top);
        outln!(o, "Mean    dp: {:6.3} %", 100.0 * kl.mean_p_diff);
        outln!(o, "RMS     dp: {:6.3} %", 100.0 * kl.rms_p_diff);
    }
    emit(&o)
}

/// `--device`, or `default`.
fn device(a: &Args, default: &str) -> Result<webquant::gpu::Device> {
    a.option("device").unwrap_or(default).parse()
}

/// Load a model on `device` (on the CPU, `threads` threads), saying on
/// stderr where it runs and, when the GPU was considered but not used, why.
fn load_runner<S: ByteSource>(
    g: &GgufFile<S>,
    n_ctx: usize,
    device: webquant::gpu::Device,
    threads: usize,
) -> Result<webquant::model::generate::Runner> {
    let mut r = webquant::model::generate::Runner::load_on(g, n_ctx, device)?;
    r.transformer.set_threads(threads);
    match &r.device_note {
        Some(note) => eprintln!("device: CPU ({note})"),
        None => eprintln!("device: {}", r.transformer.device()),
    }
    Ok(r)
}

/// Tokens per second of a prompt of `n_prompt` tokens and of `n_gen` single
/// tokens, the mean of `reps` runs.
fn tokens_per_second(
    t: &mut webquant::model::forward::Transformer,
    n_prompt: usize,
    n_gen: usize,
    reps: usize,
) -> Result<(f64, f64)> {
    use std::time::Instant;
    use webquant::model::generate::bench_forward;
    let reps = reps.max(1);
    let (mut pp, mut tg) = (0f64, 0f64);
    for _ in 0..reps {
        if n_prompt > 0 {
            let t0 = Instant::now();
            bench_forward(t, n_prompt, true)?;
            pp += n_prompt as f64 / t0.elapsed().as_secs_f64() / reps as f64;
        }
        if n_gen > 0 {
            let t0 = Instant::now();
            bench_forward(t, n_gen, false)?;
            tg += n_gen as f64 / t0.elapsed().as_secs_f64() / reps as f64;
        }
    }
    Ok((pp, tg))
}

fn bench(a: &Args) -> Result<()> {
    let n_prompt: usize = number(a, "p", 128)?;
    let n_gen: usize = number(a, "n", 64)?;
    let reps: usize = number(a, "r", 3)?;
    let g = open_gguf(&a.positional[0])?;
    let n_ctx = n_prompt.max(n_gen) + 1;
    let threads = threads_arg(a)?;
    let mut runner = load_runner(&g, n_ctx, device(a, "cpu")?, threads)?;
    let (pp, tg) = tokens_per_second(&mut runner.transformer, n_prompt, n_gen, reps)?;
    let mut out = format!("pp{n_prompt} {pp:.2} tok/s\ntg{n_gen} {tg:.2} tok/s\n");
    // Goes to stderr: stdout stays the two lines scripts read.
    eprintln!("CPU extensions in use: {}", webquant::cpu::in_use());
    if runner.transformer.on_gpu() {
        // The reference, in the same run: the CPU path on the same tokens.
        drop(runner);
        let mut cpu = webquant::model::generate::Runner::load(&g, n_ctx)?;
        cpu.transformer.set_threads(threads);
        let (cpp, ctg) = tokens_per_second(&mut cpu.transformer, n_prompt, n_gen, reps)?;
        out.push_str(&format!(
            "CPU ({threads} threads): pp{n_prompt} {cpp:.2} tok/s, tg{n_gen} {ctg:.2} tok/s; \
             GPU/CPU: pp {:.2}x, tg {:.2}x\n",
            pp / cpp,
            tg / ctg
        ));
    }
    emit(&out)
}

/// Matrix-vector kernels per type on a random matrix: GB/s of weight bytes,
/// against a plain copy on the same GPU and the CPU's product; then the
/// matrix-matrix kernels on a batch of `--tokens` inputs: GFLOP/s and the
/// speed-up over as many matrix-vector products.
fn gpu_bench(a: &Args) -> Result<()> {
    use std::time::{Duration, Instant};
    use webquant::gpu::kernels::{CopyKernel, GPU_TYPES};
    use webquant::gpu::{GpuContext, GpuMatrix, GpuOptions, MatMul, MatVec};

    let rows: usize = number(a, "rows", 2048)?;
    let cols: usize = number(a, "cols", 2048)?;
    let tokens: usize = number(a, "tokens", 32)?;
    if rows == 0 || !cols.is_multiple_of(256) || tokens == 0 || tokens > rows {
        return Err(Error::invalid(
            "--cols must be a multiple of 256 (the K-quants' block), --rows > 0, \
             --tokens from 1 to --rows",
        ));
    }
    let ctx = pollster::block_on(GpuContext::new(GpuOptions::default()))?;
    // Repeat until at least this long, after one untimed run.
    let min_time = Duration::from_millis(500);
    let time = |mut f: Box<dyn FnMut(usize) -> Result<()> + '_>| -> Result<f64> {
        f(1)?;
        let mut reps = 1;
        loop {
            let t0 = Instant::now();
            f(reps)?;
            let dt = t0.elapsed();
            if dt >= min_time {
                return Ok(dt.as_secs_f64() / reps as f64);
            }
            reps *= 2;
        }
    };
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let src: Vec<f32> = (0..rows * cols)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    let x: Vec<f32> = src[..cols].to_vec();
    let xs: Vec<f32> = src[..tokens * cols].iter().rev().copied().collect();
    let copy_bytes = 64usize << 20;
    let copy = CopyKernel::new(&ctx, copy_bytes)?;
    let copy_s = time(Box::new(|n| copy.repeat(&ctx, n)))?;
    // Bytes read plus bytes written.
    let copy_gbs = 2.0 * copy_bytes as f64 / copy_s / 1e9;
    let mut out = format!(
        "{} ({}); {rows} x {cols} matrices\n\
         copy kernel, 64 MiB: {copy_gbs:.2} GB/s (read + written)\n\
         type     MiB    GPU ms   GPU GB/s  /copy   CPU ms   CPU GB/s  GPU/CPU\n",
        ctx.info.name, ctx.info.backend
    );
    let mut mm_out = format!(
        "matrix-matrix, {tokens} tokens\n\
         type   GPU ms   GFLOP/s  vs {tokens} matvecs\n"
    );
    let flop = 2.0 * (rows * cols * tokens) as f64;
    for &ty in GPU_TYPES.iter() {
        let data = match ty {
            GgmlType::F32 => bytemuck::cast_slice(&src).to_vec(),
            _ => webquant::quant::blocks::quantize(ty, &src, cols, None)?,
        };
        let m = GpuMatrix::new(&ctx, "w", ty, rows, cols, &data)?;
        let mv = MatVec::new(&ctx, &m)?;
        pollster::block_on(mv.run(&ctx, &x))?;
        let gpu_s = time(Box::new(|n| mv.repeat(&ctx, n)))?;
        let mm = MatMul::new(&ctx, &m, tokens)?;
        pollster::block_on(mm.run(&ctx, &xs))?;
        let mm_s = time(Box::new(|n| mm.repeat(&ctx, n)))?;
        mm_out.push_str(&format!(
            "{:<6} {:8.3} {:9.2} {:9.2}x\n",
            ty.name(),
            mm_s * 1e3,
            flop / mm_s / 1e9,
            tokens as f64 * gpu_s / mm_s
        ));
        let mut y = vec![0f32; rows];
        let cpu_s = time(Box::new(|n| {
            for _ in 0..n {
                webquant::quant::dot::matmul(ty, &data, rows, cols, &x, 1, &mut y)?;
            }
            Ok(())
        }))?;
        let gb = data.len() as f64 / 1e9;
        out.push_str(&format!(
            "{:<6} {:6.2} {:9.3} {:9.2} {:7.3} {:8.3} {:9.2} {:8.2}\n",
            ty.name(),
            data.len() as f64 / (1 << 20) as f64,
            gpu_s * 1e3,
            gb / gpu_s,
            gb / gpu_s / copy_gbs,
            cpu_s * 1e3,
            gb / cpu_s,
            cpu_s / gpu_s
        ));
    }
    out.push_str(&mm_out);
    emit(&out)
}
