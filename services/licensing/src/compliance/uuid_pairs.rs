//! Rows of a binary `COPY … TO STDOUT` of two non-null `uuid` columns,
//! read straight from the stream's bytes. tokio-postgres'
//! `BinaryCopyOutStream` reads any columns and allocates for every row; the
//! installations are millions of rows of this one fixed layout, and parsing
//! them was most of the difference between the estate's read and a raw
//! `COPY` of the same rows.
//!
//! The format (PostgreSQL's "Binary Format" of `COPY`): an 11-byte
//! signature, 32-bit flags, a 32-bit header-extension length and that many
//! bytes; then per row a 16-bit field count and, per field, a 32-bit length
//! and the value (a `uuid` is 16 bytes, a NULL has length -1); then a field
//! count of -1. Chunks may split anywhere.

use uuid::Uuid;

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// Signature, flags and extension length.
const HEADER: usize = 11 + 4 + 4;
/// Field count, then two fields of length and value.
const ROW: usize = 2 + 2 * (4 + 16);

/// A streaming reader of the rows; feed it the chunks in order.
#[derive(Debug, Default)]
pub(crate) struct UuidPairs {
    /// Bytes of an incomplete header or row from earlier chunks.
    pending: Vec<u8>,
    header_read: bool,
    trailer_read: bool,
}

impl UuidPairs {
    /// Reads the complete rows in what has arrived so far, `chunk` last,
    /// calling `row` with each row's two values.
    pub fn feed(&mut self, chunk: &[u8], row: &mut impl FnMut(Uuid, Uuid)) -> Result<(), String> {
        if self.pending.is_empty() {
            let used = self.parse(chunk, row)?;
            self.pending.extend_from_slice(&chunk[used..]);
        } else {
            let mut pending = std::mem::take(&mut self.pending);
            pending.extend_from_slice(chunk);
            let used = self.parse(&pending, row)?;
            pending.drain(..used);
            self.pending = pending;
        }
        Ok(())
    }

    /// Checks that the stream ended where the format says it does.
    pub fn finish(&self) -> Result<(), String> {
        if !self.trailer_read || !self.pending.is_empty() {
            return Err("the COPY stream ended before its trailer".into());
        }
        Ok(())
    }

    /// Reads what it can of `data`; returns the bytes used.
    fn parse(&mut self, data: &[u8], row: &mut impl FnMut(Uuid, Uuid)) -> Result<usize, String> {
        let mut at = 0;
        if !self.header_read {
            if data.len() < HEADER {
                return Ok(0);
            }
            if &data[..11] != SIGNATURE {
                return Err("the COPY stream has no binary COPY signature".into());
            }
            // Bits 0-15 are format changes a reader must not guess at;
            // bit 16 says rows carry OIDs. Higher bits are safe to ignore.
            let flags = u32::from_be_bytes(data[11..15].try_into().expect("4 bytes"));
            if flags & 0x0001_FFFF != 0 {
                return Err(format!("the COPY stream has format flags {flags:#x}"));
            }
            let extension = i32::from_be_bytes(data[15..19].try_into().expect("4 bytes"));
            let extension = usize::try_from(extension)
                .map_err(|_| "the COPY header's extension length is negative".to_string())?;
            if data.len() < HEADER + extension {
                return Ok(0);
            }
            at = HEADER + extension;
            self.header_read = true;
        }
        while at < data.len() {
            if self.trailer_read {
                return Err("the COPY stream goes on after its trailer".into());
            }
            let Some(count) = data.get(at..at + 2) else {
                break;
            };
            match i16::from_be_bytes([count[0], count[1]]) {
                -1 => {
                    self.trailer_read = true;
                    at += 2;
                    continue;
                }
                2 => {}
                other => return Err(format!("a COPY row has {other} fields, not 2")),
            }
            let Some(fields) = data.get(at + 2..at + ROW) else {
                break;
            };
            let (first, second) = fields.split_at(20);
            row(uuid_field(first)?, uuid_field(second)?);
            at += ROW;
        }
        Ok(at)
    }
}

/// A field of length 16 and its value.
fn uuid_field(field: &[u8]) -> Result<Uuid, String> {
    let length = i32::from_be_bytes(field[..4].try_into().expect("4 bytes"));
    if length != 16 {
        return Err(format!("a COPY field has length {length}, not a uuid's 16"));
    }
    Ok(Uuid::from_bytes(field[4..20].try_into().expect("16 bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(rows: &[(Uuid, Uuid)]) -> Vec<u8> {
        let mut bytes = SIGNATURE.to_vec();
        bytes.extend(0u32.to_be_bytes());
        // A header extension, which readers must skip.
        bytes.extend(3i32.to_be_bytes());
        bytes.extend([7, 7, 7]);
        for (first, second) in rows {
            bytes.extend(2i16.to_be_bytes());
            for value in [first, second] {
                bytes.extend(16i32.to_be_bytes());
                bytes.extend(value.as_bytes());
            }
        }
        bytes.extend((-1i16).to_be_bytes());
        bytes
    }

    fn read(chunks: &[&[u8]]) -> Result<Vec<(Uuid, Uuid)>, String> {
        let mut reader = UuidPairs::default();
        let mut rows = Vec::new();
        for chunk in chunks {
            reader.feed(chunk, &mut |first, second| rows.push((first, second)))?;
        }
        reader.finish()?;
        Ok(rows)
    }

    fn rows(count: u128) -> Vec<(Uuid, Uuid)> {
        (0..count)
            .map(|n| (Uuid::from_u128(n + 1), Uuid::from_u128(u128::MAX - n)))
            .collect()
    }

    #[test]
    fn rows_split_anywhere_read_the_same() {
        let expected = rows(3);
        let bytes = stream(&expected);
        assert_eq!(read(&[&bytes]).unwrap(), expected);
        for split in 0..=bytes.len() {
            let (head, tail) = bytes.split_at(split);
            assert_eq!(read(&[head, tail]).unwrap(), expected, "split at {split}");
        }
        let single_bytes: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(read(&single_bytes).unwrap(), expected);
        assert_eq!(read(&[&stream(&[])]).unwrap(), []);
    }

    #[test]
    fn a_stream_that_is_not_two_uuids_per_row_is_refused() {
        let bytes = stream(&rows(2));
        let cut = &bytes[..bytes.len() - 5];
        assert!(read(&[cut]).unwrap_err().contains("before its trailer"));

        let mut null = bytes.clone();
        null[HEADER + 3 + 2..HEADER + 3 + 6].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(read(&[&null]).unwrap_err().contains("length -1"));

        let mut three = bytes.clone();
        three[HEADER + 3..HEADER + 3 + 2].copy_from_slice(&3i16.to_be_bytes());
        assert!(read(&[&three]).unwrap_err().contains("3 fields"));

        let mut flagged = bytes.clone();
        flagged[14] = 1;
        assert!(read(&[&flagged]).unwrap_err().contains("format flags"));
        let mut ignorable = bytes.clone();
        ignorable[11] = 0x80;
        assert_eq!(read(&[&ignorable]).unwrap().len(), 2);

        let mut text = bytes.clone();
        text[0] = b'X';
        assert!(read(&[&text]).unwrap_err().contains("signature"));

        let mut after = bytes;
        after.extend([0, 2]);
        assert!(read(&[&after]).unwrap_err().contains("after its trailer"));
    }
}
