//! A `ByteSource` over a browser `Blob` (a `File` is one): each read slices
//! the blob and reads the slice with `FileReaderSync`, so a model larger than
//! wasm memory can be opened and read piece by piece inside a Web Worker.

use crate::error::{Error, Result};
use crate::io::source::{check_range, ByteSource};

pub struct BlobSource {
    blob: web_sys::Blob,
    reader: web_sys::FileReaderSync,
    len: u64,
}

impl BlobSource {
    pub fn new(blob: web_sys::Blob) -> Result<Self> {
        let reader = web_sys::FileReaderSync::new().map_err(|_| {
            Error::invalid("reading a File needs FileReaderSync, which exists only in a Web Worker")
        })?;
        let len = blob.size() as u64;
        Ok(BlobSource { blob, reader, len })
    }
}

impl ByteSource for BlobSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range(self.len, offset, buf.len() as u64)?;
        let end = offset + buf.len() as u64;
        let piece = self
            .blob
            .slice_with_f64_and_f64(offset as f64, end as f64)
            .map_err(|e| Error::invalid(format!("Blob.slice failed: {e:?}")))?;
        let ab = self
            .reader
            .read_as_array_buffer(&piece)
            .map_err(|e| Error::invalid(format!("reading the file failed: {e:?}")))?;
        let arr = js_sys::Uint8Array::new(&ab);
        if arr.length() as usize != buf.len() {
            return Err(Error::invalid(format!(
                "short read at byte {offset}: the file changed while it was open"
            )));
        }
        arr.copy_to(buf);
        Ok(())
    }
}
