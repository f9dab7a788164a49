//! A Parquet footer checked before polars decodes it. The footer is Thrift (compact protocol),
//! and a list in it starts with its element count: polars reserves room for that many
//! elements up front, so five bytes claiming two billion row groups make it ask for hundreds
//! of gigabytes, and a failed allocation aborts the process (no error, no `catch_unwind`).
//! This walk reads the footer's structure without building anything and refuses a list that
//! claims more elements than bytes remain (every element takes at least one), or nesting
//! deeper than any Parquet footer has.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

/// Nesting deeper than this is refused (a real footer nests a handful of levels; polars
/// itself skips unknown fields to depth 64).
const MAX_DEPTH: usize = 64;

/// The footer of an open Parquet file of `len` bytes, at most `limit` bytes long: the
/// Thrift metadata before the last 8 bytes (its length, then `PAR1`).
pub fn read_footer(file: &mut File, len: u64, limit: u64) -> Result<Vec<u8>, String> {
    if len < 12 {
        return Err(format!("{len} bytes: too short for a Parquet file"));
    }
    let mut tail = [0u8; 8];
    file.seek(SeekFrom::End(-8))
        .and_then(|_| file.read_exact(&mut tail))
        .map_err(|e| e.to_string())?;
    if &tail[4..] != b"PAR1" {
        return Err("not a Parquet file (it does not end with PAR1)".into());
    }
    let footer_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if footer_len > len - 12 {
        return Err(format!(
            "the footer claims {footer_len} bytes, more than the file holds"
        ));
    }
    if footer_len > limit {
        return Err(format!(
            "{footer_len} bytes of footer metadata, more than the {limit} accepted"
        ));
    }
    let mut footer = vec![0u8; footer_len as usize];
    file.seek(SeekFrom::End(-8 - footer_len as i64))
        .and_then(|_| file.read_exact(&mut footer))
        .map_err(|e| e.to_string())?;
    file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    Ok(footer)
}

/// Walks `footer` as one Thrift struct (the file's metadata), refusing a list, set or map
/// that claims more elements than bytes remain, and nesting deeper than `MAX_DEPTH`.
pub fn check_footer(footer: &[u8]) -> Result<(), String> {
    let mut walk = Walk {
        bytes: footer,
        at: 0,
    };
    walk.structure(0)
        .map_err(|why| format!("corrupt Parquet footer at byte {}: {why}", walk.at))
}

/// A position in the footer.
struct Walk<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Walk<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.bytes.get(self.at).ok_or("it ends early")?;
        self.at += 1;
        Ok(b)
    }

    fn skip(&mut self, n: u64) -> Result<(), String> {
        if n > self.left() {
            return Err("it ends early".into());
        }
        self.at += n as usize;
        Ok(())
    }

    fn left(&self) -> u64 {
        (self.bytes.len() - self.at) as u64
    }

    /// An unsigned LEB128 varint (at most 10 bytes).
    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a varint longer than 10 bytes".into())
    }

    /// A struct's fields up to its stop byte.
    fn structure(&mut self, depth: usize) -> Result<(), String> {
        loop {
            let header = self.byte()?;
            if header == 0 {
                return Ok(());
            }
            if header >> 4 == 0 {
                self.varint()?; // the field id, when not a delta
            }
            self.value(header & 0x0f, depth, true)?;
        }
    }

    /// One value of compact type `kind` (booleans are in the field header, except in lists).
    /// Every container (struct, list, set, map) is one level deeper than what holds it.
    fn value(&mut self, kind: u8, depth: usize, in_field: bool) -> Result<(), String> {
        if (9..=12).contains(&kind) && depth >= MAX_DEPTH {
            return Err(format!("nested more than {MAX_DEPTH} levels deep"));
        }
        match kind {
            1 | 2 if in_field => Ok(()),
            1..=3 => self.skip(1),
            4..=6 => self.varint().map(drop),
            7 => self.skip(8),
            8 => {
                let n = self.varint()?;
                self.skip(n)
            }
            9 | 10 => self.list(depth + 1),
            11 => self.map(depth + 1),
            12 => self.structure(depth + 1),
            other => Err(format!("unknown Thrift type {other}")),
        }
    }

    /// A list or set: its count, checked against the bytes left, then its elements.
    fn list(&mut self, depth: usize) -> Result<(), String> {
        let header = self.byte()?;
        let count = match header >> 4 {
            15 => self.varint()?,
            n => u64::from(n),
        };
        self.elements(count, 1)?;
        for _ in 0..count {
            self.value(header & 0x0f, depth, false)?;
        }
        Ok(())
    }

    /// A map: its count (checked), the key and value types, then its pairs.
    fn map(&mut self, depth: usize) -> Result<(), String> {
        let count = self.varint()?;
        if count == 0 {
            return Ok(());
        }
        self.elements(count, 2)?;
        let types = self.byte()?;
        for _ in 0..count {
            self.value(types >> 4, depth, false)?;
            self.value(types & 0x0f, depth, false)?;
        }
        Ok(())
    }

    /// Refuses `count` elements of at least `each` bytes when fewer bytes remain.
    fn elements(&self, count: u64, each: u64) -> Result<(), String> {
        if count.saturating_mul(each) > self.left() {
            return Err(format!(
                "a list claims {count} elements, but only {} bytes remain",
                self.left()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_longer_than_the_footer_is_refused() {
        // Field 1 (i32 version = 1), field 2 a list of structs claiming 2^31 - 1 elements.
        let footer = [0x15, 0x02, 0x19, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00];
        let err = check_footer(&footer).unwrap_err();
        assert!(err.contains("2147483647 elements"), "{err}");
    }

    #[test]
    fn a_well_formed_footer_passes() {
        // version, a list of two empty structs, a binary of 3 bytes, stop.
        let footer = [
            0x15, 0x02, 0x19, 0x2c, 0x00, 0x00, 0x18, 0x03, b'a', b'b', b'c', 0x00,
        ];
        assert_eq!(check_footer(&footer), Ok(()));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut structs = vec![0x1c; 100]; // field 1, a struct, 100 times
        structs.extend(std::iter::repeat_n(0, 101));
        let err = check_footer(&structs).unwrap_err();
        assert!(err.contains("nested"), "{err}");
        // Lists of lists (one element each) nest without any struct in between.
        let mut lists = vec![0x19];
        lists.extend(std::iter::repeat_n(0x19, 100_000));
        let err = check_footer(&lists).unwrap_err();
        assert!(err.contains("nested"), "{err}");
    }
}
