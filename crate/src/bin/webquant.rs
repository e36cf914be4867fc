//! `webquant`: the native command line for the same jobs the web app does.
//!
//!   webquant inspect FILE
//!   webquant convert INPUT OUTPUT --type f32|f16|bf16 [--tokenizer TOK] [--name NAME]
//!   webquant gpu

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use webquant::io::gguf::GgufFile;
use webquant::io::llama2c::{self, Llama2cModel};
use webquant::io::source::{ByteSource, FileSource};
use webquant::io::{sniff, FileKind};
use webquant::model::ModelInfo;
use webquant::quant::GgmlType;
use webquant::{Error, Result};

const USAGE: &str = "usage:
  webquant inspect FILE
  webquant convert INPUT OUTPUT --type f32|f16|bf16 [--tokenizer TOKENIZER.bin] [--name NAME]
  webquant gpu

INPUT may be a GGUF file or a llama2.c checkpoint (with --tokenizer).";

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
            if let Some(name) = a.strip_prefix("--") {
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
        "gpu" => {
            a.expect(0, &[])?;
            let info = pollster::block_on(webquant::gpu::probe());
            match info.reason {
                Some(r) => println!("{r}"),
                None => println!(
                    "{} ({}), shader-f16 {}, subgroups {}, max storage binding {} MiB",
                    info.name,
                    info.backend,
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

fn convert(
    input: &Path,
    output: &Path,
    ty: GgmlType,
    tokenizer: Option<&Path>,
    name: Option<&str>,
) -> Result<()> {
    refuse_same_file(input, output)?;
    let src = FileSource::open(input)?;
    let mut head = [0u8; 4];
    src.read_at(0, &mut head).ok();
    match sniff(&head) {
        FileKind::Llama2c => {
            let tok = tokenizer.ok_or_else(|| {
                Error::invalid("a llama2.c checkpoint needs --tokenizer TOKENIZER.bin")
            })?;
            let model = Llama2cModel::open(src)?;
            let vocab = llama2c::read_tokenizer(&FileSource::open(tok)?, model.config.vocab_size)?;
            let stem = input.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
            write_atomically(output, |w| model.write_gguf(w, name.unwrap_or(stem), &vocab, ty))
        }
        FileKind::Gguf => Err(Error::invalid(
            "converting GGUF to GGUF is done by `webquant quantize` (coming with whole-model quantization)",
        )),
    }
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
