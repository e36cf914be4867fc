//! Model files: GGUF (read and write), llama2.c checkpoints, safetensors and
//! Hugging Face Llama models, and the byte sources they are read from.

pub mod gguf;
pub mod hf;
pub mod imatrix;
pub mod llama2c;
pub mod safetensors;
pub mod source;

/// File kinds webquant recognises by their first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Gguf,
    /// A safetensors file (needs the first 9 bytes to be recognised).
    Safetensors,
    /// Anything else that is at least a llama2.c header long; confirmed by parsing.
    Llama2c,
}

/// Guess a model file's kind from its first bytes.
pub fn sniff(head: &[u8]) -> FileKind {
    if head.starts_with(&gguf::MAGIC) {
        FileKind::Gguf
    } else if safetensors::looks_like_safetensors(head) {
        FileKind::Safetensors
    } else {
        FileKind::Llama2c
    }
}
