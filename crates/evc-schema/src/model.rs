//! The schema model: what an Avro schema is, once parsed.

use crate::json::{Json, Span};

/// A name and its namespace (`None` is the null namespace).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name {
    pub name: String,
    pub namespace: Option<String>,
}

impl Name {
    /// `namespace.name`, or `name` in the null namespace.
    pub fn fullname(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}.{}", self.name),
            None => self.name.clone(),
        }
    }

    /// Splits a dotted full name. A leading dot (`.X`) is the null namespace, as in Avro Java
    /// (which turns an empty namespace into none): the full name is `X`.
    pub fn from_fullname(full: &str) -> Name {
        match full.rfind('.') {
            Some(0) => Name {
                name: full[1..].to_string(),
                namespace: None,
            },
            Some(i) => Name {
                name: full[i + 1..].to_string(),
                namespace: Some(full[..i].to_string()),
            },
            None => Name {
                name: full.to_string(),
                namespace: None,
            },
        }
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.fullname())
    }
}

/// Avro logical types (specification 1.12, "Logical Types").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Logical {
    Decimal { precision: u32, scale: u32 },
    BigDecimal,
    Uuid,
    Date,
    TimeMillis,
    TimeMicros,
    TimestampMillis,
    TimestampMicros,
    TimestampNanos,
    LocalTimestampMillis,
    LocalTimestampMicros,
    LocalTimestampNanos,
    Duration,
}

impl Logical {
    /// The `logicalType` attribute value.
    pub fn name(&self) -> &'static str {
        match self {
            Logical::Decimal { .. } => "decimal",
            Logical::BigDecimal => "big-decimal",
            Logical::Uuid => "uuid",
            Logical::Date => "date",
            Logical::TimeMillis => "time-millis",
            Logical::TimeMicros => "time-micros",
            Logical::TimestampMillis => "timestamp-millis",
            Logical::TimestampMicros => "timestamp-micros",
            Logical::TimestampNanos => "timestamp-nanos",
            Logical::LocalTimestampMillis => "local-timestamp-millis",
            Logical::LocalTimestampMicros => "local-timestamp-micros",
            Logical::LocalTimestampNanos => "local-timestamp-nanos",
            Logical::Duration => "duration",
        }
    }
}

/// A logical type the parser saw but ignored, as the specification requires for unknown or
/// invalid ones; kept so that linters can warn about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredLogical {
    pub logical_type: String,
    pub reason: String,
    pub span: Span,
}

/// Field sort order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    Ascending,
    Descending,
    Ignore,
}

/// Index of a named type in [`Schema::named`].
pub type NamedId = usize;

/// What a type is.
#[derive(Debug, Clone, PartialEq)]
pub enum TyKind {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Array(Box<Ty>),
    Map(Box<Ty>),
    Union(Vec<Ty>),
    /// A record, enum or fixed, defined here or referred to by name.
    Named(NamedId),
}

/// One occurrence of a type in a schema, with where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Ty {
    pub kind: TyKind,
    /// Logical type on a primitive (logical types of fixed live on the named type).
    pub logical: Option<Logical>,
    pub ignored_logical: Option<IgnoredLogical>,
    /// Source bytes of this type's JSON.
    pub span: Span,
    /// JSON pointer of this type in the schema document, e.g. `/fields/1/type`.
    pub pointer: String,
}

impl Ty {
    /// A type with no position (for schemas built in code).
    pub fn new(kind: TyKind) -> Ty {
        Ty {
            kind,
            logical: None,
            ignored_logical: None,
            span: Span::default(),
            pointer: String::new(),
        }
    }

    /// The Avro type name for messages: `int`, `array`, `union`, or a named type's full name.
    pub fn describe(&self, schema: &Schema) -> String {
        match &self.kind {
            TyKind::Null => "null".into(),
            TyKind::Boolean => "boolean".into(),
            TyKind::Int => "int".into(),
            TyKind::Long => "long".into(),
            TyKind::Float => "float".into(),
            TyKind::Double => "double".into(),
            TyKind::Bytes => "bytes".into(),
            TyKind::String => "string".into(),
            TyKind::Array(i) => format!("array<{}>", i.describe(schema)),
            TyKind::Map(v) => format!("map<{}>", v.describe(schema)),
            TyKind::Union(b) => format!(
                "union[{}]",
                b.iter()
                    .map(|t| t.describe(schema))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            TyKind::Named(id) => schema.named[*id].name.fullname(),
        }
    }

    /// True for `null`.
    pub fn is_null(&self) -> bool {
        matches!(self.kind, TyKind::Null)
    }
}

/// A record field.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub aliases: Vec<String>,
    pub doc: Option<String>,
    pub ty: Ty,
    pub default: Option<Json>,
    pub order: Order,
    /// Span of the whole field object.
    pub span: Span,
    /// Span of the field's name string.
    pub name_span: Span,
    /// JSON pointer of the field object, e.g. `/fields/1`.
    pub pointer: String,
}

/// What kind of named type.
#[derive(Debug, Clone, PartialEq)]
pub enum NamedKind {
    Record {
        fields: Vec<Field>,
        /// Declared with `"type": "error"` (a record in every respect but the keyword).
        error: bool,
    },
    Enum {
        symbols: Vec<String>,
        default: Option<String>,
    },
    Fixed {
        size: usize,
        logical: Option<Logical>,
        ignored_logical: Option<IgnoredLogical>,
    },
}

/// A record, enum or fixed definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    pub name: Name,
    /// Aliases, resolved to full names.
    pub aliases: Vec<Name>,
    pub doc: Option<String>,
    pub kind: NamedKind,
    /// Span of the definition object.
    pub span: Span,
    /// Span of the `name` value.
    pub name_span: Span,
    /// JSON pointer of the definition.
    pub pointer: String,
    /// Defined in a referenced schema rather than this one.
    pub external: bool,
}

impl Named {
    pub fn fields(&self) -> &[Field] {
        match &self.kind {
            NamedKind::Record { fields, .. } => fields,
            _ => &[],
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            NamedKind::Record { error: false, .. } => "record",
            NamedKind::Record { error: true, .. } => "error",
            NamedKind::Enum { .. } => "enum",
            NamedKind::Fixed { .. } => "fixed",
        }
    }
}

/// A parsed schema: the root type and every named type it defines or imports.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub root: Ty,
    pub named: Vec<Named>,
}

impl Schema {
    /// Looks a named type up by full name.
    pub fn lookup(&self, fullname: &str) -> Option<NamedId> {
        self.named
            .iter()
            .position(|n| n.name.fullname() == fullname)
    }

    /// The named type behind `ty`, if it is one.
    pub fn named_of(&self, ty: &Ty) -> Option<&Named> {
        match ty.kind {
            TyKind::Named(id) => Some(&self.named[id]),
            _ => None,
        }
    }

    /// The root named type (the record of an event schema).
    pub fn root_named(&self) -> Option<&Named> {
        self.named_of(&self.root)
    }

    /// The full name of the root type if it is named, else its type name.
    pub fn root_name(&self) -> String {
        self.root.describe(self)
    }
}
