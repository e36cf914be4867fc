//! Model files: GGUF (read and write), llama2.c checkpoints, and the byte
//! sources they are read from.

pub mod gguf;
pub mod imatrix;
pub mod llama2c;
pub mod source;

/// File kinds webquant recognises by their first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Gguf,
    /// Anything else that is at least a llama2.c header long; confirmed by parsing.
    Llama2c,
}

/// Guess a model file's kind from its first bytes.
pub fn sniff(head: &[u8]) -> FileKind {
    if head.starts_with(&gguf::MAGIC) {
        FileKind::Gguf
    } else {
        FileKind::Llama2c
    }
}
