//! A bounds-checked reader for the FlatBuffers wire format.
//!
//! TFLite files are untrusted input, so every offset is checked against the buffer before it
//! is followed and every vector length against the bytes that remain. Nothing here panics or
//! allocates in proportion to a length read from the file.

use crate::ConvertError;

type Result<T> = std::result::Result<T, ConvertError>;

fn malformed(what: impl Into<String>) -> ConvertError {
    ConvertError::Malformed(what.into())
}

/// A table inside a FlatBuffer: its position and the position of its vtable.
#[derive(Clone, Copy)]
pub struct Table<'a> {
    buf: &'a [u8],
    pos: usize,
    vtable: usize,
    vtable_len: usize,
}

fn read_u16(buf: &[u8], pos: usize) -> Result<u16> {
    buf.get(
        pos..pos
            .checked_add(2)
            .ok_or_else(|| malformed("offset overflow"))?,
    )
    .map(|b| u16::from_le_bytes([b[0], b[1]]))
    .ok_or_else(|| malformed(format!("u16 at {pos} is past the end")))
}

fn read_u32(buf: &[u8], pos: usize) -> Result<u32> {
    buf.get(
        pos..pos
            .checked_add(4)
            .ok_or_else(|| malformed("offset overflow"))?,
    )
    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    .ok_or_else(|| malformed(format!("u32 at {pos} is past the end")))
}

fn read_u64(buf: &[u8], pos: usize) -> Result<u64> {
    let b = buf
        .get(
            pos..pos
                .checked_add(8)
                .ok_or_else(|| malformed("offset overflow"))?,
        )
        .ok_or_else(|| malformed(format!("u64 at {pos} is past the end")))?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Ok(u64::from_le_bytes(a))
}

/// Follows a `uoffset_t` stored at `pos` (offsets are relative to their own position).
fn follow(buf: &[u8], pos: usize) -> Result<usize> {
    let off = read_u32(buf, pos)? as usize;
    let target = pos
        .checked_add(off)
        .ok_or_else(|| malformed("offset overflow"))?;
    if target >= buf.len() {
        return Err(malformed(format!(
            "offset at {pos} points past the end ({target} >= {})",
            buf.len()
        )));
    }
    Ok(target)
}

impl<'a> Table<'a> {
    /// The root table of a buffer.
    pub fn root(buf: &'a [u8]) -> Result<Self> {
        if buf.len() < 8 {
            return Err(malformed(format!("file is only {} bytes", buf.len())));
        }
        let pos = follow(buf, 0)?;
        Self::at(buf, pos)
    }

    fn at(buf: &'a [u8], pos: usize) -> Result<Self> {
        let soff = read_u32(buf, pos)? as i32 as i64;
        let vtable = pos as i64 - soff;
        if vtable < 0 || vtable as usize >= buf.len() {
            return Err(malformed(format!(
                "vtable of table at {pos} is out of range"
            )));
        }
        let vtable = vtable as usize;
        let vtable_len = read_u16(buf, vtable)? as usize;
        if vtable_len < 4 || !vtable_len.is_multiple_of(2) || vtable + vtable_len > buf.len() {
            return Err(malformed(format!("bad vtable at {vtable}")));
        }
        Ok(Self {
            buf,
            pos,
            vtable,
            vtable_len,
        })
    }

    /// Byte position of field `id`, or `None` when the field is absent (default value).
    fn field(&self, id: usize) -> Result<Option<usize>> {
        let slot = 4 + 2 * id;
        if slot + 2 > self.vtable_len {
            return Ok(None);
        }
        let off = read_u16(self.buf, self.vtable + slot)? as usize;
        if off == 0 {
            return Ok(None);
        }
        Ok(Some(self.pos + off))
    }

    pub fn u8_or(&self, id: usize, default: u8) -> Result<u8> {
        match self.field(id)? {
            Some(p) => self
                .buf
                .get(p)
                .copied()
                .ok_or_else(|| malformed(format!("field {id} is past the end"))),
            None => Ok(default),
        }
    }

    pub fn i8_or(&self, id: usize, default: i8) -> Result<i8> {
        Ok(self.u8_or(id, default as u8)? as i8)
    }

    pub fn bool_or(&self, id: usize, default: bool) -> Result<bool> {
        Ok(self.u8_or(id, default as u8)? != 0)
    }

    pub fn i32_or(&self, id: usize, default: i32) -> Result<i32> {
        match self.field(id)? {
            Some(p) => Ok(read_u32(self.buf, p)? as i32),
            None => Ok(default),
        }
    }

    pub fn u32_or(&self, id: usize, default: u32) -> Result<u32> {
        Ok(self.i32_or(id, default as i32)? as u32)
    }

    pub fn u64_or(&self, id: usize, default: u64) -> Result<u64> {
        match self.field(id)? {
            Some(p) => read_u64(self.buf, p),
            None => Ok(default),
        }
    }

    pub fn table(&self, id: usize) -> Result<Option<Table<'a>>> {
        match self.field(id)? {
            Some(p) => Ok(Some(Table::at(self.buf, follow(self.buf, p)?)?)),
            None => Ok(None),
        }
    }

    pub fn string(&self, id: usize) -> Result<Option<String>> {
        match self.bytes(id)? {
            Some(b) => Ok(Some(String::from_utf8_lossy(b).into_owned())),
            None => Ok(None),
        }
    }

    /// A vector of bytes (also strings, without the trailing NUL).
    pub fn bytes(&self, id: usize) -> Result<Option<&'a [u8]>> {
        match self.vector(id, 1)? {
            Some((start, len)) => Ok(Some(&self.buf[start..start + len])),
            None => Ok(None),
        }
    }

    /// Start and element count of a vector whose elements are `elem` bytes wide.
    fn vector(&self, id: usize, elem: usize) -> Result<Option<(usize, usize)>> {
        let Some(p) = self.field(id)? else {
            return Ok(None);
        };
        let vpos = follow(self.buf, p)?;
        let len = read_u32(self.buf, vpos)? as usize;
        let start = vpos + 4;
        let bytes = len
            .checked_mul(elem)
            .ok_or_else(|| malformed("vector length overflow"))?;
        if start
            .checked_add(bytes)
            .is_none_or(|end| end > self.buf.len())
        {
            return Err(malformed(format!(
                "vector of {len} elements at {vpos} runs past the end"
            )));
        }
        Ok(Some((start, len)))
    }

    pub fn i32_vec(&self, id: usize) -> Result<Vec<i32>> {
        match self.vector(id, 4)? {
            Some((start, len)) => (0..len)
                .map(|i| read_u32(self.buf, start + 4 * i).map(|v| v as i32))
                .collect(),
            None => Ok(Vec::new()),
        }
    }

    pub fn u16_vec(&self, id: usize) -> Result<Vec<u16>> {
        match self.vector(id, 2)? {
            Some((start, len)) => (0..len)
                .map(|i| read_u16(self.buf, start + 2 * i))
                .collect(),
            None => Ok(Vec::new()),
        }
    }

    /// A vector of tables.
    pub fn tables(&self, id: usize) -> Result<Vec<Table<'a>>> {
        match self.vector(id, 4)? {
            Some((start, len)) => (0..len)
                .map(|i| {
                    let p = start + 4 * i;
                    Table::at(self.buf, follow(self.buf, p)?)
                })
                .collect(),
            None => Ok(Vec::new()),
        }
    }
}
