//! Field defaults: checking a JSON default against its type, as Avro Java does with default
//! validation on.

use crate::json::{Json, JsonValue};
use crate::model::*;

/// Why a JSON value is not a valid default for a type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DefaultError {
    /// The JSON value has the wrong JSON type (`want` says what was expected).
    #[error("expected {want}, found {found}")]
    Expected {
        want: &'static str,
        found: &'static str,
    },
    #[error("the number does not fit in an int")]
    IntOutOfRange,
    #[error("the number does not fit in a long")]
    LongOutOfRange,
    #[error("no branch of the union accepts it ({first})")]
    NoUnionBranch {
        /// Why the first branch refused it.
        first: Box<DefaultError>,
    },
    #[error("`{symbol}` is not a symbol of enum `{enum_name}`")]
    NotASymbol { symbol: String, enum_name: String },
    #[error("a fixed({size}) default is a string of {size} characters U+0000..U+00FF, found {found} characters")]
    FixedSize { size: usize, found: usize },
    #[error("missing field `{0}` (it has no default)")]
    MissingField(String),
    #[error("field `{field}`: {source}")]
    InField {
        field: String,
        #[source]
        source: Box<DefaultError>,
    },
    #[error("a union has no branch, so no default")]
    EmptyUnion,
}

/// A `float`/`double` default: a JSON number, or one of the strings `"NaN"`, `"Infinity"`,
/// `"-Infinity"` (how Avro Java and fastavro write the values JSON numbers cannot hold).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FloatDefault {
    /// A JSON number, parsed as an `f64` (numbers beyond `f64` become infinite).
    Number(f64),
    NaN,
    Infinity,
    NegInfinity,
}

impl FloatDefault {
    /// The value as an `f64`.
    pub fn to_f64(self) -> f64 {
        match self {
            FloatDefault::Number(n) => n,
            FloatDefault::NaN => f64::NAN,
            FloatDefault::Infinity => f64::INFINITY,
            FloatDefault::NegInfinity => f64::NEG_INFINITY,
        }
    }
}

/// Reads a `float`/`double` default; `None` if `d` is not one.
pub fn float_default(d: &Json) -> Option<FloatDefault> {
    match &d.value {
        JsonValue::Number(_) => d.as_f64().map(FloatDefault::Number),
        JsonValue::String(s) => match s.as_str() {
            "NaN" => Some(FloatDefault::NaN),
            "Infinity" => Some(FloatDefault::Infinity),
            "-Infinity" => Some(FloatDefault::NegInfinity),
            _ => None,
        },
        _ => None,
    }
}

/// Checks a field default against its type, as Avro Java does with default validation on.
pub fn validate_default(named: &[Named], ty: &Ty, d: &Json) -> Result<(), DefaultError> {
    let bad = |want: &'static str| {
        Err(DefaultError::Expected {
            want,
            found: d.kind(),
        })
    };
    match &ty.kind {
        TyKind::Null => match d.value {
            JsonValue::Null => Ok(()),
            _ => bad("null"),
        },
        TyKind::Boolean => match d.value {
            JsonValue::Bool(_) => Ok(()),
            _ => bad("a boolean"),
        },
        TyKind::Int => match d.as_i64() {
            Some(n) if i32::try_from(n).is_ok() => Ok(()),
            Some(_) => Err(DefaultError::IntOutOfRange),
            None => bad("an integer"),
        },
        TyKind::Long => match (&d.value, d.as_i64()) {
            (_, Some(_)) => Ok(()),
            (JsonValue::Number(n), None) if !n.contains(['.', 'e', 'E']) => {
                Err(DefaultError::LongOutOfRange)
            }
            _ => bad("an integer"),
        },
        TyKind::Float | TyKind::Double => match float_default(d) {
            Some(_) => Ok(()),
            None => bad("a number or \"NaN\", \"Infinity\", \"-Infinity\""),
        },
        TyKind::Bytes | TyKind::String => match d.value {
            JsonValue::String(_) => Ok(()),
            _ => bad("a string"),
        },
        TyKind::Array(items) => match &d.value {
            JsonValue::Array(a) => a.iter().try_for_each(|x| validate_default(named, items, x)),
            _ => bad("an array"),
        },
        TyKind::Map(values) => match &d.value {
            JsonValue::Object(m) => m
                .iter()
                .try_for_each(|(_, x)| validate_default(named, values, x)),
            _ => bad("an object"),
        },
        TyKind::Union(branches) => {
            let mut first_err = None;
            for b in branches {
                match validate_default(named, b, d) {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
            Err(match first_err {
                Some(e) => DefaultError::NoUnionBranch { first: Box::new(e) },
                None => DefaultError::EmptyUnion,
            })
        }
        TyKind::Named(id) => {
            let n = &named[*id];
            match &n.kind {
                NamedKind::Enum { symbols, .. } => match d.as_str() {
                    Some(s) if symbols.iter().any(|x| x == s) => Ok(()),
                    Some(s) => Err(DefaultError::NotASymbol {
                        symbol: s.to_string(),
                        enum_name: n.name.fullname(),
                    }),
                    None => bad("a string naming an enum symbol"),
                },
                NamedKind::Fixed { size, .. } => match d.as_str() {
                    Some(s)
                        if s.chars().count() == *size && s.chars().all(|c| (c as u32) < 256) =>
                    {
                        Ok(())
                    }
                    Some(s) => Err(DefaultError::FixedSize {
                        size: *size,
                        found: s.chars().count(),
                    }),
                    None => bad("a string"),
                },
                NamedKind::Record { fields, .. } => match d.as_object() {
                    Some(_) => {
                        for f in fields {
                            match (d.get(&f.name), &f.default) {
                                (Some(v), _) => validate_default(named, &f.ty, v).map_err(|e| {
                                    DefaultError::InField {
                                        field: f.name.clone(),
                                        source: Box::new(e),
                                    }
                                })?,
                                (None, Some(_)) => {}
                                (None, None) => {
                                    return Err(DefaultError::MissingField(f.name.clone()))
                                }
                            }
                        }
                        Ok(())
                    }
                    None => bad("an object"),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ty: &str, default: &str) -> Result<(), DefaultError> {
        let text =
            format!(r#"{{"type":"record","name":"R","fields":[{{"name":"f","type":{ty}}}]}}"#);
        let s = crate::Schema::parse(&text).unwrap();
        let d = crate::json::parse(default).unwrap();
        validate_default(&s.named, &s.named[0].fields()[0].ty, &d)
    }

    #[test]
    fn nan_and_infinities_are_float_defaults() {
        for t in ["\"float\"", "\"double\""] {
            for d in [
                "\"NaN\"",
                "\"Infinity\"",
                "\"-Infinity\"",
                "1.5",
                "-0",
                "1e400",
            ] {
                assert_eq!(check(t, d), Ok(()), "{t} {d}");
            }
            assert!(matches!(
                check(t, "\"nan\""),
                Err(DefaultError::Expected { .. })
            ));
            assert!(check(t, "\"inf\"").is_err());
        }
        assert!(check("\"string\"", "\"NaN\"").is_ok());
        assert!(matches!(
            check("\"int\"", "\"NaN\""),
            Err(DefaultError::Expected { .. })
        ));
    }

    #[test]
    fn a_number_beyond_f64_is_written_back_as_infinity() {
        let s = crate::Schema::parse(
            r#"{"type":"record","name":"R","fields":[{"name":"f","type":"double","default":-1e400},{"name":"g","type":"double","default":1e400}]}"#,
        )
        .unwrap();
        let text = s.to_json().to_string();
        assert!(text.contains(r#""default":"-Infinity""#), "{text}");
        assert!(text.contains(r#""default":"Infinity""#), "{text}");
        let again = crate::Schema::parse(&text).unwrap();
        assert_eq!(again.fingerprint(), s.fingerprint());
    }

    #[test]
    fn errors_are_typed_and_say_what_is_wrong() {
        assert_eq!(
            check("\"int\"", "3000000000"),
            Err(DefaultError::IntOutOfRange)
        );
        assert_eq!(
            check("[\"null\",\"int\"]", "\"x\"")
                .unwrap_err()
                .to_string(),
            "no branch of the union accepts it (expected null, found a string)"
        );
        assert_eq!(
            check(r#"{"type":"fixed","name":"F","size":2}"#, "\"abc\""),
            Err(DefaultError::FixedSize { size: 2, found: 3 })
        );
    }
}
