//! The reader/writer check: Avro schema resolution as Avro Java's
//! `org.apache.avro.SchemaCompatibility` decides it.
//!
//! The walk follows Java's `ReaderWriterCompatibilityChecker` step for step, because its
//! verdicts *and* the number and order of the incompatibilities it reports depend on the order in
//! which it visits reader/writer pairs and on its memo (see the crate docs for the quirks).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A fast, non-cryptographic hasher for the memo's small integer keys (the keys are not
/// attacker-chosen: they are indexes and addresses).
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}
use std::fmt::Write as _;
use std::rc::Rc;

use evc_schema::json::Span;
use evc_schema::{Field, Named, NamedKind, Schema, Ty, TyKind};

use crate::report::{
    AmbiguousField, AvroType, CheckError, Detail, Incompatibility, IncompatibilityKind,
};

/// Checks whether data written with `writer` can be read with `reader`, and reports every
/// incompatibility, in the order Avro Java's `SchemaCompatibility` reports them.
///
/// An empty list means compatible. Locations point into the **reader** schema.
///
/// ```
/// use evc_compat::{check, IncompatibilityKind};
/// use evc_schema::Schema;
///
/// let v1 = Schema::parse(r#"{"type": "record", "name": "Payment", "fields": [
///     {"name": "amount", "type": "int"},
///     {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["OK", "FAILED"]}}
/// ]}"#).unwrap();
/// let v2 = Schema::parse(r#"{"type": "record", "name": "Payment", "fields": [
///     {"name": "amount", "type": "long"},
///     {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["OK", "FAILED", "PENDING"]}},
///     {"name": "note", "type": ["null", "string"], "default": null}
/// ]}"#).unwrap();
///
/// // v2 reads v1 data: int is promoted to long, the new field has a default.
/// assert!(check(&v2, &v1).unwrap().is_empty());
///
/// // v1 cannot read v2 data: long does not narrow to int, and PENDING is unknown to v1.
/// let found = check(&v1, &v2).unwrap();
/// let summary: Vec<_> = found.iter().map(|i| (i.kind, i.location.as_str())).collect();
/// assert_eq!(summary, [
///     (IncompatibilityKind::TypeMismatch, "/fields/0/type"),
///     (IncompatibilityKind::MissingEnumSymbols, "/fields/1/type/symbols"),
/// ]);
/// ```
///
/// # Errors
///
/// [`CheckError::AmbiguousField`] when a reader field matches several writer fields by its name
/// and aliases (Java throws there).
pub fn check(reader: &Schema, writer: &Schema) -> Result<Vec<Incompatibility>, CheckError> {
    let mut c = Checker {
        r: reader,
        w: writer,
        memo: HashMap::default(),
        stack: Vec::new(),
    };
    let found = c.pair(&reader.root, false, &writer.root)?;
    Ok(found.into_iter().map(Found::finish).collect())
}

/// `true` when `reader` can read everything written with `writer`: [`check`] found nothing.
///
/// A check that fails with a [`CheckError`] counts as incompatible, as in Confluent Schema
/// Registry.
///
/// ```
/// use evc_compat::is_compatible;
/// use evc_schema::Schema;
///
/// let int = Schema::parse(r#""int""#).unwrap();
/// let long = Schema::parse(r#""long""#).unwrap();
/// assert!(is_compatible(&long, &int));
/// assert!(!is_compatible(&int, &long));
/// ```
pub fn is_compatible(reader: &Schema, writer: &Schema) -> bool {
    matches!(check(reader, writer), Ok(found) if found.is_empty())
}

/// One step of a location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Fields,
    Type,
    Items,
    Values,
    Name,
    Size,
    Symbols,
    Index(usize),
}

impl Tok {
    fn write(self, out: &mut String) {
        match self {
            Tok::Fields => out.push_str("fields"),
            Tok::Type => out.push_str("type"),
            Tok::Items => out.push_str("items"),
            Tok::Values => out.push_str("values"),
            Tok::Name => out.push_str("name"),
            Tok::Size => out.push_str("size"),
            Tok::Symbols => out.push_str("symbols"),
            Tok::Index(i) => {
                let _ = write!(out, "{i}");
            }
        }
    }
}

/// Java's `Incompatibility.getLocation()`: `/` followed by the steps joined with `/`. (None of
/// our steps contains `~` or `/`, so JSON pointer escaping never applies.)
fn location(path: &[Tok]) -> String {
    let mut s = String::from("/");
    for (i, t) in path.iter().enumerate() {
        if i > 0 {
            s.push('/');
        }
        t.write(&mut s);
    }
    s
}

/// An incompatibility while the walk is under way.
#[derive(Debug, Clone)]
struct Found {
    kind: IncompatibilityKind,
    /// Absolute path from the reader root.
    path: Vec<Tok>,
    message: String,
    span: Span,
    span_in_reference: bool,
    detail: Detail,
    /// About the reader node of the pair whose result holds it (a type mismatch or missing
    /// union branch at that node), so its span is that node's occurrence.
    on_node: bool,
}

impl Found {
    fn finish(self) -> Incompatibility {
        Incompatibility {
            kind: self.kind,
            location: location(&self.path),
            message: self.message,
            span: self.span,
            span_in_reference: self.span_in_reference,
            detail: self.detail,
        }
    }
}

/// Identity of a schema node, as Java's identity-keyed memo sees it: a named type is one object
/// wherever it is used; every other type (primitives included: Java's parser makes a new one per
/// occurrence) is its own object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Named(usize),
    Node(usize),
}

fn key(t: &Ty) -> Key {
    match t.kind {
        TyKind::Named(id) => Key::Named(id),
        _ => Key::Node(t as *const Ty as usize),
    }
}

enum Slot {
    InProgress,
    Done {
        /// Length of the location stack when the pair was computed.
        base: usize,
        /// `None` when the pair is compatible.
        found: Option<Rc<Vec<Found>>>,
    },
}

struct Checker<'a> {
    r: &'a Schema,
    w: &'a Schema,
    memo: HashMap<(Key, Key), Slot, BuildHasherDefault<FxHasher>>,
    /// Location of the pair being checked (Java's location stack, root token left out).
    stack: Vec<Tok>,
}

fn avro_type(schema: &Schema, t: &Ty) -> AvroType {
    match &t.kind {
        TyKind::Null => AvroType::Null,
        TyKind::Boolean => AvroType::Boolean,
        TyKind::Int => AvroType::Int,
        TyKind::Long => AvroType::Long,
        TyKind::Float => AvroType::Float,
        TyKind::Double => AvroType::Double,
        TyKind::Bytes => AvroType::Bytes,
        TyKind::String => AvroType::String,
        TyKind::Array(_) => AvroType::Array,
        TyKind::Map(_) => AvroType::Map,
        TyKind::Union(_) => AvroType::Union,
        TyKind::Named(id) => match schema.named[*id].kind {
            NamedKind::Record { .. } => AvroType::Record,
            NamedKind::Enum { .. } => AvroType::Enum,
            NamedKind::Fixed { .. } => AvroType::Fixed,
        },
    }
}

/// A type as a person reads it: `int`, `long (timestamp-millis)`, `array<string>`,
/// ``record `a.B` ``, ``fixed `Md5` (16 bytes)``, `union [null, string]`.
pub(crate) fn describe(schema: &Schema, t: &Ty) -> String {
    let base = match &t.kind {
        TyKind::Array(i) => return format!("array<{}>", describe(schema, i)),
        TyKind::Map(v) => return format!("map<{}>", describe(schema, v)),
        TyKind::Union(b) => {
            return format!(
                "union [{}]",
                b.iter()
                    .map(|x| describe(schema, x))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        TyKind::Named(id) => {
            let n = &schema.named[*id];
            return match &n.kind {
                NamedKind::Fixed { size, .. } => {
                    format!("fixed `{}` ({size} bytes)", n.name.fullname())
                }
                _ => format!("{} `{}`", n.kind_name(), n.name.fullname()),
            };
        }
        _ => avro_type(schema, t).name(),
    };
    match t.logical {
        Some(l) => format!("{base} ({})", l.name()),
        None => base.to_string(),
    }
}

/// Both are the same primitive type (which always resolve).
fn same_primitive(a: &Ty, b: &Ty) -> bool {
    use TyKind::*;
    matches!(
        (&a.kind, &b.kind),
        (Null, Null)
            | (Boolean, Boolean)
            | (Int, Int)
            | (Long, Long)
            | (Float, Float)
            | (Double, Double)
            | (Bytes, Bytes)
            | (String, String)
    )
}

fn record_fields(n: &Named) -> &[Field] {
    match &n.kind {
        NamedKind::Record { fields, .. } => fields,
        _ => &[],
    }
}

impl<'a> Checker<'a> {
    /// Java's `getCompatibility(reader, writer)`: memoized by node identity. A pair met again
    /// while it is still being checked (recursion) counts as compatible.
    ///
    /// `rext`: the reader node lies in a referenced schema's text.
    fn pair(&mut self, rt: &'a Ty, rext: bool, wt: &'a Ty) -> Result<Vec<Found>, CheckError> {
        let k = (key(rt), key(wt));
        // Only a named type can be met again (through recursion or reuse); any other node is
        // visited once per visit of its enclosing named pair, which is memoized. So memoizing
        // only pairs with a named side gives Java's results without hashing every leaf.
        if !matches!(k, (Key::Named(_), _) | (_, Key::Named(_))) {
            return self.compute(rt, rext, wt);
        }
        match self.memo.get(&k) {
            Some(Slot::InProgress) => return Ok(Vec::new()),
            Some(Slot::Done { found: None, .. }) => return Ok(Vec::new()),
            Some(Slot::Done {
                base,
                found: Some(found),
            }) => {
                // Unlike Java (which hands back the locations of the first visit), report the
                // memoized incompatibilities where this visit is.
                let base = *base;
                let found = Rc::clone(found);
                return Ok(found
                    .iter()
                    .map(|f| {
                        let mut f = f.clone();
                        let mut path = self.stack.clone();
                        path.extend_from_slice(&f.path[base..]);
                        f.path = path;
                        if f.on_node {
                            f.span = rt.span;
                            f.span_in_reference = rext;
                        }
                        f
                    })
                    .collect());
            }
            None => {}
        }
        self.memo.insert(k, Slot::InProgress);
        let found = self.compute(rt, rext, wt)?;
        self.memo.insert(
            k,
            Slot::Done {
                base: self.stack.len(),
                // Most pairs are compatible: no allocation for them.
                found: (!found.is_empty()).then(|| Rc::new(found.clone())),
            },
        );
        Ok(found)
    }

    /// `pair` one level down: `toks` pushed on the location, and the result's incompatibilities
    /// marked as not about this pair's reader node.
    fn child(
        &mut self,
        toks: &[Tok],
        rt: &'a Ty,
        rext: bool,
        wt: &'a Ty,
    ) -> Result<Vec<Found>, CheckError> {
        let depth = self.stack.len();
        self.stack.extend_from_slice(toks);
        let res = self.pair(rt, rext, wt);
        self.stack.truncate(depth);
        let mut found = res?;
        for f in &mut found {
            f.on_node = false;
        }
        Ok(found)
    }

    fn here(&self, extra: &[Tok]) -> Vec<Tok> {
        let mut p = self.stack.clone();
        p.extend_from_slice(extra);
        p
    }

    /// Java's `calculateCompatibility`.
    fn compute(&mut self, rt: &'a Ty, rext: bool, wt: &'a Ty) -> Result<Vec<Found>, CheckError> {
        let (r, w) = (self.r, self.w);
        let rtype = avro_type(r, rt);
        let wtype = avro_type(w, wt);
        let mut out = Vec::new();

        if rtype == wtype {
            match (&rt.kind, &wt.kind) {
                (TyKind::Array(ri), TyKind::Array(wi)) => {
                    out.extend(self.child(&[Tok::Items], ri, rext, wi)?);
                }
                (TyKind::Map(rv), TyKind::Map(wv)) => {
                    out.extend(self.child(&[Tok::Values], rv, rext, wv)?);
                }
                (TyKind::Named(rid), TyKind::Named(wid)) => {
                    let (rn, wn) = (&r.named[*rid], &w.named[*wid]);
                    out.extend(self.names(rn, wn, rtype));
                    match (&rn.kind, &wn.kind) {
                        (NamedKind::Fixed { size: rs, .. }, NamedKind::Fixed { size: ws, .. }) => {
                            if rs != ws {
                                out.push(self.fixed_size(rn, *rs, *ws));
                            }
                        }
                        (
                            NamedKind::Enum {
                                symbols: rsyms,
                                default,
                            },
                            NamedKind::Enum { symbols: wsyms, .. },
                        ) => {
                            out.extend(self.enum_symbols(rn, rsyms, default.as_deref(), wn, wsyms));
                        }
                        (NamedKind::Record { .. }, NamedKind::Record { .. }) => {
                            out.extend(self.fields(rn, wn, wt)?);
                        }
                        _ => unreachable!("same AvroType, same named kind"),
                    }
                }
                (TyKind::Union(_), TyKind::Union(wbranches)) => {
                    // Each writer branch must be readable by the reader union. Java checks the
                    // branch as a pair of its own and reports only that it failed.
                    for (i, wb) in wbranches.iter().enumerate() {
                        self.stack.push(Tok::Index(i));
                        let res = self.pair(rt, rext, wb);
                        self.stack.pop();
                        if !res?.is_empty() {
                            out.push(self.missing_branch(rt, rext, wb, Some(i)));
                        }
                    }
                }
                _ => {} // the same primitive type
            }
            return Ok(out);
        }

        // Different types. A writer union is read if every one of its branches is; Java reports
        // what each branch finds, at the reader's location followed by the branch index.
        if let TyKind::Union(wbranches) = &wt.kind {
            for (i, wb) in wbranches.iter().enumerate() {
                self.stack.push(Tok::Index(i));
                let res = self.pair(rt, rext, wb);
                self.stack.pop();
                for mut f in res? {
                    if f.on_node {
                        f.message = format!("branch {i} of the writer's union: {}", f.message);
                    }
                    out.push(f);
                }
            }
            return Ok(out);
        }

        let promoted = matches!(
            (rtype, wtype),
            (AvroType::Long, AvroType::Int)
                | (AvroType::Float, AvroType::Int | AvroType::Long)
                | (
                    AvroType::Double,
                    AvroType::Int | AvroType::Long | AvroType::Float
                )
                | (AvroType::Bytes, AvroType::String)
                | (AvroType::String, AvroType::Bytes)
        );
        if promoted {
            return Ok(out);
        }
        if let TyKind::Union(rbranches) = &rt.kind {
            // A non-union writer is read by the first reader branch that reads it. Only whether
            // one does matters, so a branch of the very same primitive type settles it without
            // checking (and describing the mismatch of) the branches before it.
            if rbranches.iter().any(|rb| same_primitive(rb, wt)) {
                return Ok(out);
            }
            for rb in rbranches {
                if self.pair(rb, rext, wt)?.is_empty() {
                    return Ok(out);
                }
            }
            out.push(self.missing_branch(rt, rext, wt, None));
            return Ok(out);
        }
        out.push(self.type_mismatch(rt, rext, wt, rtype, wtype));
        Ok(out)
    }

    /// Java's `schemaNameEquals`: the unqualified names are equal, or the writer's full name is
    /// one of the reader's aliases.
    fn names(&self, rn: &Named, wn: &Named, rtype: AvroType) -> Option<Found> {
        if rn.name.name == wn.name.name {
            return None; // the common case, decided without building full names
        }
        let wfull = wn.name.fullname();
        if rn.aliases.iter().any(|a| a.fullname() == wfull) {
            return None;
        }
        let rfull = rn.name.fullname();
        let kind = rtype.name();
        let message = if rn.aliases.is_empty() {
            format!(
                "reader {kind} `{rfull}` cannot read writer {kind} `{wfull}`: the names differ (the namespace does not matter) and `{wfull}` is not an alias of `{rfull}`"
            )
        } else {
            format!(
                "reader {kind} `{rfull}` cannot read writer {kind} `{wfull}`: the names differ (the namespace does not matter) and `{wfull}` is not among its aliases ({})",
                rn.aliases
                    .iter()
                    .map(|a| a.fullname())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Some(Found {
            kind: IncompatibilityKind::NameMismatch,
            path: self.here(&[Tok::Name]),
            message,
            span: rn.name_span,
            span_in_reference: rn.external,
            detail: Detail::NameMismatch {
                reader_type: rtype,
                reader_name: rfull,
                writer_name: wfull,
                reader_aliases: rn.aliases.iter().map(|a| a.fullname()).collect(),
            },
            on_node: false,
        })
    }

    fn fixed_size(&self, rn: &Named, rsize: usize, wsize: usize) -> Found {
        let name = rn.name.fullname();
        Found {
            kind: IncompatibilityKind::FixedSizeMismatch,
            path: self.here(&[Tok::Size]),
            message: format!(
                "reader fixed `{name}` is {rsize} bytes but the writer's is {wsize} bytes: a fixed type's size cannot change"
            ),
            span: rn.span,
            span_in_reference: rn.external,
            detail: Detail::FixedSizeMismatch {
                reader_name: name,
                reader_size: rsize,
                writer_size: wsize,
            },
            on_node: false,
        }
    }

    /// Java's `checkReaderEnumContainsAllWriterEnumSymbols`: writer symbols missing from the
    /// reader are fine only when the reader enum has a default.
    fn enum_symbols(
        &self,
        rn: &Named,
        rsyms: &[String],
        rdefault: Option<&str>,
        wn: &Named,
        wsyms: &[String],
    ) -> Option<Found> {
        let mut missing: Vec<String> = wsyms
            .iter()
            .filter(|s| !rsyms.contains(s))
            .cloned()
            .collect();
        missing.sort();
        missing.dedup();
        if missing.is_empty() || rdefault.is_some_and(|d| rsyms.iter().any(|s| s == d)) {
            return None;
        }
        let rfull = rn.name.fullname();
        let wfull = wn.name.fullname();
        let list = missing
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let (plural, verb) = if missing.len() == 1 {
            ("", "is")
        } else {
            ("s", "are")
        };
        Some(Found {
            kind: IncompatibilityKind::MissingEnumSymbols,
            path: self.here(&[Tok::Symbols]),
            message: format!(
                "writer enum `{wfull}` has symbol{plural} {list} that {verb} not in reader enum `{rfull}`, and the reader enum has no `default` to read {} as",
                if missing.len() == 1 { "it" } else { "them" }
            ),
            span: rn.span,
            span_in_reference: rn.external,
            detail: Detail::MissingEnumSymbols {
                reader_enum: rfull,
                writer_enum: wfull,
                missing,
            },
            on_node: false,
        })
    }

    /// Java's `checkReaderWriterRecordFields`.
    fn fields(
        &mut self,
        rn: &'a Named,
        wn: &'a Named,
        wt: &'a Ty,
    ) -> Result<Vec<Found>, CheckError> {
        let r = self.r;
        let fext = rn.external;
        let wfields = record_fields(wn);
        let mut out = Vec::new();
        for (i, rf) in record_fields(rn).iter().enumerate() {
            // Java's `lookupWriterField`: by the reader field's name, then by each alias (a
            // set: repeats count once); more than one hit, even the same writer field twice
            // (an alias equal to the field's own name), is an error.
            //
            // Field names are unique within a record, so the writer field at the same position,
            // when it has the name, is the one a search would find (the common case: versions
            // append fields). Only aliases need more than one lookup.
            let by_name = match wfields.get(i) {
                Some(f) if f.name == rf.name => Some(f),
                _ => wfields.iter().find(|f| f.name == rf.name),
            };
            if rf.aliases.is_empty() {
                if let Some(wf) = by_name {
                    out.extend(self.child(
                        &[Tok::Fields, Tok::Index(i), Tok::Type],
                        &rf.ty,
                        fext,
                        &wf.ty,
                    )?);
                    continue;
                }
            }
            let mut hits: Vec<&'a Field> = Vec::new();
            hits.extend(by_name);
            for (k, alias) in rf.aliases.iter().enumerate() {
                if rf.aliases[..k].contains(alias) {
                    continue;
                }
                hits.extend(wfields.iter().find(|f| &f.name == alias));
            }
            if hits.len() > 1 {
                return Err(CheckError::AmbiguousField(Box::new(AmbiguousField {
                    record: rn.name.fullname(),
                    field: rf.name.clone(),
                    writer_record: wn.name.fullname(),
                    writer_fields: hits.iter().map(|f| f.name.clone()).collect(),
                    location: location(&self.here(&[Tok::Fields, Tok::Index(i)])),
                    span: rf.span,
                    span_in_reference: fext,
                })));
            }
            if let Some(wf) = hits.first() {
                out.extend(self.child(
                    &[Tok::Fields, Tok::Index(i), Tok::Type],
                    &rf.ty,
                    fext,
                    &wf.ty,
                )?);
                continue;
            }
            if rf.default.is_some() {
                continue;
            }
            // Java's enum-default quirk: a reader field of enum type whose enum has a default is
            // checked against the writer's *record* (which can only be a type mismatch).
            let enum_with_default = matches!(
                r.named_of(&rf.ty).map(|n| &n.kind),
                Some(NamedKind::Enum {
                    default: Some(_),
                    ..
                })
            );
            if enum_with_default {
                out.extend(self.child(
                    &[Tok::Fields, Tok::Index(i), Tok::Type],
                    &rf.ty,
                    fext,
                    wt,
                )?);
                continue;
            }
            let record = rn.name.fullname();
            let writer_record = wn.name.fullname();
            let aliases = if rf.aliases.is_empty() {
                String::new()
            } else {
                format!(" or of its aliases ({})", rf.aliases.join(", "))
            };
            out.push(Found {
                kind: IncompatibilityKind::ReaderFieldMissingDefaultValue,
                path: self.here(&[Tok::Fields, Tok::Index(i)]),
                message: format!(
                    "reader field `{}` of record `{record}` has no default value, and the writer's record `{writer_record}` has no field of that name{aliases} to read it from",
                    rf.name
                ),
                span: rf.span,
                span_in_reference: fext,
                detail: Detail::ReaderFieldMissingDefaultValue {
                    record,
                    field: rf.name.clone(),
                    writer_record,
                },
                on_node: false,
            });
        }
        Ok(out)
    }

    fn missing_branch(
        &self,
        rt: &'a Ty,
        rext: bool,
        wt: &'a Ty,
        writer_branch: Option<usize>,
    ) -> Found {
        let (r, w) = (self.r, self.w);
        let reader_branches: Vec<String> = match &rt.kind {
            TyKind::Union(b) => b.iter().map(|x| describe(r, x)).collect(),
            _ => Vec::new(),
        };
        let writer = describe(w, wt);
        let what = match writer_branch {
            Some(i) => format!("branch {i} of the writer's union, {writer}"),
            None => format!("the writer's {writer}"),
        };
        let message = if reader_branches.is_empty() {
            format!("the reader's union is empty, so it cannot read {what}")
        } else {
            format!(
                "no branch of the reader's union [{}] can read {what}",
                reader_branches.join(", ")
            )
        };
        Found {
            kind: IncompatibilityKind::MissingUnionBranch,
            path: match writer_branch {
                Some(i) => self.here(&[Tok::Index(i)]),
                None => self.here(&[]),
            },
            message,
            span: rt.span,
            span_in_reference: rext,
            detail: Detail::MissingUnionBranch {
                writer_type: avro_type(w, wt),
                writer,
                writer_branch,
                reader_branches,
            },
            on_node: true,
        }
    }

    fn type_mismatch(
        &self,
        rt: &'a Ty,
        rext: bool,
        wt: &'a Ty,
        rtype: AvroType,
        wtype: AvroType,
    ) -> Found {
        let reader = describe(self.r, rt);
        let writer = describe(self.w, wt);
        let numeric_or_text = |t: AvroType| {
            matches!(
                t,
                AvroType::Int
                    | AvroType::Long
                    | AvroType::Float
                    | AvroType::Double
                    | AvroType::String
                    | AvroType::Bytes
            )
        };
        let hint = if numeric_or_text(rtype) && numeric_or_text(wtype) {
            " (the only promotions are int to long, float or double; long to float or double; float to double; and string to or from bytes)"
        } else {
            ""
        };
        Found {
            kind: IncompatibilityKind::TypeMismatch,
            path: self.here(&[]),
            message: format!("the reader's {reader} cannot read the writer's {writer}{hint}"),
            span: rt.span,
            span_in_reference: rext,
            detail: Detail::TypeMismatch {
                reader_type: rtype,
                writer_type: wtype,
                reader,
                writer,
            },
            on_node: true,
        }
    }
}
