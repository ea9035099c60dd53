//! Schema resolution on bytes: data written with one schema, rewritten as the Avro binary of
//! another (the reader's), following the resolution rules of the Avro specification.
//!
//! A [`Resolver`] is built once per (writer, reader) pair and then applied to every message:
//! it copies what is the same, promotes numbers, drops fields the reader does not have, writes
//! defaults for fields the writer did not have, maps enum symbols and union branches. The output
//! is then read by the reader type's generated decoder ([`crate::AvroBinary`]), so a consumer
//! of v2 reads v1 events without building a `Value` tree per message.
//!
//! ```
//! use evc_avro::resolve::Resolver;
//! use evc_schema::Schema;
//!
//! let v1 = Schema::parse(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#).unwrap();
//! let v2 = Schema::parse(r#"{"type":"record","name":"R","fields":[
//!     {"name":"a","type":"long"},{"name":"b","type":"string","default":"x"}]}"#).unwrap();
//! let r = Resolver::new(&v1, &v2).unwrap();
//! let mut out = Vec::new();
//! r.transcode(&mut &[0x54u8][..], &mut out).unwrap(); // a = 42
//! assert_eq!(out, [0x54, 0x02, b'x']);                 // a = 42 as long, b = "x"
//! ```

use std::collections::HashMap;

use evc_schema::json::{Json, JsonValue};
use evc_schema::{NamedId, NamedKind, Schema, Ty, TyKind};

use crate::binary::{read_long, write_double, write_float, write_long};
use crate::DecodeError;

/// Why the reader cannot read (some of) the writer's data. Returned by [`Resolver::new`] when
/// no datum can be read at all; a mismatch in one union branch only fails the data that takes
/// that branch (as a [`DecodeError`] with this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    #[error("no branch of the reader's {reader} reads the writer's {writer}")]
    NoReaderBranch { reader: String, writer: String },
    #[error("the reader's {reader} cannot read the writer's {writer}")]
    Types { reader: String, writer: String },
    #[error("the reader's `{reader}` cannot read the writer's `{writer}`: the names differ")]
    Names { reader: String, writer: String },
    #[error("fixed `{name}` has size {writer} in the writer and {reader} in the reader")]
    FixedSize {
        name: String,
        writer: usize,
        reader: usize,
    },
    #[error(
        "the reader's {reader_kind} `{reader}` cannot read the writer's {writer_kind} `{writer}`"
    )]
    Kinds {
        reader_kind: &'static str,
        reader: String,
        writer_kind: &'static str,
        writer: String,
    },
    #[error(
        "reader field `{field}` of `{record}` has no default and the writer does not write it"
    )]
    MissingField { field: String, record: String },
    /// A reader default that cannot be written as Avro binary (the parser validates defaults,
    /// so only a model built in code gets here).
    #[error("field `{field}`: {reason}")]
    BadDefault { field: String, reason: String },
}

#[derive(Debug, Clone)]
enum Node {
    Null,
    Bool,
    /// int or long, copied as is (int → long is the same varint)
    Varint,
    Float,
    Double,
    /// bytes or string (the same encoding either way)
    Bytes,
    IntToFloat,
    IntToDouble,
    LongToFloat,
    LongToDouble,
    FloatToDouble,
    Fixed(usize),
    Enum {
        map: Vec<Option<u32>>,
        default: Option<u32>,
        writer_symbols: Vec<String>,
    },
    Array(Box<Node>),
    Map(Box<Node>),
    Record(usize),
    /// The writer wrote a union: per writer branch, the reader union index to write (if the
    /// reader is a union) and how to resolve the branch; `Err` when the reader cannot read it.
    WriterUnion(Vec<Result<(Option<u32>, Node), ResolveError>>),
    /// The writer wrote a plain value; the reader has a union: write the branch index first.
    IntoReaderUnion(u32, Box<Node>),
    /// Not readable; an error if data reaches it.
    Fail(ResolveError),
}

#[derive(Debug, Clone)]
enum Step {
    /// Rewrite the writer's field (writer type kept for [`Step::Copy`]) into reader field `.0`.
    Keep(usize, Node, Ty),
    /// The writer's bytes are already the reader's: copied as they are (consecutive copies
    /// become one `memcpy`), after checking where the value ends.
    Copy(usize, Ty),
    Skip(Ty),
}

#[derive(Debug, Clone, Default)]
struct RecordPlan {
    steps: Vec<Step>,
    /// Default bytes per reader field (for fields the writer does not have).
    defaults: Vec<Option<Vec<u8>>>,
    /// Kept fields come in reader order, so the output can be streamed.
    in_order: bool,
    fail: Option<ResolveError>,
}

/// Rewrites data of a writer schema as data of a reader schema. Build once, use per message.
#[derive(Debug, Clone)]
pub struct Resolver {
    writer: Schema,
    root: Node,
    records: Vec<RecordPlan>,
}

struct Builder<'a> {
    w: &'a Schema,
    r: &'a Schema,
    records: Vec<RecordPlan>,
    memo: HashMap<(NamedId, NamedId), usize>,
}

fn unqualified(s: &Schema, id: NamedId) -> &str {
    &s.named[id].name.name
}

/// Java's name rule: unqualified names equal, or the writer's full name among the reader's aliases.
fn names_match(w: &Schema, wid: NamedId, r: &Schema, rid: NamedId) -> bool {
    unqualified(w, wid) == unqualified(r, rid)
        || r.named[rid]
            .aliases
            .iter()
            .any(|a| a.fullname() == w.named[wid].name.fullname())
}

impl Builder<'_> {
    fn node(&mut self, wt: &Ty, rt: &Ty) -> Node {
        use TyKind as K;
        if let K::Union(rb) = &rt.kind {
            if !matches!(wt.kind, K::Union(_)) {
                return match self.pick_branch(wt, rb) {
                    Some(i) => Node::IntoReaderUnion(i as u32, Box::new(self.node(wt, &rb[i]))),
                    None => Node::Fail(ResolveError::NoReaderBranch {
                        reader: rt.describe(self.r),
                        writer: wt.describe(self.w),
                    }),
                };
            }
        }
        match (&wt.kind, &rt.kind) {
            (K::Union(wb), _) => {
                let reader_union = match &rt.kind {
                    K::Union(rb) => Some(rb),
                    _ => None,
                };
                Node::WriterUnion(
                    wb.iter()
                        .map(|b| match reader_union {
                            Some(rb) => match self.pick_branch(b, rb) {
                                Some(i) => Ok((Some(i as u32), self.node(b, &rb[i]))),
                                None => Err(ResolveError::NoReaderBranch {
                                    reader: "union".into(),
                                    writer: b.describe(self.w),
                                }),
                            },
                            None => match self.node(b, rt) {
                                Node::Fail(m) => Err(m),
                                n => Ok((None, n)),
                            },
                        })
                        .collect(),
                )
            }
            (K::Null, K::Null) => Node::Null,
            (K::Boolean, K::Boolean) => Node::Bool,
            (K::Int, K::Int) | (K::Int, K::Long) | (K::Long, K::Long) => Node::Varint,
            (K::Int, K::Float) => Node::IntToFloat,
            (K::Int, K::Double) => Node::IntToDouble,
            (K::Long, K::Float) => Node::LongToFloat,
            (K::Long, K::Double) => Node::LongToDouble,
            (K::Float, K::Float) => Node::Float,
            (K::Float, K::Double) => Node::FloatToDouble,
            (K::Double, K::Double) => Node::Double,
            (K::Bytes | K::String, K::Bytes | K::String) => Node::Bytes,
            (K::Array(wi), K::Array(ri)) => Node::Array(Box::new(self.node(wi, ri))),
            (K::Map(wv), K::Map(rv)) => Node::Map(Box::new(self.node(wv, rv))),
            (K::Named(wid), K::Named(rid)) => self.named(*wid, *rid),
            _ => Node::Fail(ResolveError::Types {
                reader: rt.describe(self.r),
                writer: wt.describe(self.w),
            }),
        }
    }

    fn named(&mut self, wid: NamedId, rid: NamedId) -> Node {
        let (wn, rn) = (&self.w.named[wid], &self.r.named[rid]);
        if !names_match(self.w, wid, self.r, rid) {
            return Node::Fail(ResolveError::Names {
                reader: rn.name.to_string(),
                writer: wn.name.to_string(),
            });
        }
        match (&wn.kind, &rn.kind) {
            (NamedKind::Fixed { size: ws, .. }, NamedKind::Fixed { size: rs, .. }) => {
                if ws == rs {
                    Node::Fixed(*ws)
                } else {
                    Node::Fail(ResolveError::FixedSize {
                        name: rn.name.to_string(),
                        writer: *ws,
                        reader: *rs,
                    })
                }
            }
            (
                NamedKind::Enum { symbols: wsyms, .. },
                NamedKind::Enum {
                    symbols: rsyms,
                    default,
                },
            ) => Node::Enum {
                map: wsyms
                    .iter()
                    .map(|s| rsyms.iter().position(|r| r == s).map(|i| i as u32))
                    .collect(),
                default: default
                    .as_ref()
                    .and_then(|d| rsyms.iter().position(|r| r == d).map(|i| i as u32)),
                writer_symbols: wsyms.clone(),
            },
            (NamedKind::Record { .. }, NamedKind::Record { .. }) => {
                Node::Record(self.record(wid, rid))
            }
            _ => Node::Fail(ResolveError::Kinds {
                reader_kind: rn.kind_name(),
                reader: rn.name.to_string(),
                writer_kind: wn.kind_name(),
                writer: wn.name.to_string(),
            }),
        }
    }

    fn record(&mut self, wid: NamedId, rid: NamedId) -> usize {
        if let Some(&i) = self.memo.get(&(wid, rid)) {
            return i;
        }
        let index = self.records.len();
        self.records.push(RecordPlan::default());
        self.memo.insert((wid, rid), index);
        let (wf, rf) = (self.w.named[wid].fields(), self.r.named[rid].fields());
        let mut plan = RecordPlan {
            steps: Vec::with_capacity(wf.len()),
            defaults: vec![None; rf.len()],
            in_order: true,
            fail: None,
        };
        let mut taken = vec![false; rf.len()];
        let mut last = None;
        for f in wf {
            let r_index = rf
                .iter()
                .position(|r| r.name == f.name)
                .or_else(|| rf.iter().position(|r| r.aliases.contains(&f.name)));
            match r_index {
                Some(ri) if !taken[ri] => {
                    taken[ri] = true;
                    if last.is_some_and(|l| l > ri) {
                        plan.in_order = false;
                    }
                    last = Some(ri);
                    let node = self.node(&f.ty, &rf[ri].ty);
                    plan.steps.push(Step::Keep(ri, node, f.ty.clone()));
                }
                _ => plan.steps.push(Step::Skip(f.ty.clone())),
            }
        }
        for (ri, r) in rf.iter().enumerate() {
            if taken[ri] {
                continue;
            }
            match &r.default {
                Some(d) => {
                    let mut bytes = Vec::new();
                    match encode_default(self.r, &r.ty, d, &mut bytes) {
                        Ok(()) => plan.defaults[ri] = Some(bytes),
                        Err(reason) => {
                            plan.fail = Some(ResolveError::BadDefault {
                                field: r.name.clone(),
                                reason,
                            })
                        }
                    }
                }
                None => {
                    plan.fail = Some(ResolveError::MissingField {
                        field: r.name.clone(),
                        record: self.r.named[rid].name.to_string(),
                    })
                }
            }
        }
        self.records[index] = plan;
        index
    }

    /// The reader union branch for a writer type: the first of the same type (and name), else
    /// the first the writer's type promotes to.
    fn pick_branch(&self, wt: &Ty, rb: &[Ty]) -> Option<usize> {
        use TyKind as K;
        let same = |r: &Ty| match (&wt.kind, &r.kind) {
            (K::Named(w), K::Named(rid)) => {
                std::mem::discriminant(&self.w.named[*w].kind)
                    == std::mem::discriminant(&self.r.named[*rid].kind)
                    && names_match(self.w, *w, self.r, *rid)
            }
            (K::Array(_), K::Array(_)) | (K::Map(_), K::Map(_)) => true,
            (a, b) => {
                std::mem::discriminant(a) == std::mem::discriminant(b)
                    && !matches!(a, K::Named(_) | K::Union(_))
            }
        };
        let promotes = |r: &Ty| {
            matches!(
                (&wt.kind, &r.kind),
                (K::Int, K::Long | K::Float | K::Double)
                    | (K::Long, K::Float | K::Double)
                    | (K::Float, K::Double)
                    | (K::String, K::Bytes)
                    | (K::Bytes, K::String)
            )
        };
        rb.iter()
            .position(same)
            .or_else(|| rb.iter().position(promotes))
    }
}

fn latin1(s: &str) -> Result<Vec<u8>, String> {
    s.chars()
        .map(|c| {
            u8::try_from(c as u32).map_err(|_| {
                format!("character {c:?} is not a byte (defaults of bytes are code points 0-255)")
            })
        })
        .collect()
}

/// Writes a field default (JSON, per the specification's encoding of defaults) as Avro binary.
fn encode_default(s: &Schema, ty: &Ty, d: &Json, out: &mut Vec<u8>) -> Result<(), String> {
    let bad = || format!("default {} does not fit {}", d.kind(), ty.describe(s));
    match (&ty.kind, &d.value) {
        (TyKind::Null, JsonValue::Null) => {}
        (TyKind::Boolean, JsonValue::Bool(b)) => out.push(*b as u8),
        (TyKind::Int | TyKind::Long, JsonValue::Number(_)) => {
            write_long(out, d.as_i64().ok_or_else(bad)?)
        }
        (TyKind::Float, _) => write_float(
            out,
            evc_schema::float_default(d).ok_or_else(bad)?.to_f64() as f32,
        ),
        (TyKind::Double, _) => {
            write_double(out, evc_schema::float_default(d).ok_or_else(bad)?.to_f64())
        }
        (TyKind::Bytes, JsonValue::String(t)) => crate::binary::write_bytes(out, &latin1(t)?),
        (TyKind::String, JsonValue::String(t)) => crate::binary::write_string(out, t),
        (TyKind::Array(items), JsonValue::Array(a)) => {
            if !a.is_empty() {
                write_long(out, a.len() as i64);
                for x in a {
                    encode_default(s, items, x, out)?;
                }
            }
            out.push(0);
        }
        (TyKind::Map(values), JsonValue::Object(m)) => {
            if !m.is_empty() {
                write_long(out, m.len() as i64);
                for (k, x) in m {
                    crate::binary::write_string(out, &k.name);
                    encode_default(s, values, x, out)?;
                }
            }
            out.push(0);
        }
        (TyKind::Union(branches), _) => {
            let i = branches
                .iter()
                .position(|b| evc_schema::validate_default(&s.named, b, d).is_ok())
                .ok_or_else(bad)?;
            write_long(out, i as i64);
            encode_default(s, &branches[i], d, out)?;
        }
        (TyKind::Named(id), _) => match (&s.named[*id].kind, &d.value) {
            (NamedKind::Enum { symbols, .. }, JsonValue::String(t)) => write_long(
                out,
                symbols.iter().position(|x| x == t).ok_or_else(bad)? as i64,
            ),
            (NamedKind::Fixed { size, .. }, JsonValue::String(t)) => {
                let b = latin1(t)?;
                if b.len() != *size {
                    return Err(bad());
                }
                out.extend_from_slice(&b);
            }
            (NamedKind::Record { fields, .. }, JsonValue::Object(_)) => {
                for f in fields {
                    match (d.get(&f.name), &f.default) {
                        (Some(x), _) | (None, Some(x)) => encode_default(s, &f.ty, x, out)?,
                        (None, None) => {
                            return Err(format!("default has no value for field `{}`", f.name))
                        }
                    }
                }
            }
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    }
    Ok(())
}

impl Resolver {
    /// Plans how to rewrite `writer` data as `reader` data.
    pub fn new(writer: &Schema, reader: &Schema) -> Result<Resolver, ResolveError> {
        let mut b = Builder {
            w: writer,
            r: reader,
            records: Vec::new(),
            memo: HashMap::new(),
        };
        let root = b.node(&writer.root, &reader.root);
        if let Node::Fail(m) = &root {
            return Err(m.clone());
        }
        if let Node::Record(i) = root {
            if let Some(m) = &b.records[i].fail {
                return Err(m.clone());
            }
        }
        let mut records = b.records;
        // fields whose bytes need no rewriting are copied instead of re-encoded
        let copies: Vec<Vec<bool>> = records
            .iter()
            .map(|plan| {
                plan.steps
                    .iter()
                    .map(|s| match s {
                        Step::Keep(_, node, _) => identity(&records, node, &mut Vec::new()),
                        _ => false,
                    })
                    .collect()
            })
            .collect();
        for (plan, copies) in records.iter_mut().zip(copies) {
            for (step, copy) in plan.steps.iter_mut().zip(copies) {
                if let (true, Step::Keep(ri, _, ty)) = (copy, &*step) {
                    *step = Step::Copy(*ri, ty.clone());
                }
            }
        }
        Ok(Resolver {
            writer: writer.clone(),
            root,
            records,
        })
    }

    /// Reads one writer datum from `input` and appends it, as reader data, to `out`.
    pub fn transcode(&self, input: &mut &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        self.run(&self.root, input, out)
    }

    fn run(&self, node: &Node, input: &mut &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        match node {
            Node::Null => Ok(()),
            Node::Bool => {
                let b = crate::binary::read_boolean(input)?;
                out.push(b as u8);
                Ok(())
            }
            Node::Varint => {
                write_long(out, read_long(input)?);
                Ok(())
            }
            Node::Float => copy(input, out, 4),
            Node::Double => copy(input, out, 8),
            Node::Bytes => {
                let b = crate::binary::read_bytes_slice(input)?;
                crate::binary::write_bytes(out, b);
                Ok(())
            }
            Node::IntToFloat | Node::LongToFloat => {
                write_float(out, read_long(input)? as f32);
                Ok(())
            }
            Node::IntToDouble | Node::LongToDouble => {
                write_double(out, read_long(input)? as f64);
                Ok(())
            }
            Node::FloatToDouble => {
                write_double(out, crate::binary::read_float(input)? as f64);
                Ok(())
            }
            Node::Fixed(n) => copy(input, out, *n),
            Node::Enum {
                map,
                default,
                writer_symbols,
            } => {
                let i = crate::binary::read_enum_index(input, map.len())?;
                match map[i].or(*default) {
                    Some(r) => {
                        write_long(out, r as i64);
                        Ok(())
                    }
                    None => Err(DecodeError::invalid(format!(
                        "enum symbol `{}` is unknown to the reader, which has no default symbol",
                        writer_symbols[i]
                    ))),
                }
            }
            Node::Array(item) => {
                self.blocks(input, out, |me, input, out| me.run(item, input, out), false)
            }
            Node::Map(value) => {
                self.blocks(input, out, |me, input, out| me.run(value, input, out), true)
            }
            Node::Record(i) => self.record(&self.records[*i], input, out),
            Node::WriterUnion(branches) => {
                let i = crate::binary::read_index(input, branches.len() as u32)? as usize;
                match &branches[i] {
                    Ok((reader_index, node)) => {
                        if let Some(ri) = reader_index {
                            write_long(out, *ri as i64);
                        }
                        self.run(node, input, out)
                    }
                    Err(m) => Err(DecodeError::invalid(format!("union branch {i}: {m}"))),
                }
            }
            Node::IntoReaderUnion(index, node) => {
                write_long(out, *index as i64);
                self.run(node, input, out)
            }
            Node::Fail(m) => Err(DecodeError::invalid(m.to_string())),
        }
    }

    fn blocks(
        &self,
        input: &mut &[u8],
        out: &mut Vec<u8>,
        item: impl Fn(&Self, &mut &[u8], &mut Vec<u8>) -> Result<(), DecodeError>,
        keys: bool,
    ) -> Result<(), DecodeError> {
        let mut empty = 0u64;
        loop {
            let mut n = read_long(input)?;
            if n == 0 {
                out.push(0);
                return Ok(());
            }
            if n < 0 {
                n = n
                    .checked_neg()
                    .ok_or_else(|| DecodeError::invalid("block count out of range"))?;
                read_long(input)?; // the block's byte size, not needed when rewriting
            }
            write_long(out, n);
            for k in 0..n {
                let before = input.len();
                if keys {
                    let k = crate::binary::read_bytes_slice(input)?;
                    crate::binary::write_bytes(out, k);
                }
                item(self, input, out)?;
                if k == 0 && input.len() == before {
                    crate::binary::count_empty_items(&mut empty, n as u64)?;
                }
            }
        }
    }

    fn record<'a>(
        &self,
        plan: &RecordPlan,
        input: &mut &'a [u8],
        out: &mut Vec<u8>,
    ) -> Result<(), DecodeError> {
        if let Some(m) = &plan.fail {
            return Err(DecodeError::invalid(m.to_string()));
        }
        if plan.in_order {
            let defaults = |from: usize, to: usize, out: &mut Vec<u8>| {
                for d in &plan.defaults[from..to] {
                    out.extend_from_slice(d.as_deref().unwrap_or_default());
                }
            };
            // the writer's bytes from where a run of copied fields began
            let mut run: Option<&'a [u8]> = None;
            let flush = |run: &mut Option<&'a [u8]>, rest: &[u8], out: &mut Vec<u8>| {
                if let Some(start) = run.take() {
                    out.extend_from_slice(&start[..start.len() - rest.len()]);
                }
            };
            let mut next = 0;
            for step in &plan.steps {
                match step {
                    Step::Skip(ty) => {
                        flush(&mut run, input, out);
                        skip(&self.writer, ty, input)?;
                    }
                    Step::Copy(ri, ty) => {
                        if next < *ri {
                            flush(&mut run, input, out);
                            defaults(next, *ri, out);
                        }
                        if run.is_none() {
                            run = Some(*input);
                        }
                        skip(&self.writer, ty, input)?;
                        next = ri + 1;
                    }
                    Step::Keep(ri, node, _) => {
                        flush(&mut run, input, out);
                        defaults(next, (*ri).max(next), out);
                        self.run(node, input, out)?;
                        next = ri + 1;
                    }
                }
            }
            flush(&mut run, input, out);
            defaults(next.min(plan.defaults.len()), plan.defaults.len(), out);
            return Ok(());
        }
        // fields in another order: rewrite each into a scratch buffer, then emit in reader order
        let mut scratch = Vec::new();
        let mut ranges = vec![None; plan.defaults.len()];
        for step in &plan.steps {
            match step {
                Step::Skip(ty) => skip(&self.writer, ty, input)?,
                Step::Keep(ri, node, _) => {
                    let start = scratch.len();
                    self.run(node, input, &mut scratch)?;
                    ranges[*ri] = Some(start..scratch.len());
                }
                Step::Copy(ri, ty) => {
                    let before = *input;
                    skip(&self.writer, ty, input)?;
                    let start = scratch.len();
                    scratch.extend_from_slice(&before[..before.len() - input.len()]);
                    ranges[*ri] = Some(start..scratch.len());
                }
            }
        }
        for (ri, range) in ranges.into_iter().enumerate() {
            match range {
                Some(r) => out.extend_from_slice(&scratch[r]),
                None => out.extend_from_slice(plan.defaults[ri].as_deref().unwrap_or_default()),
            }
        }
        Ok(())
    }
}

/// Whether data resolved through `node` is byte for byte the writer's data (so it can be copied
/// once its end is found). Records on the `assuming` stack count as identical (a recursive
/// record is identical when everything else in it is).
fn identity(records: &[RecordPlan], node: &Node, assuming: &mut Vec<usize>) -> bool {
    match node {
        Node::Null
        | Node::Bool
        | Node::Varint
        | Node::Float
        | Node::Double
        | Node::Bytes
        | Node::Fixed(_) => true,
        Node::IntToFloat
        | Node::IntToDouble
        | Node::LongToFloat
        | Node::LongToDouble
        | Node::FloatToDouble
        | Node::IntoReaderUnion(..)
        | Node::Fail(_) => false,
        Node::Enum { map, .. } => map
            .iter()
            .enumerate()
            .all(|(i, r)| *r == Some(i as u32)),
        Node::Array(item) | Node::Map(item) => identity(records, item, assuming),
        Node::WriterUnion(branches) => branches.iter().enumerate().all(|(i, b)| {
            matches!(b, Ok((Some(r), n)) if *r == i as u32 && identity(records, n, assuming))
        }),
        Node::Record(i) => {
            if assuming.contains(i) {
                return true;
            }
            let plan = &records[*i];
            if plan.fail.is_some() || !plan.in_order || plan.defaults.iter().any(Option::is_some)
            {
                return false;
            }
            assuming.push(*i);
            let same = plan.steps.iter().enumerate().all(|(k, s)| match s {
                Step::Keep(ri, n, _) => *ri == k && identity(records, n, assuming),
                Step::Copy(ri, _) => *ri == k,
                Step::Skip(_) => false,
            }) && plan.steps.len() == plan.defaults.len();
            assuming.pop();
            same
        }
    }
}

fn copy(input: &mut &[u8], out: &mut Vec<u8>, n: usize) -> Result<(), DecodeError> {
    if input.len() < n {
        return Err(DecodeError::invalid(
            "the data ends in the middle of a value",
        ));
    }
    let (head, rest) = input.split_at(n);
    out.extend_from_slice(head);
    *input = rest;
    Ok(())
}

/// Skips one value of writer type `ty`.
fn skip(s: &Schema, ty: &Ty, input: &mut &[u8]) -> Result<(), DecodeError> {
    let mut sink = Vec::new();
    match &ty.kind {
        TyKind::Null => Ok(()),
        TyKind::Boolean => crate::binary::read_boolean(input).map(drop),
        TyKind::Int | TyKind::Long => read_long(input).map(drop),
        TyKind::Float => copy(input, &mut sink, 4),
        TyKind::Double => copy(input, &mut sink, 8),
        TyKind::Bytes | TyKind::String => crate::binary::read_bytes_slice(input).map(drop),
        TyKind::Array(item) | TyKind::Map(item) => {
            let keys = matches!(ty.kind, TyKind::Map(_));
            let mut empty = 0u64;
            loop {
                let n = read_long(input)?;
                if n == 0 {
                    return Ok(());
                }
                if n < 0 {
                    // a block with its byte size: jump over it
                    let size = usize::try_from(read_long(input)?)
                        .map_err(|_| DecodeError::invalid("negative block size"))?;
                    copy(input, &mut sink, size)?;
                    sink.clear();
                    continue;
                }
                for k in 0..n {
                    let before = input.len();
                    if keys {
                        crate::binary::read_bytes_slice(input)?;
                    }
                    skip(s, item, input)?;
                    if k == 0 && input.len() == before {
                        crate::binary::count_empty_items(&mut empty, n as u64)?;
                    }
                }
            }
        }
        TyKind::Union(branches) => {
            let i = crate::binary::read_index(input, branches.len() as u32)?;
            skip(s, &branches[i as usize], input)
        }
        TyKind::Named(id) => match &s.named[*id].kind {
            NamedKind::Fixed { size, .. } => copy(input, &mut sink, *size),
            NamedKind::Enum { symbols, .. } => {
                crate::binary::read_enum_index(input, symbols.len()).map(drop)
            }
            NamedKind::Record { fields, .. } => {
                fields.iter().try_for_each(|f| skip(s, &f.ty, input))
            }
        },
    }
}

/// Decodes `T` from data written with a different schema through `resolver` (built for that
/// writer and `T`'s schema), with `T`'s generated decoder.
pub fn decode_resolved<T: crate::AvroBinary>(
    resolver: &Resolver,
    bytes: &[u8],
) -> Result<T, DecodeError> {
    with_resolved(resolver, bytes, crate::binary::from_slice)
}

/// Rewrites one writer datum (all of `bytes`: trailing bytes are an error) as reader data in a
/// per-thread buffer and hands it to `read` (a generated decoder).
pub fn with_resolved<T>(
    resolver: &Resolver,
    bytes: &[u8],
    read: impl FnOnce(&[u8]) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|cell| {
        // a decoder that resolves again on this thread (it does not today) gets its own buffer
        let mut own = Vec::new();
        let mut borrowed = cell.try_borrow_mut();
        let buf = match &mut borrowed {
            Ok(b) => &mut **b,
            Err(_) => &mut own,
        };
        buf.clear();
        let mut input = bytes;
        resolver.transcode(&mut input, buf)?;
        if !input.is_empty() {
            return Err(DecodeError::invalid(format!(
                "{} bytes left over after the datum: the bytes were not written with the writer schema",
                input.len()
            )));
        }
        read(buf)
    })
}
