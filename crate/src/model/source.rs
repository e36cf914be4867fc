//! A model read one tensor at a time, whatever file it came from: a GGUF
//! file, or an import (a llama2.c checkpoint, a Hugging Face safetensors
//! model) seen as the GGUF it converts to. Whole-model quantization and conversion read through this, so they
//! never hold more than one tensor.

use crate::error::{Error, Result};
use crate::io::gguf::{GgufFile, Value};
use crate::io::hf::HfModel;
use crate::io::llama2c::{Llama2cModel, Token};
use crate::io::source::ByteSource;
use crate::quant::{blocks, GgmlType};

/// One tensor as a source lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceTensor {
    /// GGUF name (`blk.0.attn_q.weight`).
    pub name: String,
    /// ggml order: `dims[0]` is the row length.
    pub dims: Vec<u64>,
    /// The type its bytes are stored in.
    pub ty: GgmlType,
}

impl SourceTensor {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
    pub fn row_len(&self) -> u64 {
        self.dims.first().copied().unwrap_or(1)
    }
    /// Bytes in its stored type (sources check the sizes when they open).
    pub fn n_bytes(&self) -> u64 {
        self.n_elements() / self.ty.block_size() as u64 * self.ty.type_size() as u64
    }
}

/// A model whose tensors are read on demand.
pub trait ModelSource {
    /// GGUF metadata, in the order it is written.
    fn metadata(&self) -> Vec<(String, Value)>;
    /// Tensors in file order.
    fn tensors(&self) -> Vec<SourceTensor>;
    /// Tensor `i`'s bytes in its stored type.
    fn tensor_bytes(&self, i: usize) -> Result<Vec<u8>>;
    /// Tensor `i`'s values.
    fn tensor_f32(&self, i: usize) -> Result<Vec<f32>>;
    /// Whether a quantized copy writes its tensors in llama-quantize's order
    /// (true for a GGUF, llama-quantize's input) rather than in this
    /// source's (an import's order is its converter's).
    fn llama_quantize_order(&self) -> bool {
        false
    }
}

// A borrowed, shared or boxed source is a source: the CLI passes
// `&dyn ModelSource`, the browser shares one open file (`Rc`) between the
// page's model and a job, and holds an import of either kind as a `Box`.
macro_rules! forward_model_source {
    ($($ptr:ty),*) => {$(
        impl<T: ModelSource + ?Sized> ModelSource for $ptr {
            fn metadata(&self) -> Vec<(String, Value)> {
                (**self).metadata()
            }
            fn tensors(&self) -> Vec<SourceTensor> {
                (**self).tensors()
            }
            fn tensor_bytes(&self, i: usize) -> Result<Vec<u8>> {
                (**self).tensor_bytes(i)
            }
            fn tensor_f32(&self, i: usize) -> Result<Vec<f32>> {
                (**self).tensor_f32(i)
            }
            fn llama_quantize_order(&self) -> bool {
                (**self).llama_quantize_order()
            }
        }
    )*};
}
forward_model_source!(&T, std::rc::Rc<T>, Box<T>);

fn no_tensor(i: usize) -> Error {
    Error::invalid(format!("no tensor #{i}"))
}

impl<S: ByteSource> ModelSource for GgufFile<S> {
    fn metadata(&self) -> Vec<(String, Value)> {
        self.metadata_in_order()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn tensors(&self) -> Vec<SourceTensor> {
        self.tensors
            .iter()
            .map(|t| SourceTensor {
                name: t.name.clone(),
                dims: t.dims.clone(),
                ty: t.ty,
            })
            .collect()
    }

    fn tensor_bytes(&self, i: usize) -> Result<Vec<u8>> {
        let t = self.tensors.get(i).ok_or_else(|| no_tensor(i))?;
        GgufFile::tensor_bytes(self, t)
    }

    fn tensor_f32(&self, i: usize) -> Result<Vec<f32>> {
        let t = self.tensors.get(i).ok_or_else(|| no_tensor(i))?;
        let row_len = usize::try_from(t.row_len())
            .map_err(|_| Error::invalid(format!("tensor {}: row too long", t.name)))?;
        blocks::dequantize(t.ty, &GgufFile::tensor_bytes(self, t)?, row_len)
    }
    fn llama_quantize_order(&self) -> bool {
        true
    }
}

/// A llama2.c checkpoint and its tokenizer, as the F32 GGUF they convert to.
pub struct Llama2cImport<S: ByteSource> {
    pub model: Llama2cModel<S>,
    metadata: Vec<(String, Value)>,
}

impl<S: ByteSource> Llama2cImport<S> {
    /// `name` becomes `general.name`; `vocab` must have the checkpoint's vocab_size tokens.
    pub fn new(model: Llama2cModel<S>, name: &str, vocab: &[Token]) -> Result<Self> {
        if vocab.len() != model.config.vocab_size {
            return Err(Error::format(
                "llama2.c tokenizer",
                format!(
                    "has {} tokens but the checkpoint's vocab_size is {}",
                    vocab.len(),
                    model.config.vocab_size
                ),
            ));
        }
        // general.file_type 0 (all F32): the quantizer replaces it.
        let metadata = model.gguf_metadata(name, vocab, 0);
        Ok(Llama2cImport { model, metadata })
    }
}

impl<S: ByteSource> ModelSource for Llama2cImport<S> {
    fn metadata(&self) -> Vec<(String, Value)> {
        self.metadata.clone()
    }

    fn tensors(&self) -> Vec<SourceTensor> {
        self.model
            .tensor_names()
            .map(|(name, dims)| SourceTensor {
                name: name.to_string(),
                dims: dims.to_vec(),
                ty: GgmlType::F32,
            })
            .collect()
    }

    fn tensor_bytes(&self, i: usize) -> Result<Vec<u8>> {
        Ok(self
            .model
            .tensor_f32(i)?
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect())
    }

    fn tensor_f32(&self, i: usize) -> Result<Vec<f32>> {
        self.model.tensor_f32(i)
    }
}

/// A Hugging Face Llama model (safetensors + JSON files) as the GGUF that
/// llama.cpp's convert_hf_to_gguf.py makes of it: weights in their source
/// type (F32, F16 or BF16), Q/K rows already permuted, and 1-D tensors and
/// norms in F32 as the converter always stores them (so that quantizing
/// this equals converting with llama.cpp, then running llama-quantize).
pub struct HfImport<S: ByteSource> {
    pub model: HfModel<S>,
    metadata: Vec<(String, Value)>,
}

impl<S: ByteSource> HfImport<S> {
    /// `name` becomes `general.name`. Fails if the tokenizer's
    /// pre-tokenizer is unknown and `model.tokenizer_pre` was not set.
    pub fn new(model: HfModel<S>, name: &str) -> Result<Self> {
        // general.file_type 0 (all F32): the quantizer replaces it.
        let metadata = model.gguf_metadata(name, GgmlType::F32)?;
        Ok(HfImport { model, metadata })
    }
}

impl<S: ByteSource> ModelSource for HfImport<S> {
    fn metadata(&self) -> Vec<(String, Value)> {
        self.metadata.clone()
    }

    fn tensors(&self) -> Vec<SourceTensor> {
        self.model
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| SourceTensor {
                name: t.name.clone(),
                dims: t.dims.clone(),
                ty: self.model.output_type(i, t.src_ty),
            })
            .collect()
    }

    fn tensor_bytes(&self, i: usize) -> Result<Vec<u8>> {
        let t = self.model.tensors.get(i).ok_or_else(|| no_tensor(i))?;
        match self.model.output_type(i, t.src_ty) {
            ty if ty == t.src_ty => self.model.tensor_bytes(i),
            ty => crate::io::llama2c::encode_float(ty, &self.model.tensor_f32(i)?),
        }
    }

    fn tensor_f32(&self, i: usize) -> Result<Vec<f32>> {
        self.model.tensor_f32(i)
    }
}

#[cfg(test)]
#[path = "source_tests.rs"]
mod tests;
