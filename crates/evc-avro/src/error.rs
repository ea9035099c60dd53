use std::fmt;

/// Where in a value an error happened: `items[3].price`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Path(Vec<String>);

impl Path {
    fn push_front(&mut self, seg: String) {
        self.0.insert(0, seg);
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("<root>");
        }
        let mut first = true;
        for s in &self.0 {
            if s.starts_with('[') || first {
                f.write_str(s)?;
            } else {
                write!(f, ".{s}")?;
            }
            first = false;
        }
        Ok(())
    }
}

/// A value that cannot be turned into Avro (a decimal with too many digits, a date out of range).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    #[error("{path}: {message}")]
    Value { path: Path, message: String },
    #[error("apache-avro could not encode the value: {0}")]
    Avro(#[from] Box<apache_avro::Error>),
}

impl EncodeError {
    pub fn value(message: impl Into<String>) -> Self {
        EncodeError::Value {
            path: Path::default(),
            message: message.into(),
        }
    }

    /// Adds a field name to the error's path.
    pub fn in_field(mut self, name: &str) -> Self {
        if let EncodeError::Value { path, .. } = &mut self {
            path.push_front(name.to_string());
        }
        self
    }

    /// Adds an index or key to the error's path.
    pub fn at(mut self, index: impl fmt::Display) -> Self {
        if let EncodeError::Value { path, .. } = &mut self {
            path.push_front(format!("[{index}]"));
        }
        self
    }
}

/// Avro data that does not fit the Rust type it is read into.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("{path}: expected {expected}, found {found}")]
    Unexpected {
        path: Path,
        expected: String,
        found: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: Path, message: String },
    #[error("the Avro data could not be read: {0}")]
    Avro(#[from] Box<apache_avro::Error>),
    #[error("unknown event type `{0}`")]
    UnknownEvent(String),
}

impl DecodeError {
    pub fn unexpected(expected: impl Into<String>, found: &apache_avro::types::Value) -> Self {
        DecodeError::Unexpected {
            path: Path::default(),
            expected: expected.into(),
            found: crate::conv::value_kind(found).to_string(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        DecodeError::Invalid {
            path: Path::default(),
            message: message.into(),
        }
    }

    /// Adds a field name to the error's path.
    pub fn in_field(mut self, name: &str) -> Self {
        if let DecodeError::Unexpected { path, .. } | DecodeError::Invalid { path, .. } = &mut self
        {
            path.push_front(name.to_string());
        }
        self
    }

    /// Adds an index or key to the error's path.
    pub fn at(mut self, index: impl fmt::Display) -> Self {
        if let DecodeError::Unexpected { path, .. } | DecodeError::Invalid { path, .. } = &mut self
        {
            path.push_front(format!("[{index}]"));
        }
        self
    }
}

/// A schema text that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaLoadError {
    #[error("invalid schema: {0}")]
    Invalid(#[from] evc_schema::SchemaError),
    #[error("apache-avro rejected the schema: {0}")]
    Avro(#[from] Box<apache_avro::Error>),
    /// A valid schema apache-avro 0.21 cannot take (evc's generated binary encoder and decoder
    /// handle it; the apache-avro path does not).
    #[error(transparent)]
    ApacheAvro(#[from] evc_schema::ApacheAvroLimit),
}
