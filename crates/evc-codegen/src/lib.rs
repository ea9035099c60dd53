//! Code generation: Avro schemas to typed Rust.
//!
//! **Owns:** turning an evc schema model into a Rust module (structs for records, enums for
//! enums and multi-branch unions, newtypes for fixed, `Option` for `null` in any union
//! position, `Box` where records recurse, namespaces as modules, maps as the insertion-ordered
//! `evc_avro::AvroMap`, logical types as `uuid`, `chrono` and `bigdecimal` types, a wrapper
//! struct for a top-level type without a name), the events crate layout for a whole schema
//! directory (`v1::OrderCreated`, latest re-exported, one enum per topic), the handlebars
//! templates in `templates/`, and formatting with rustfmt.
//!
//! **Does not own:** reading files (`evc-catalog`), writing files and the freshness check
//! (`xtask`), or the runtime the generated code calls (`evc-avro`).
//!
//! # Every schema Avro accepts generates
//!
//! **Names.** Avro names become Rust identifiers by these rules, applied in this order:
//! 1. fields and modules become `snake_case`, types and variants `CamelCase`
//!    (`orderId` → `order_id`, `BANK_TRANSFER` → `BankTransfer`);
//! 2. a letter or digit outside ASCII becomes the word `u` + its code point in hex
//!    (`café` → `caf_u00e9`, `Ré` → `RU00e9`);
//! 3. keywords become raw identifiers (`r#type`); `self`, `Self`, `super`, `crate` get a
//!    trailing `_`, and `_` becomes `__`;
//! 4. names that still clash within one Rust scope (the types, union enums and sub-modules of a
//!    module; the fields of a record; the variants of an enum or union) are claimed in schema
//!    order: the first keeps its name, each later one takes the first free numeric suffix from 2
//!    (`Order`, `Order2`, `Order3`; `foo_bar`, `foo_bar_2`). A type of the null namespace lands
//!    in the root module next to the root namespace's types and is renamed the same way. Enum
//!    symbols that clash get their index (`A`, `A1`), union branches of the same short name
//!    their full name (`Ns_Order`).
//!
//! The Avro names never change: they are what is encoded, decoded and registered, and a
//! renamed field says its Avro name in its doc.
//!
//! **Docs** of any content compile warning-free and never become doctests (see `docs.rs`).
//! **Defaults** that no Rust value can hold (a date or timestamp beyond chrono's range, a
//! `uuid` default that is no uuid, `big-decimal`) are kept in the schema for resolution, and
//! the record simply has no `Default` impl; `NaN` and the infinities are `f64::NAN` etc.
//!
//! Nothing Avro accepts is refused for a Rust reason; [`CodegenError`] only carries evc's event
//! rules (an event is a record with a string, uuid, int or long partition key), template and
//! rustfmt failures.
//!
//! **Known limits** (generated, but worth knowing): a `fixed` is an inline `[u8; N]`, so a fixed
//! of several MiB needs a thread stack to match; values that chrono cannot hold (dates beyond
//! ±262,000 years) are decode errors naming the field; apache-avro 0.21 cannot take some valid
//! schemas (non-ASCII names, a null-namespace type next to a namesake, two decimal branches in
//! one union), so for those only the generated binary codec works, and `AvroSchema::schema()`
//! (the apache-avro path) panics with the reason; `evc_avro::load_schema` returns it as an error.
//!
//! ```
//! use evc_codegen::{Templates, ModuleOptions, generate_module};
//!
//! let schema = evc_schema::Schema::parse(r#"{"type":"record","name":"Ping","fields":[{"name":"type","type":"string"}]}"#).unwrap();
//! let opts = ModuleOptions { source: "ping.avsc".into(), root_name: "ping".into(), event: None };
//! let code = generate_module(&Templates::new(), &schema, &opts).unwrap();
//! assert!(code.contains("pub r#type: ::std::string::String"));
//! ```

mod defaults;
mod docs;
mod emit;
mod events;
mod items;
mod model;
mod module;
mod names;
mod project;
mod templates;

pub use events::{existing_files, generate_catalog, output_dir, GeneratedFile};
pub use module::{
    generate_module, generate_module_with_root, EventInfo, GeneratedModule, ModuleOptions,
};
pub use names::{camel, snake};
pub use project::{generate_schema_dir, inline_modules, sync, Change, Output, ProjectError};
pub use templates::{format_rust, Templates};

/// What can go wrong while generating.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodegenError {
    /// An event (a schema of the catalog) whose top level is not a record.
    #[error("`{name}` (on topic `{topic}`) cannot be an event: an event must be a record")]
    EventNotRecord { name: String, topic: String },
    #[error("`{record}` has no partition key field `{field}`")]
    MissingPartitionKey { record: String, field: String },
    #[error("partition key `{field}` must be a string, uuid, int or long, not {found}")]
    PartitionKeyType { field: String, found: String },
    /// Two events whose Rust modules would be the same.
    #[error("two events are named `{0}` (in different namespaces); give them distinct names")]
    DuplicateEventName(String),
    #[error("template error: {0}")]
    Template(#[from] Box<handlebars::RenderError>),
    #[error("cannot run rustfmt ({0}); install it with `rustup component add rustfmt`")]
    RustfmtNotFound(#[source] std::io::Error),
    #[error("talking to rustfmt failed: {0}")]
    RustfmtIo(#[source] std::io::Error),
    #[error("rustfmt rejected the generated code: {stderr}")]
    RustfmtRejected { stderr: String },
    #[error("{file}: {source}")]
    InFile {
        file: String,
        #[source]
        source: Box<CodegenError>,
    },
}
