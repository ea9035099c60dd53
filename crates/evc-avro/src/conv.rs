//! Conversions between Rust values and `apache_avro::types::Value`, one per Avro type.
//!
//! Generated code calls these; they are public so that hand-written types can use them too.
//! `*_from` functions accept the value shapes apache-avro produces for the type, including the
//! plain underlying type of a logical type (what a writer without the logical type sends).

use std::collections::HashMap;

use crate::AvroMap;

use apache_avro::types::Value;
use bigdecimal::BigDecimal;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use num_bigint::BigInt;
use uuid::Uuid;

use crate::{DecodeError, Duration, EncodeError};

type Enc = Result<Value, EncodeError>;
type Dec<T> = Result<T, DecodeError>;

/// A short name for the kind of an Avro value, for messages.
pub fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Boolean(_) => "boolean",
        Value::Int(_) => "int",
        Value::Long(_) => "long",
        Value::Float(_) => "float",
        Value::Double(_) => "double",
        Value::Bytes(_) => "bytes",
        Value::String(_) => "string",
        Value::Fixed(..) => "fixed",
        Value::Enum(..) => "enum",
        Value::Union(..) => "union",
        Value::Array(_) => "array",
        Value::Map(_) => "map",
        Value::Record(_) => "record",
        Value::Date(_) => "date",
        Value::Decimal(_) => "decimal",
        Value::BigDecimal(_) => "big-decimal",
        Value::TimeMillis(_) => "time-millis",
        Value::TimeMicros(_) => "time-micros",
        Value::TimestampMillis(_) => "timestamp-millis",
        Value::TimestampMicros(_) => "timestamp-micros",
        Value::TimestampNanos(_) => "timestamp-nanos",
        Value::LocalTimestampMillis(_) => "local-timestamp-millis",
        Value::LocalTimestampMicros(_) => "local-timestamp-micros",
        Value::LocalTimestampNanos(_) => "local-timestamp-nanos",
        Value::Duration(_) => "duration",
        Value::Uuid(_) => "uuid",
    }
}

/// Strips a union wrapper, if any.
fn plain(v: Value) -> Value {
    match v {
        Value::Union(_, inner) => *inner,
        v => v,
    }
}

// ---- primitives ----

pub fn null(_: &()) -> Enc {
    Ok(Value::Null)
}
pub fn null_from(v: Value) -> Dec<()> {
    match plain(v) {
        Value::Null => Ok(()),
        v => Err(DecodeError::unexpected("null", &v)),
    }
}
pub fn boolean(v: &bool) -> Enc {
    Ok(Value::Boolean(*v))
}
pub fn boolean_from(v: Value) -> Dec<bool> {
    match plain(v) {
        Value::Boolean(b) => Ok(b),
        v => Err(DecodeError::unexpected("boolean", &v)),
    }
}
pub fn int(v: &i32) -> Enc {
    Ok(Value::Int(*v))
}
pub fn int_from(v: Value) -> Dec<i32> {
    match plain(v) {
        Value::Int(n) | Value::Date(n) | Value::TimeMillis(n) => Ok(n),
        v => Err(DecodeError::unexpected("int", &v)),
    }
}
pub fn long(v: &i64) -> Enc {
    Ok(Value::Long(*v))
}
pub fn long_from(v: Value) -> Dec<i64> {
    match plain(v) {
        Value::Long(n)
        | Value::TimeMicros(n)
        | Value::TimestampMillis(n)
        | Value::TimestampMicros(n)
        | Value::TimestampNanos(n)
        | Value::LocalTimestampMillis(n)
        | Value::LocalTimestampMicros(n)
        | Value::LocalTimestampNanos(n) => Ok(n),
        Value::Int(n) => Ok(n as i64),
        v => Err(DecodeError::unexpected("long", &v)),
    }
}
pub fn float(v: &f32) -> Enc {
    Ok(Value::Float(*v))
}
pub fn float_from(v: Value) -> Dec<f32> {
    match plain(v) {
        Value::Float(n) => Ok(n),
        Value::Int(n) => Ok(n as f32),
        Value::Long(n) => Ok(n as f32),
        v => Err(DecodeError::unexpected("float", &v)),
    }
}
pub fn double(v: &f64) -> Enc {
    Ok(Value::Double(*v))
}
pub fn double_from(v: Value) -> Dec<f64> {
    match plain(v) {
        Value::Double(n) => Ok(n),
        Value::Float(n) => Ok(n as f64),
        Value::Int(n) => Ok(n as f64),
        Value::Long(n) => Ok(n as f64),
        v => Err(DecodeError::unexpected("double", &v)),
    }
}
pub fn bytes(v: &[u8]) -> Enc {
    Ok(Value::Bytes(v.to_vec()))
}
pub fn bytes_from(v: Value) -> Dec<Vec<u8>> {
    match plain(v) {
        Value::Bytes(b) => Ok(b),
        Value::String(s) => Ok(s.into_bytes()),
        v => Err(DecodeError::unexpected("bytes", &v)),
    }
}
pub fn string(v: &str) -> Enc {
    Ok(Value::String(v.to_string()))
}
pub fn string_from(v: Value) -> Dec<String> {
    match plain(v) {
        Value::String(s) => Ok(s),
        Value::Bytes(b) => String::from_utf8(b)
            .map_err(|_| DecodeError::invalid("bytes read as a string are not valid UTF-8")),
        Value::Uuid(u) => Ok(u.to_string()),
        v => Err(DecodeError::unexpected("string", &v)),
    }
}

// ---- fixed ----

pub fn fixed<const N: usize>(v: &[u8; N]) -> Enc {
    Ok(Value::Fixed(N, v.to_vec()))
}
pub fn fixed_from<const N: usize>(v: Value) -> Dec<[u8; N]> {
    match plain(v) {
        Value::Fixed(_, b) | Value::Bytes(b) => {
            let len = b.len();
            b.try_into()
                .map_err(|_| DecodeError::invalid(format!("expected {N} bytes, found {len}")))
        }
        v => Err(DecodeError::unexpected(format!("fixed({N})"), &v)),
    }
}

// ---- containers ----

pub fn array<T>(items: &[T], f: impl Fn(&T) -> Enc) -> Enc {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        out.push(f(item).map_err(|e| e.at(i))?);
    }
    Ok(Value::Array(out))
}
pub fn array_from<T>(v: Value, f: impl Fn(Value) -> Dec<T>) -> Dec<Vec<T>> {
    match plain(v) {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| f(item).map_err(|e| e.at(i)))
            .collect(),
        v => Err(DecodeError::unexpected("array", &v)),
    }
}
/// A map value (apache-avro's `Value::Map` keeps no order: the entry order is lost here, unlike
/// in [`crate::binary::write_map`]).
pub fn map<T>(m: &AvroMap<T>, f: impl Fn(&T) -> Enc) -> Enc {
    let mut out = HashMap::with_capacity(m.len());
    for (k, item) in m {
        out.insert(k.clone(), f(item).map_err(|e| e.at(format!("{k:?}")))?);
    }
    Ok(Value::Map(out))
}
/// A map from an apache-avro value, in the (unspecified) order of its `HashMap`.
pub fn map_from<T>(v: Value, f: impl Fn(Value) -> Dec<T>) -> Dec<AvroMap<T>> {
    match plain(v) {
        Value::Map(m) => m
            .into_iter()
            .map(|(k, item)| {
                let val = f(item).map_err(|e| e.at(format!("{k:?}")))?;
                Ok((k, val))
            })
            .collect(),
        v => Err(DecodeError::unexpected("map", &v)),
    }
}

/// Wraps an encoded branch in its union index.
pub fn union(index: u32, v: Enc) -> Enc {
    Ok(Value::Union(index, Box::new(v?)))
}
/// The branch index and value of a union value (index 0 for a value that is not wrapped).
pub fn union_from(v: Value) -> Dec<(u32, Value)> {
    match v {
        Value::Union(i, inner) => Ok((i, *inner)),
        v => Err(DecodeError::unexpected("union", &v)),
    }
}
/// An optional value: a union in which `null` stands at `null_index` and the value at `index`.
pub fn option<T>(v: &Option<T>, null_index: u32, index: u32, f: impl Fn(&T) -> Enc) -> Enc {
    match v {
        None => Ok(Value::Union(null_index, Box::new(Value::Null))),
        Some(x) => Ok(Value::Union(index, Box::new(f(x)?))),
    }
}
/// An optional value whose encoder already wraps it in its union branch (a generated union
/// enum): `null` stands at `null_index`.
pub fn option_wrapped<T>(v: &Option<T>, null_index: u32, f: impl Fn(&T) -> Enc) -> Enc {
    match v {
        None => Ok(Value::Union(null_index, Box::new(Value::Null))),
        Some(x) => f(x),
    }
}
/// Reads an optional value; `f` gets the value still wrapped in its union branch.
pub fn option_from<T>(v: Value, f: impl Fn(Value) -> Dec<T>) -> Dec<Option<T>> {
    match v {
        Value::Null => Ok(None),
        Value::Union(_, inner) if matches!(*inner, Value::Null) => Ok(None),
        v => f(v).map(Some),
    }
}

/// The fields of a record value.
pub fn record_from(v: Value, name: &str) -> Dec<Vec<(String, Value)>> {
    match plain(v) {
        Value::Record(fields) => Ok(fields),
        v => Err(DecodeError::unexpected(format!("record `{name}`"), &v)),
    }
}
/// Takes field `name`, expected at `index`, out of a record's fields.
pub fn take_field(fields: &mut [(String, Value)], index: usize, name: &str) -> Dec<Value> {
    let slot = match fields.get_mut(index) {
        Some((n, v)) if n == name => v,
        _ => match fields.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => v,
            None => {
                return Err(
                    DecodeError::invalid("the field is missing from the record").in_field(name)
                )
            }
        },
    };
    Ok(std::mem::replace(slot, Value::Null))
}
/// The symbol of an enum value.
pub fn enum_symbol_from(v: Value, name: &str) -> Dec<String> {
    match plain(v) {
        Value::Enum(_, s) | Value::String(s) => Ok(s),
        v => Err(DecodeError::unexpected(format!("enum `{name}`"), &v)),
    }
}
/// An enum value.
pub fn enum_symbol(index: u32, symbol: &str) -> Enc {
    Ok(Value::Enum(index, symbol.to_string()))
}

// ---- logical types ----

pub fn uuid(v: &Uuid) -> Enc {
    Ok(Value::Uuid(*v))
}
/// A uuid stored in a `fixed(16)`.
pub fn uuid_fixed(v: &Uuid) -> Enc {
    Ok(Value::Fixed(16, v.as_bytes().to_vec()))
}
pub fn uuid_from(v: Value) -> Dec<Uuid> {
    match plain(v) {
        Value::Uuid(u) => Ok(u),
        Value::String(s) => Uuid::parse_str(&s)
            .map_err(|e| DecodeError::invalid(format!("`{s}` is not a uuid: {e}"))),
        Value::Fixed(16, b) | Value::Bytes(b) if b.len() == 16 => {
            Ok(Uuid::from_slice(&b).expect("16 bytes"))
        }
        v => Err(DecodeError::unexpected("uuid", &v)),
    }
}

const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

pub fn date(v: &NaiveDate) -> Enc {
    Ok(Value::Date(v.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE))
}
pub fn date_from(v: Value) -> Dec<NaiveDate> {
    let days = int_from(v)?;
    days.checked_add(UNIX_EPOCH_DAYS_FROM_CE)
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .ok_or_else(|| {
            DecodeError::invalid(format!("date {days} days from 1970-01-01 is out of range"))
        })
}

pub fn time_millis(v: &NaiveTime) -> Enc {
    let ms = v.num_seconds_from_midnight() as i64 * 1000 + (v.nanosecond() as i64 / 1_000_000);
    Ok(Value::TimeMillis(ms as i32))
}
pub fn time_millis_from(v: Value) -> Dec<NaiveTime> {
    let ms = int_from(v)?;
    if !(0..86_400_000).contains(&ms) {
        return Err(DecodeError::invalid(format!(
            "time-millis {ms} is not within one day"
        )));
    }
    Ok(NaiveTime::from_num_seconds_from_midnight_opt(
        (ms / 1000) as u32,
        (ms % 1000) as u32 * 1_000_000,
    )
    .expect("checked range"))
}
pub fn time_micros(v: &NaiveTime) -> Enc {
    let us = v.num_seconds_from_midnight() as i64 * 1_000_000 + (v.nanosecond() as i64 / 1000);
    Ok(Value::TimeMicros(us))
}
pub fn time_micros_from(v: Value) -> Dec<NaiveTime> {
    let us = long_from(v)?;
    if !(0..86_400_000_000).contains(&us) {
        return Err(DecodeError::invalid(format!(
            "time-micros {us} is not within one day"
        )));
    }
    Ok(NaiveTime::from_num_seconds_from_midnight_opt(
        (us / 1_000_000) as u32,
        (us % 1_000_000) as u32 * 1000,
    )
    .expect("checked range"))
}

/// Encodes at millisecond precision (finer parts are truncated, as the schema's unit says).
pub fn timestamp_millis(v: &DateTime<Utc>) -> Enc {
    Ok(Value::TimestampMillis(v.timestamp_millis()))
}
pub fn timestamp_millis_from(v: Value) -> Dec<DateTime<Utc>> {
    let n = long_from(v)?;
    DateTime::from_timestamp_millis(n)
        .ok_or_else(|| DecodeError::invalid(format!("timestamp-millis {n} is out of range")))
}
pub fn timestamp_micros(v: &DateTime<Utc>) -> Enc {
    Ok(Value::TimestampMicros(v.timestamp_micros()))
}
pub fn timestamp_micros_from(v: Value) -> Dec<DateTime<Utc>> {
    let n = long_from(v)?;
    DateTime::from_timestamp_micros(n)
        .ok_or_else(|| DecodeError::invalid(format!("timestamp-micros {n} is out of range")))
}
pub fn timestamp_nanos(v: &DateTime<Utc>) -> Enc {
    v.timestamp_nanos_opt()
        .map(Value::TimestampNanos)
        .ok_or_else(|| {
            EncodeError::value(format!(
                "{v} does not fit in timestamp-nanos (years 1677 to 2262)"
            ))
        })
}
pub fn timestamp_nanos_from(v: Value) -> Dec<DateTime<Utc>> {
    Ok(DateTime::from_timestamp_nanos(long_from(v)?))
}
pub fn local_timestamp_millis(v: &NaiveDateTime) -> Enc {
    Ok(Value::LocalTimestampMillis(v.and_utc().timestamp_millis()))
}
pub fn local_timestamp_millis_from(v: Value) -> Dec<NaiveDateTime> {
    timestamp_millis_from(v).map(|d| d.naive_utc())
}
pub fn local_timestamp_micros(v: &NaiveDateTime) -> Enc {
    Ok(Value::LocalTimestampMicros(v.and_utc().timestamp_micros()))
}
pub fn local_timestamp_micros_from(v: Value) -> Dec<NaiveDateTime> {
    timestamp_micros_from(v).map(|d| d.naive_utc())
}
pub fn local_timestamp_nanos(v: &NaiveDateTime) -> Enc {
    v.and_utc()
        .timestamp_nanos_opt()
        .map(Value::LocalTimestampNanos)
        .ok_or_else(|| {
            EncodeError::value(format!(
                "{v} does not fit in local-timestamp-nanos (years 1677 to 2262)"
            ))
        })
}
pub fn local_timestamp_nanos_from(v: Value) -> Dec<NaiveDateTime> {
    timestamp_nanos_from(v).map(|d| d.naive_utc())
}

/// The unscaled integer of `v` at exactly `scale` decimal places, refusing to round.
fn unscaled(v: &BigDecimal, scale: u32) -> Result<BigInt, EncodeError> {
    let (digits, exp) = v.as_bigint_and_exponent();
    let scale = scale as i64;
    if exp > scale {
        let factor = BigInt::from(10u8).pow((exp - scale) as u32);
        let (q, r) = (&digits / &factor, &digits % &factor);
        if r != BigInt::from(0u8) {
            return Err(EncodeError::value(format!(
                "{v} has more than {scale} decimal places; round it explicitly before encoding"
            )));
        }
        Ok(q)
    } else {
        Ok(digits * BigInt::from(10u8).pow((scale - exp) as u32))
    }
}

/// A `decimal(precision, scale)` on `bytes` (`fixed_size: None`) or `fixed(size)`.
pub fn decimal(v: &BigDecimal, precision: u32, scale: u32, fixed_size: Option<usize>) -> Enc {
    let n = unscaled(v, scale)?;
    let limit = BigInt::from(10u8).pow(precision);
    if n >= limit || n <= -limit {
        return Err(EncodeError::value(format!(
            "{v} has more than {precision} significant digits (decimal({precision}, {scale}))"
        )));
    }
    let mut raw = n.to_signed_bytes_be();
    // apache-avro 0.21 refuses a `bytes` decimal shorter than its precision could need, so
    // sign-extend to that length (any length is valid Avro; readers take the value, not the width).
    let size = fixed_size.unwrap_or_else(|| decimal_bytes_for_precision(precision));
    if raw.len() > size && fixed_size.is_some() {
        return Err(EncodeError::value(format!(
            "{v} does not fit in fixed({size})"
        )));
    }
    if raw.len() < size {
        let sign = if n < BigInt::from(0u8) { 0xff } else { 0 };
        let mut ext = vec![sign; size - raw.len()];
        ext.extend_from_slice(&raw);
        raw = ext;
    }
    Ok(Value::Decimal(apache_avro::Decimal::from(raw)))
}
/// The fewest bytes whose two's complement holds every number of `precision` digits.
pub fn decimal_bytes_for_precision(precision: u32) -> usize {
    (1..)
        .find(|&len| evc_schema::max_decimal_digits(len) >= precision as u64)
        .unwrap_or(1)
}

pub fn decimal_from(v: Value, scale: u32) -> Dec<BigDecimal> {
    let n = match plain(v) {
        Value::Decimal(d) => BigInt::from(d),
        Value::Bytes(b) | Value::Fixed(_, b) => BigInt::from_signed_bytes_be(&b),
        v => return Err(DecodeError::unexpected("decimal", &v)),
    };
    Ok(BigDecimal::new(n, scale as i64))
}
pub fn big_decimal(v: &BigDecimal) -> Enc {
    Ok(Value::BigDecimal(v.clone()))
}
pub fn big_decimal_from(v: Value) -> Dec<BigDecimal> {
    match plain(v) {
        Value::BigDecimal(d) => Ok(d),
        v => Err(DecodeError::unexpected("big-decimal", &v)),
    }
}

pub fn duration(v: &Duration) -> Enc {
    use apache_avro::{Days, Millis, Months};
    Ok(Value::Duration(apache_avro::Duration::new(
        Months::new(v.months),
        Days::new(v.days),
        Millis::new(v.millis),
    )))
}
pub fn duration_from(v: Value) -> Dec<Duration> {
    match plain(v) {
        Value::Duration(d) => Ok(Duration {
            months: u32::from(d.months()),
            days: u32::from(d.days()),
            millis: u32::from(d.millis()),
        }),
        Value::Fixed(12, b) => {
            let w = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
            Ok(Duration {
                months: w(0),
                days: w(4),
                millis: w(8),
            })
        }
        v => Err(DecodeError::unexpected("duration", &v)),
    }
}
