//! Random-access byte sources. Model files are read lazily by byte range, so a
//! model larger than memory (or than wasm's 4 GiB address space) can be opened:
//! natively from a file, in the browser from a `Blob` (see `crate::wasm`).

use crate::error::{Error, Result};

/// Something that can read `buf.len()` bytes at an absolute offset.
pub trait ByteSource {
    /// Total length in bytes.
    fn len(&self) -> u64;
    /// Fill `buf` from `offset`; an error if the range is past the end.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Read `len` bytes at `offset` into a new vector, after checking the range
    /// against the source's length (so a corrupt length never allocates).
    fn read_vec(&self, offset: u64, len: u64) -> Result<Vec<u8>> {
        check_range(self.len(), offset, len)?;
        let n = usize::try_from(len)
            .map_err(|_| Error::invalid(format!("{len} bytes do not fit in memory")))?;
        let mut v = vec![0u8; n];
        self.read_at(offset, &mut v)?;
        Ok(v)
    }
}

/// Error unless `offset..offset+len` lies inside a source of `total` bytes.
pub fn check_range(total: u64, offset: u64, len: u64) -> Result<()> {
    match offset.checked_add(len) {
        Some(end) if end <= total => Ok(()),
        _ => Err(Error::format(
            "input",
            format!(
                "truncated: wanted bytes {offset}..{} but the file has {total} bytes",
                offset.saturating_add(len)
            ),
        )),
    }
}

impl ByteSource for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range(ByteSource::len(self), offset, buf.len() as u64)?;
        let start = offset as usize;
        buf.copy_from_slice(&self[start..start + buf.len()]);
        Ok(())
    }
}

impl ByteSource for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.as_slice().read_at(offset, buf)
    }
}

impl<T: ByteSource + ?Sized> ByteSource for &T {
    fn len(&self) -> u64 {
        (**self).len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        (**self).read_at(offset, buf)
    }
}

/// A file on disk, read with positioned reads (no shared cursor).
#[cfg(not(target_arch = "wasm32"))]
pub struct FileSource {
    file: std::fs::File,
    len: u64,
}

#[cfg(not(target_arch = "wasm32"))]
impl FileSource {
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", path.display()),
            ))
        })?;
        let len = file.metadata()?.len();
        Ok(FileSource { file, len })
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl ByteSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range(self.len, offset, buf.len() as u64)?;
        read_exact_at(&self.file, offset, buf)?;
        Ok(())
    }
}

#[cfg(all(not(target_arch = "wasm32"), unix))]
fn read_exact_at(file: &std::fs::File, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(all(not(target_arch = "wasm32"), not(unix)))]
fn read_exact_at(file: &std::fs::File, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
}

/// Sequential little-endian reader over a `ByteSource`, buffering a window so
/// that parsing a header does not issue one read per field (each read is a
/// `Blob.slice` in the browser).
pub struct Cursor<'a, S: ByteSource + ?Sized> {
    src: &'a S,
    pos: u64,
    buf: Vec<u8>,
    buf_start: u64,
    what: &'static str,
}

const WINDOW: u64 = 256 * 1024;

impl<'a, S: ByteSource + ?Sized> Cursor<'a, S> {
    pub fn new(src: &'a S, what: &'static str) -> Self {
        Cursor {
            src,
            pos: 0,
            buf: Vec::new(),
            buf_start: 0,
            what,
        }
    }

    pub fn pos(&self) -> u64 {
        self.pos
    }

    pub fn remaining(&self) -> u64 {
        self.src.len().saturating_sub(self.pos)
    }

    fn err(&self, detail: String) -> Error {
        Error::format(self.what, detail)
    }

    /// Read exactly `out.len()` bytes.
    pub fn read(&mut self, out: &mut [u8]) -> Result<()> {
        let n = out.len() as u64;
        if n > self.remaining() {
            return Err(self.err(format!(
                "truncated at byte {}: needed {n} more bytes, {} left",
                self.pos,
                self.remaining()
            )));
        }
        let buf_end = self.buf_start + self.buf.len() as u64;
        if self.pos < self.buf_start || self.pos + n > buf_end {
            if n > WINDOW {
                self.src.read_at(self.pos, out)?;
                self.pos += n;
                return Ok(());
            }
            let len = WINDOW.min(self.src.len() - self.pos);
            self.buf.resize(len as usize, 0);
            self.src.read_at(self.pos, &mut self.buf)?;
            self.buf_start = self.pos;
        }
        let start = (self.pos - self.buf_start) as usize;
        out.copy_from_slice(&self.buf[start..start + out.len()]);
        self.pos += n;
        Ok(())
    }

    pub fn skip(&mut self, n: u64) -> Result<()> {
        if n > self.remaining() {
            return Err(self.err(format!("truncated at byte {}", self.pos)));
        }
        self.pos += n;
        Ok(())
    }

    pub fn u8(&mut self) -> Result<u8> {
        let mut b = [0u8; 1];
        self.read(&mut b)?;
        Ok(b[0])
    }
    pub fn u16(&mut self) -> Result<u16> {
        let mut b = [0u8; 2];
        self.read(&mut b)?;
        Ok(u16::from_le_bytes(b))
    }
    pub fn u32(&mut self) -> Result<u32> {
        let mut b = [0u8; 4];
        self.read(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    pub fn i32(&mut self) -> Result<i32> {
        Ok(self.u32()? as i32)
    }
    pub fn u64(&mut self) -> Result<u64> {
        let mut b = [0u8; 8];
        self.read(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    pub fn f32(&mut self) -> Result<f32> {
        Ok(f32::from_bits(self.u32()?))
    }
    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }

    /// `len` bytes, after checking that many remain (a corrupt length must not
    /// trigger a huge allocation).
    pub fn bytes(&mut self, len: u64) -> Result<Vec<u8>> {
        if len > self.remaining() {
            return Err(self.err(format!(
                "length {len} at byte {} runs past the end of the file ({} bytes left)",
                self.pos,
                self.remaining()
            )));
        }
        let mut v = vec![0u8; len as usize];
        self.read(&mut v)?;
        Ok(v)
    }
}
