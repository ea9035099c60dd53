//! Avro binary encoding, written and read directly: no `Value` tree per message.
//!
//! Generated types implement [`AvroBinary`] with code specialized to their schema; these are
//! the primitives that code calls. Reading is defensive: lengths and counts are checked against
//! the bytes that are actually there before anything is allocated, varints are bounded, and
//! every failure is a [`DecodeError`], never a panic.

use crate::{DecodeError, EncodeError};

/// A type that writes and reads the Avro binary encoding of its own schema directly.
pub trait AvroBinary: Sized {
    /// Appends the Avro binary encoding of `self` to `out`.
    fn write_avro(&self, out: &mut Vec<u8>) -> Result<(), EncodeError>;
    /// Reads one value from the front of `input`, advancing it.
    fn read_avro(input: &mut &[u8]) -> Result<Self, DecodeError>;

    /// Whether [`AvroBinary::read_avro_merged`] is implemented: generated records of 1 to 64
    /// fields implement it.
    const MERGED: bool = false;

    /// Reads a record whose field `i` is read from `writer` when bit `i` of `from_writer` is
    /// set, else from `defaults`, advancing each. Schema resolution uses it when a writer wrote
    /// the reader's fields byte for byte and in the reader's order, and the other reader fields
    /// have defaults ([`crate::resolve`]): the reader's decoder then reads the writer's bytes
    /// where they are, with no rewritten copy. Types without it answer an error.
    fn read_avro_merged<'a>(
        writer: &mut &'a [u8],
        defaults: &mut &'a [u8],
        from_writer: u64,
    ) -> Result<Self, DecodeError> {
        let _ = (writer, defaults, from_writer);
        Err(DecodeError::invalid(
            "this type is not a generated record: it reads no merged input",
        ))
    }
}

impl<T: AvroBinary> AvroBinary for Box<T> {
    fn write_avro(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        (**self).write_avro(out)
    }
    fn read_avro(input: &mut &[u8]) -> Result<Self, DecodeError> {
        T::read_avro(input).map(Box::new)
    }
    const MERGED: bool = T::MERGED;
    fn read_avro_merged<'a>(
        writer: &mut &'a [u8],
        defaults: &mut &'a [u8],
        from_writer: u64,
    ) -> Result<Self, DecodeError> {
        T::read_avro_merged(writer, defaults, from_writer).map(Box::new)
    }
}

/// Encodes `value` with its own schema.
pub fn to_vec<T: AvroBinary>(value: &T) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(64);
    value.write_avro(&mut out)?;
    Ok(out)
}

/// Decodes one value written with `T`'s own schema, refusing trailing bytes.
pub fn from_slice<T: AvroBinary>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut input = bytes;
    let v = T::read_avro(&mut input)?;
    if !input.is_empty() {
        return Err(DecodeError::invalid(format!(
            "{} bytes left over after the datum: the bytes were not written with this schema",
            input.len()
        )));
    }
    Ok(v)
}

fn eof(what: &str) -> DecodeError {
    DecodeError::invalid(format!("the data ends in the middle of {what}"))
}

// ---- writing ----

#[inline]
pub fn write_long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}
#[inline]
pub fn write_int(out: &mut Vec<u8>, n: i32) {
    write_long(out, n as i64)
}
#[inline]
pub fn write_bool(out: &mut Vec<u8>, b: bool) {
    out.push(b as u8)
}
#[inline]
pub fn write_float(out: &mut Vec<u8>, f: f32) {
    out.extend_from_slice(&f.to_le_bytes())
}
#[inline]
pub fn write_double(out: &mut Vec<u8>, f: f64) {
    out.extend_from_slice(&f.to_le_bytes())
}
#[inline]
pub fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    write_long(out, b.len() as i64);
    out.extend_from_slice(b);
}
#[inline]
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    write_bytes(out, s.as_bytes())
}
/// A uuid in its canonical 36-character text form (`uuid` on `string`).
#[inline]
pub fn write_uuid(out: &mut Vec<u8>, u: &uuid::Uuid) {
    let mut buf = [0u8; 36];
    write_bytes(out, u.hyphenated().encode_lower(&mut buf).as_bytes());
}
/// Writes an array: one block with the count, the items, and the end marker.
#[inline]
pub fn write_array<T>(
    out: &mut Vec<u8>,
    items: &[T],
    mut f: impl FnMut(&mut Vec<u8>, &T) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    if !items.is_empty() {
        write_long(out, items.len() as i64);
        for (i, item) in items.iter().enumerate() {
            f(out, item).map_err(|e| e.at(i))?;
        }
    }
    out.push(0);
    Ok(())
}
/// Writes a map: one block with the count, the entries in the map's order, and the end marker.
#[inline]
pub fn write_map<T>(
    out: &mut Vec<u8>,
    m: &crate::AvroMap<T>,
    mut f: impl FnMut(&mut Vec<u8>, &T) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    if !m.is_empty() {
        write_long(out, m.len() as i64);
        for (k, v) in m {
            write_string(out, k);
            f(out, v).map_err(|e| e.at(format!("{k:?}")))?;
        }
    }
    out.push(0);
    Ok(())
}

// ---- reading ----

#[inline]
pub fn read_long(input: &mut &[u8]) -> Result<i64, DecodeError> {
    let mut z: u64 = 0;
    let mut shift = 0;
    loop {
        let (&b, rest) = input.split_first().ok_or_else(|| eof("a number"))?;
        *input = rest;
        if shift == 63 && b > 1 {
            return Err(DecodeError::invalid("a varint is longer than 64 bits"));
        }
        z |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
        }
        shift += 7;
        if shift > 63 {
            return Err(DecodeError::invalid("a varint is longer than 10 bytes"));
        }
    }
}
#[inline]
pub fn read_int(input: &mut &[u8]) -> Result<i32, DecodeError> {
    let n = read_long(input)?;
    i32::try_from(n).map_err(|_| DecodeError::invalid(format!("{n} does not fit in an int")))
}
#[inline]
pub fn read_boolean(input: &mut &[u8]) -> Result<bool, DecodeError> {
    let (&b, rest) = input.split_first().ok_or_else(|| eof("a boolean"))?;
    *input = rest;
    match b {
        0 => Ok(false),
        1 => Ok(true),
        b => Err(DecodeError::invalid(format!(
            "{b} is not a boolean (0 or 1)"
        ))),
    }
}
#[inline]
fn take<'a>(input: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
    if input.len() < n {
        return Err(eof(what));
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}
#[inline]
pub fn read_float(input: &mut &[u8]) -> Result<f32, DecodeError> {
    let b = take(input, 4, "a float")?;
    Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}
#[inline]
pub fn read_double(input: &mut &[u8]) -> Result<f64, DecodeError> {
    let b = take(input, 8, "a double")?;
    Ok(f64::from_le_bytes(b.try_into().expect("8 bytes")))
}
#[inline]
fn read_len(input: &mut &[u8], what: &str) -> Result<usize, DecodeError> {
    let n = read_long(input)?;
    let n = usize::try_from(n)
        .map_err(|_| DecodeError::invalid(format!("negative length {n} for {what}")))?;
    if n > input.len() {
        return Err(DecodeError::invalid(format!(
            "{what} claims {n} bytes but only {} remain",
            input.len()
        )));
    }
    Ok(n)
}
#[inline]
pub fn read_bytes_slice<'a>(input: &mut &'a [u8]) -> Result<&'a [u8], DecodeError> {
    let n = read_len(input, "bytes")?;
    take(input, n, "bytes")
}
#[inline]
pub fn read_bytes(input: &mut &[u8]) -> Result<Vec<u8>, DecodeError> {
    read_bytes_slice(input).map(<[u8]>::to_vec)
}
#[inline]
pub fn read_string(input: &mut &[u8]) -> Result<String, DecodeError> {
    let n = read_len(input, "a string")?;
    let b = take(input, n, "a string")?;
    std::str::from_utf8(b)
        .map(str::to_string)
        .map_err(|_| DecodeError::invalid("a string is not valid UTF-8"))
}
#[inline]
pub fn read_uuid(input: &mut &[u8]) -> Result<uuid::Uuid, DecodeError> {
    let n = read_len(input, "a uuid")?;
    let b = take(input, n, "a uuid")?;
    uuid::Uuid::try_parse_ascii(b).map_err(|e| DecodeError::invalid(format!("not a uuid: {e}")))
}
#[inline]
pub fn read_fixed<const N: usize>(input: &mut &[u8]) -> Result<[u8; N], DecodeError> {
    let b = take(input, N, "a fixed")?;
    Ok(b.try_into().expect("N bytes"))
}
/// The branch index of a union value.
#[inline]
pub fn read_index(input: &mut &[u8], branches: u32) -> Result<u32, DecodeError> {
    let i = read_long(input)?;
    if i < 0 || i >= branches as i64 {
        return Err(DecodeError::invalid(format!(
            "union branch {i} does not exist (the union has {branches})"
        )));
    }
    Ok(i as u32)
}
/// The index of an enum symbol.
#[inline]
pub fn read_enum_index(input: &mut &[u8], symbols: usize) -> Result<usize, DecodeError> {
    let i = read_long(input)?;
    if i < 0 || i >= symbols as i64 {
        return Err(DecodeError::invalid(format!(
            "enum index {i} is out of range (the enum has {symbols} symbols)"
        )));
    }
    Ok(i as usize)
}
/// Reads the block count of an array or map; a negative count is followed by the block's size.
#[inline]
fn read_block_count(input: &mut &[u8]) -> Result<usize, DecodeError> {
    let n = read_long(input)?;
    let n = if n < 0 {
        let _size = read_long(input)?;
        n.checked_neg()
            .ok_or_else(|| DecodeError::invalid("block count out of range"))?
    } else {
        n
    };
    // every item takes at least one byte... except zero-sized types; cap what we reserve
    usize::try_from(n).map_err(|_| DecodeError::invalid("block count out of range"))
}
pub fn read_array<T>(
    input: &mut &[u8],
    mut f: impl FnMut(&mut &[u8]) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let mut out = Vec::new();
    let mut empty = 0u64;
    loop {
        let n = read_block_count(input)?;
        if n == 0 {
            return Ok(out);
        }
        out.reserve(n.min(input.len()));
        for k in 0..n {
            let i = out.len();
            let before = input.len();
            out.push(f(input).map_err(|e| e.at(i))?);
            if k == 0 && input.len() == before {
                count_empty_items(&mut empty, n as u64)?;
            }
        }
    }
}

/// The most items that take no bytes (`null`, records without fields, `fixed(0)`) one array
/// may hold. Their count costs the writer a few bytes whatever it says, so without a cap a
/// ten-byte message could keep a reader looping for ever.
pub const MAX_EMPTY_ITEMS: u64 = 1 << 16;

/// Adds a block of `block` items that take no bytes to `total` (whether an item takes bytes
/// depends on its type only, so the first item of a block tells for all), refusing more than
/// [`MAX_EMPTY_ITEMS`].
#[inline]
pub(crate) fn count_empty_items(total: &mut u64, block: u64) -> Result<(), DecodeError> {
    *total = total.saturating_add(block);
    if *total > MAX_EMPTY_ITEMS {
        return Err(DecodeError::invalid(format!(
            "an array of at least {total} items that take no bytes (null, empty records, fixed(0)): more than the {MAX_EMPTY_ITEMS} a reader accepts"
        )));
    }
    Ok(())
}
/// Reads a map, keeping the entries in the order they were written (so that writing it again
/// gives the same bytes). A key written twice keeps its first position and its last value, as
/// a map can hold each key once.
pub fn read_map<T>(
    input: &mut &[u8],
    mut f: impl FnMut(&mut &[u8]) -> Result<T, DecodeError>,
) -> Result<crate::AvroMap<T>, DecodeError> {
    let mut out = crate::AvroMap::new();
    loop {
        let n = read_block_count(input)?;
        if n == 0 {
            return Ok(out);
        }
        out.reserve(n.min(input.len()));
        for _ in 0..n {
            let k = read_string(input)?;
            let v = f(input).map_err(|e| e.at(format!("{k:?}")))?;
            out.insert(k, v);
        }
    }
}

// ---- logical types ----

const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

pub fn write_date(out: &mut Vec<u8>, d: &chrono::NaiveDate) {
    use chrono::Datelike;
    write_int(out, d.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE)
}
pub fn read_date(input: &mut &[u8]) -> Result<chrono::NaiveDate, DecodeError> {
    crate::conv::date_from(apache_avro::types::Value::Int(read_int(input)?))
}
/// Writes a decimal's unscaled value as two's-complement big-endian bytes (minimal length on
/// `bytes`, sign-extended to `fixed_size` on `fixed`).
pub fn write_decimal(
    out: &mut Vec<u8>,
    v: &bigdecimal::BigDecimal,
    precision: u32,
    scale: u32,
    fixed_size: Option<usize>,
) -> Result<(), EncodeError> {
    // reuse the checked conversion (scale without rounding, precision, fixed size)
    let apache_avro::types::Value::Decimal(d) =
        crate::conv::decimal(v, precision, scale, fixed_size)?
    else {
        unreachable!("conv::decimal returns a decimal")
    };
    let raw: Vec<u8> = Vec::try_from(&d).map_err(|e| EncodeError::Avro(Box::new(e)))?;
    let n = num_bigint::BigInt::from_signed_bytes_be(&raw);
    let minimal = n.to_signed_bytes_be();
    match fixed_size {
        Some(size) => {
            let sign = if n.sign() == num_bigint::Sign::Minus {
                0xff
            } else {
                0
            };
            out.extend(std::iter::repeat_n(sign, size - minimal.len()));
            out.extend_from_slice(&minimal);
        }
        None => write_bytes(out, &minimal),
    }
    Ok(())
}
pub fn read_decimal(
    input: &mut &[u8],
    scale: u32,
    fixed_size: Option<usize>,
) -> Result<bigdecimal::BigDecimal, DecodeError> {
    let raw = match fixed_size {
        Some(n) => take(input, n, "a decimal")?,
        None => read_bytes_slice(input)?,
    };
    Ok(bigdecimal::BigDecimal::new(
        num_bigint::BigInt::from_signed_bytes_be(raw),
        scale as i64,
    ))
}
pub fn write_duration(out: &mut Vec<u8>, d: &crate::Duration) {
    out.extend_from_slice(&d.months.to_le_bytes());
    out.extend_from_slice(&d.days.to_le_bytes());
    out.extend_from_slice(&d.millis.to_le_bytes());
}
pub fn read_duration(input: &mut &[u8]) -> Result<crate::Duration, DecodeError> {
    let b = take(input, 12, "a duration")?;
    let w = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    Ok(crate::Duration {
        months: w(0),
        days: w(4),
        millis: w(8),
    })
}

// ---- `put_*` / `read_*` pairs used by generated code (every writer returns a `Result`) ----

pub type Put = Result<(), EncodeError>;

#[inline]
pub fn put_null(_out: &mut Vec<u8>) -> Put {
    Ok(())
}
/// Writes a `null` value (nothing); takes the value so generated closures use their argument.
#[inline]
pub fn put_unit(_out: &mut Vec<u8>, _v: &()) -> Put {
    Ok(())
}
#[inline]
pub fn read_null(_input: &mut &[u8]) -> Result<(), DecodeError> {
    Ok(())
}
#[inline]
pub fn put_boolean(out: &mut Vec<u8>, v: &bool) -> Put {
    write_bool(out, *v);
    Ok(())
}
#[inline]
pub fn put_int(out: &mut Vec<u8>, v: &i32) -> Put {
    write_int(out, *v);
    Ok(())
}
#[inline]
pub fn put_long(out: &mut Vec<u8>, v: &i64) -> Put {
    write_long(out, *v);
    Ok(())
}
#[inline]
pub fn put_index(out: &mut Vec<u8>, index: u32) -> Put {
    write_long(out, index as i64);
    Ok(())
}
#[inline]
pub fn put_float(out: &mut Vec<u8>, v: &f32) -> Put {
    write_float(out, *v);
    Ok(())
}
#[inline]
pub fn put_double(out: &mut Vec<u8>, v: &f64) -> Put {
    write_double(out, *v);
    Ok(())
}
#[inline]
pub fn put_bytes(out: &mut Vec<u8>, v: &[u8]) -> Put {
    write_bytes(out, v);
    Ok(())
}
#[inline]
pub fn put_string(out: &mut Vec<u8>, v: &str) -> Put {
    write_string(out, v);
    Ok(())
}
#[inline]
pub fn put_uuid(out: &mut Vec<u8>, v: &uuid::Uuid) -> Put {
    write_uuid(out, v);
    Ok(())
}
#[inline]
pub fn put_uuid_fixed(out: &mut Vec<u8>, v: &uuid::Uuid) -> Put {
    out.extend_from_slice(v.as_bytes());
    Ok(())
}
#[inline]
pub fn read_uuid_fixed(input: &mut &[u8]) -> Result<uuid::Uuid, DecodeError> {
    read_fixed::<16>(input).map(uuid::Uuid::from_bytes)
}
#[inline]
pub fn put_fixed<const N: usize>(out: &mut Vec<u8>, v: &[u8; N]) -> Put {
    out.extend_from_slice(v);
    Ok(())
}
#[inline]
pub fn put_date(out: &mut Vec<u8>, v: &chrono::NaiveDate) -> Put {
    write_date(out, v);
    Ok(())
}
fn from_conv<T>(
    r: Result<apache_avro::types::Value, EncodeError>,
    f: impl FnOnce(apache_avro::types::Value) -> Option<T>,
) -> Result<T, EncodeError> {
    r.map(|v| f(v).expect("conv returns the logical value"))
}
#[inline]
pub fn put_time_millis(out: &mut Vec<u8>, v: &chrono::NaiveTime) -> Put {
    use chrono::Timelike;
    write_int(
        out,
        (v.num_seconds_from_midnight() as i64 * 1000 + v.nanosecond() as i64 / 1_000_000) as i32,
    );
    Ok(())
}
#[inline]
pub fn read_time_millis(input: &mut &[u8]) -> Result<chrono::NaiveTime, DecodeError> {
    crate::conv::time_millis_from(apache_avro::types::Value::Int(read_int(input)?))
}
#[inline]
pub fn put_time_micros(out: &mut Vec<u8>, v: &chrono::NaiveTime) -> Put {
    use chrono::Timelike;
    write_long(
        out,
        v.num_seconds_from_midnight() as i64 * 1_000_000 + v.nanosecond() as i64 / 1000,
    );
    Ok(())
}
#[inline]
pub fn read_time_micros(input: &mut &[u8]) -> Result<chrono::NaiveTime, DecodeError> {
    crate::conv::time_micros_from(apache_avro::types::Value::Long(read_long(input)?))
}
#[inline]
pub fn put_timestamp_millis(out: &mut Vec<u8>, v: &chrono::DateTime<chrono::Utc>) -> Put {
    write_long(out, v.timestamp_millis());
    Ok(())
}
#[inline]
pub fn read_timestamp_millis(
    input: &mut &[u8],
) -> Result<chrono::DateTime<chrono::Utc>, DecodeError> {
    let n = read_long(input)?;
    chrono::DateTime::from_timestamp_millis(n)
        .ok_or_else(|| DecodeError::invalid(format!("timestamp-millis {n} is out of range")))
}
#[inline]
pub fn put_timestamp_micros(out: &mut Vec<u8>, v: &chrono::DateTime<chrono::Utc>) -> Put {
    write_long(out, v.timestamp_micros());
    Ok(())
}
#[inline]
pub fn read_timestamp_micros(
    input: &mut &[u8],
) -> Result<chrono::DateTime<chrono::Utc>, DecodeError> {
    let n = read_long(input)?;
    chrono::DateTime::from_timestamp_micros(n)
        .ok_or_else(|| DecodeError::invalid(format!("timestamp-micros {n} is out of range")))
}
#[inline]
pub fn put_timestamp_nanos(out: &mut Vec<u8>, v: &chrono::DateTime<chrono::Utc>) -> Put {
    let n = from_conv(crate::conv::timestamp_nanos(v), |x| match x {
        apache_avro::types::Value::TimestampNanos(n) => Some(n),
        _ => None,
    })?;
    write_long(out, n);
    Ok(())
}
#[inline]
pub fn read_timestamp_nanos(
    input: &mut &[u8],
) -> Result<chrono::DateTime<chrono::Utc>, DecodeError> {
    Ok(chrono::DateTime::from_timestamp_nanos(read_long(input)?))
}
#[inline]
pub fn put_local_timestamp_millis(out: &mut Vec<u8>, v: &chrono::NaiveDateTime) -> Put {
    put_timestamp_millis(out, &v.and_utc())
}
#[inline]
pub fn read_local_timestamp_millis(
    input: &mut &[u8],
) -> Result<chrono::NaiveDateTime, DecodeError> {
    read_timestamp_millis(input).map(|d| d.naive_utc())
}
#[inline]
pub fn put_local_timestamp_micros(out: &mut Vec<u8>, v: &chrono::NaiveDateTime) -> Put {
    put_timestamp_micros(out, &v.and_utc())
}
#[inline]
pub fn read_local_timestamp_micros(
    input: &mut &[u8],
) -> Result<chrono::NaiveDateTime, DecodeError> {
    read_timestamp_micros(input).map(|d| d.naive_utc())
}
#[inline]
pub fn put_local_timestamp_nanos(out: &mut Vec<u8>, v: &chrono::NaiveDateTime) -> Put {
    put_timestamp_nanos(out, &v.and_utc())
}
#[inline]
pub fn read_local_timestamp_nanos(input: &mut &[u8]) -> Result<chrono::NaiveDateTime, DecodeError> {
    read_timestamp_nanos(input).map(|d| d.naive_utc())
}
#[inline]
pub fn put_duration(out: &mut Vec<u8>, v: &crate::Duration) -> Put {
    write_duration(out, v);
    Ok(())
}
/// `big-decimal` (Avro 1.12) through apache-avro's own encoder for that type.
pub fn put_big_decimal(out: &mut Vec<u8>, v: &bigdecimal::BigDecimal) -> Put {
    let bytes = apache_avro::to_avro_datum(
        &apache_avro::Schema::BigDecimal,
        apache_avro::types::Value::BigDecimal(v.clone()),
    )
    .map_err(|e| EncodeError::Avro(Box::new(e)))?;
    out.extend_from_slice(&bytes);
    Ok(())
}
pub fn read_big_decimal(input: &mut &[u8]) -> Result<bigdecimal::BigDecimal, DecodeError> {
    let v = apache_avro::from_avro_datum(&apache_avro::Schema::BigDecimal, input, None)
        .map_err(|e| DecodeError::Avro(Box::new(e)))?;
    crate::conv::big_decimal_from(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_the_specification() {
        // specification examples: 0 → 00, -1 → 01, 1 → 02, -2 → 03, 2 → 04, -64 → 7f, 64 → 80 01
        for (n, bytes) in [
            (0i64, vec![0u8]),
            (-1, vec![1]),
            (1, vec![2]),
            (-2, vec![3]),
            (2, vec![4]),
            (-64, vec![0x7f]),
            (64, vec![0x80, 0x01]),
        ] {
            let mut out = Vec::new();
            write_long(&mut out, n);
            assert_eq!(out, bytes, "{n}");
            assert_eq!(read_long(&mut &out[..]).unwrap(), n);
        }
        for n in [i64::MIN, i64::MAX, i32::MIN as i64, i32::MAX as i64] {
            let mut out = Vec::new();
            write_long(&mut out, n);
            assert_eq!(read_long(&mut &out[..]).unwrap(), n);
        }
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(read_long(&mut &[0x80u8, 0x80][..]).is_err());
        assert!(read_long(&mut &[0xffu8; 11][..]).is_err());
        assert!(read_int(&mut &[0xfeu8, 0xff, 0xff, 0xff, 0x1f][..]).is_err());
        assert!(read_boolean(&mut &[2u8][..]).is_err());
        // a length far beyond the input allocates nothing and fails
        let mut huge = Vec::new();
        write_long(&mut huge, 1 << 40);
        assert!(read_bytes(&mut &huge[..])
            .unwrap_err()
            .to_string()
            .contains("only 0 remain"));
        assert!(read_string(&mut &[2u8, 0xff][..]).is_err());
        assert!(read_fixed::<4>(&mut &[1u8, 2][..]).is_err());
        assert!(read_index(&mut &[4u8][..], 2).is_err());
        // an array claiming 2^40 items in 3 bytes fails without reserving them
        let mut arr = Vec::new();
        write_long(&mut arr, 1 << 40);
        assert!(read_array(&mut &arr[..], read_int).is_err());
    }
}
