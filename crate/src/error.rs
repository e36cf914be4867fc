//! One error type for the whole crate. Every message names what was wrong
//! (the type, the block size, the offending index, the file offset) so that a
//! user who sees it in the browser knows what to fix.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// A type name or id that webquant does not know.
    #[error("unknown tensor type {0:?}")]
    UnknownType(String),

    /// A known ggml type that this operation cannot handle (e.g. quantizing to Q8_K).
    #[error("{ty}: {what} is not supported for this type")]
    Unsupported {
        ty: &'static str,
        what: &'static str,
    },

    /// Input of the wrong length for a block format.
    #[error("{ty} (block size {block_size}): {detail}")]
    BadLength {
        ty: &'static str,
        block_size: usize,
        detail: String,
    },

    /// NaN or infinity where a finite value is required.
    #[error("{ty}: non-finite value {value} at index {index}")]
    NonFinite {
        ty: &'static str,
        index: usize,
        value: f32,
    },

    /// Invalid argument (bits out of range, empty tensor, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A file that does not parse: the message says where and why.
    #[error("{format} file: {detail}")]
    Format {
        format: &'static str,
        detail: String,
    },

    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// A model whose architecture the runner does not implement.
    #[error("architecture {0:?} is not supported: webquant runs \"llama\" models")]
    UnsupportedArchitecture(String),

    /// A model file without what running it needs (tokenizer, tensor, key).
    #[error("the model has no {0}")]
    Missing(String),

    /// More tokens than the context window holds.
    #[error("{needed} tokens do not fit in the context of {context} tokens")]
    ContextOverflow { needed: usize, context: usize },

    /// An allocation that this machine (or wasm's 4 GiB) cannot make.
    #[error("{what} needs {bytes} bytes, more than this machine's memory allows")]
    TooLarge { what: String, bytes: u64 },

    /// The GPU is missing or failed; the message says what happened.
    #[error("GPU: {0}")]
    Gpu(String),

    /// Work stopped because the caller asked it to.
    #[error("cancelled")]
    Cancelled,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn format(format: &'static str, detail: impl Into<String>) -> Self {
        Error::Format {
            format,
            detail: detail.into(),
        }
    }
    pub fn invalid(detail: impl Into<String>) -> Self {
        Error::InvalidArgument(detail.into())
    }
}

/// Error unless `bytes` can be addressed here (wasm32 has 4 GiB at most).
pub(crate) fn check_fits(what: &str, bytes: u64) -> Result<()> {
    // Leave room for the runtime and JS heap on 32-bit targets.
    let limit: u64 = if usize::BITS == 32 { 3 << 30 } else { u64::MAX };
    if bytes > limit || usize::try_from(bytes).is_err() {
        return Err(Error::TooLarge {
            what: what.to_string(),
            bytes,
        });
    }
    Ok(())
}
