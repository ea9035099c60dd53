//! The Confluent framing: magic byte `0`, a 4-byte big-endian schema id, then the body.

/// The first byte of every Confluent-framed message (`MAGIC_BYTE_V0`).
pub const MAGIC_BYTE: u8 = 0;

/// Magic byte plus schema id.
pub const HEADER_LEN: usize = 5;

/// A framed message taken apart (borrowing the body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framed<'a> {
    pub schema_id: u32,
    /// The Avro binary after the header.
    pub body: &'a [u8],
}

/// Bytes that are not a Confluent-framed message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Fewer than the 5 header bytes.
    #[error("message too short for the Confluent wire format: {len} byte(s), need at least 5 (magic byte 0 and a 4-byte schema id)")]
    TooShort { len: usize },
    /// The first byte is not `0`.
    #[error("wrong magic byte {found:#04x}: expected 0x00, the Confluent wire format{}", hint(*found))]
    WrongMagicByte { found: u8 },
}

fn hint(found: u8) -> &'static str {
    match found {
        1 => " (0x01 is Confluent's GUID framing, which evc does not read)",
        b'{' | b'[' | b'"' => " (the message looks like JSON)",
        0xC3 => " (0xC3 0x01 starts Avro single-object encoding)",
        _ => "",
    }
}

/// Appends the 5-byte header for `schema_id` to `out`.
#[inline]
pub fn write_header(schema_id: u32, out: &mut Vec<u8>) {
    out.push(MAGIC_BYTE);
    out.extend_from_slice(&schema_id.to_be_bytes());
}

/// `header + body` in a new buffer.
pub fn frame(schema_id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    write_header(schema_id, &mut out);
    out.extend_from_slice(body);
    out
}

/// Splits a framed message into its schema id and body. Any bytes are accepted as the body
/// (an empty one too: a record without fields encodes to nothing).
pub fn unframe(bytes: &[u8]) -> Result<Framed<'_>, FrameError> {
    match bytes {
        [] => Err(FrameError::TooShort { len: 0 }),
        [magic, ..] if *magic != MAGIC_BYTE => Err(FrameError::WrongMagicByte { found: *magic }),
        [_, a, b, c, d, body @ ..] => Ok(Framed {
            schema_id: u32::from_be_bytes([*a, *b, *c, *d]),
            body,
        }),
        _ => Err(FrameError::TooShort { len: bytes.len() }),
    }
}

/// Just the schema id of a framed message.
pub fn schema_id(bytes: &[u8]) -> Result<u32, FrameError> {
    unframe(bytes).map(|f| f.schema_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let framed = frame(0x0102_0304, &[9, 8, 7]);
        assert_eq!(framed, [0, 1, 2, 3, 4, 9, 8, 7]);
        assert_eq!(
            unframe(&framed).unwrap(),
            Framed {
                schema_id: 0x0102_0304,
                body: &[9, 8, 7]
            }
        );
        assert_eq!(unframe(&[0, 0, 0, 0, 7]).unwrap().body, &[] as &[u8]);
        assert_eq!(schema_id(&frame(u32::MAX, &[])).unwrap(), u32::MAX);
    }

    #[test]
    fn errors() {
        assert_eq!(unframe(&[]), Err(FrameError::TooShort { len: 0 }));
        assert_eq!(unframe(&[0, 0, 0, 1]), Err(FrameError::TooShort { len: 4 }));
        assert_eq!(
            unframe(&[1, 0, 0, 0, 1, 2]),
            Err(FrameError::WrongMagicByte { found: 1 })
        );
        assert_eq!(
            unframe(b"{}"),
            Err(FrameError::WrongMagicByte { found: b'{' })
        );
        let msg = FrameError::WrongMagicByte { found: 1 }.to_string();
        assert!(msg.contains("0x01") && msg.contains("GUID"), "{msg}");
        let msg = FrameError::TooShort { len: 3 }.to_string();
        assert!(msg.contains("3 byte(s)"), "{msg}");
    }
}
