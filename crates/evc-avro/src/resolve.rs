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

use evc_schema::{NamedKind, Schema, Ty, TyKind};

use crate::binary::{read_long, write_double, write_float, write_long};
use crate::DecodeError;

mod plan;

use plan::{identity, Builder, Node, RecordPlan, Step};

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

/// Rewrites data of a writer schema as data of a reader schema. Build once, use per message.
#[derive(Debug, Clone)]
pub struct Resolver {
    writer: Schema,
    root: Node,
    records: Vec<RecordPlan>,
    merge: Option<Merge>,
}

/// A root record whose data needs no rewriting, only merging: the writer wrote the reader's
/// fields it has byte for byte and in the reader's order (each a [`Step::Copy`]), perhaps
/// followed by fields the reader drops. The reader's decoder then reads those fields straight
/// from the writer's bytes and the others from their defaults
/// ([`crate::AvroBinary::read_avro_merged`]); the dropped tail is skipped after.
#[derive(Debug, Clone)]
struct Merge {
    /// Bit `i` set: reader field `i` is the writer's.
    from_writer: u64,
    /// The default bytes of the other reader fields, in reader order.
    defaults: Box<[u8]>,
    /// The writer's fields after the last one the reader reads.
    skip: Vec<Ty>,
}

impl Merge {
    fn of(root: &Node, records: &[RecordPlan]) -> Option<Merge> {
        let Node::Record(i) = root else { return None };
        let plan = &records[*i];
        if plan.fail.is_some() || !plan.in_order || plan.defaults.len() > 64 {
            return None;
        }
        let copied = plan
            .steps
            .iter()
            .take_while(|s| matches!(s, Step::Copy(..)))
            .count();
        let mut from_writer = 0u64;
        for step in &plan.steps[..copied] {
            if let Step::Copy(ri, _) = step {
                from_writer |= 1 << ri;
            }
        }
        let mut skip = Vec::new();
        for step in &plan.steps[copied..] {
            match step {
                Step::Skip(ty) => skip.push(ty.clone()),
                _ => return None,
            }
        }
        let mut defaults = Vec::new();
        for (ri, d) in plan.defaults.iter().enumerate() {
            if from_writer & (1 << ri) == 0 {
                defaults.extend_from_slice(d.as_deref()?);
            }
        }
        Some(Merge {
            from_writer,
            defaults: defaults.into(),
            skip,
        })
    }
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
        let merge = Merge::of(&root, &records);
        Ok(Resolver {
            writer: writer.clone(),
            root,
            records,
            merge,
        })
    }

    /// Whether [`decode_resolved`] reads the writer's bytes in place (into a generated record
    /// type): the reader's fields the writer has are the writer's, byte for byte and in order,
    /// the others have defaults, and the writer's extra fields come last.
    pub fn reads_in_place(&self) -> bool {
        self.merge.is_some()
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
///
/// When the writer's bytes need no rewriting (the reader's fields are the writer's, in order,
/// byte for byte, the others defaulted or dropped), `T`'s decoder reads them in place and the
/// defaults from bytes encoded once per resolver: nothing is copied. Otherwise the datum is
/// rewritten into a buffer first ([`with_resolved`]).
pub fn decode_resolved<T: crate::AvroBinary>(
    resolver: &Resolver,
    bytes: &[u8],
) -> Result<T, DecodeError> {
    if let (true, Some(m)) = (T::MERGED, &resolver.merge) {
        let (mut input, mut defaults) = (bytes, &m.defaults[..]);
        let value = T::read_avro_merged(&mut input, &mut defaults, m.from_writer)?;
        for ty in &m.skip {
            skip(&resolver.writer, ty, &mut input)?;
        }
        if !input.is_empty() {
            return Err(left_over(input.len()));
        }
        if !defaults.is_empty() {
            return Err(DecodeError::invalid(format!(
                "the reader's defaults were not all read ({} bytes left): the resolver was not built for this type",
                defaults.len()
            )));
        }
        return Ok(value);
    }
    with_resolved(resolver, bytes, crate::binary::from_slice)
}

fn left_over(n: usize) -> DecodeError {
    DecodeError::invalid(format!(
        "{n} bytes left over after the datum: the bytes were not written with the writer schema"
    ))
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
            return Err(left_over(input.len()));
        }
        read(buf)
    })
}
