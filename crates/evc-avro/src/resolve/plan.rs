//! Planning a resolution: per (writer, reader) pair of types, what to do with the writer's
//! bytes ([`Node`]), per record the steps over its fields and the reader's default bytes
//! ([`RecordPlan`]), and which kept fields are byte-for-byte the writer's ([`identity`]).
//! Running a plan on data is the parent module's job.

use std::collections::HashMap;

use evc_schema::json::{Json, JsonValue};
use evc_schema::{NamedId, NamedKind, Schema, Ty, TyKind};

use super::ResolveError;
use crate::binary::{write_double, write_float, write_long};

#[derive(Debug, Clone)]
pub(super) enum Node {
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
pub(super) enum Step {
    /// Rewrite the writer's field (writer type kept for [`Step::Copy`]) into reader field `.0`.
    Keep(usize, Node, Ty),
    /// The writer's bytes are already the reader's: copied as they are (consecutive copies
    /// become one `memcpy`), after checking where the value ends.
    Copy(usize, Ty),
    Skip(Ty),
}

#[derive(Debug, Clone, Default)]
pub(super) struct RecordPlan {
    pub(super) steps: Vec<Step>,
    /// Default bytes per reader field (for fields the writer does not have).
    pub(super) defaults: Vec<Option<Vec<u8>>>,
    /// Kept fields come in reader order, so the output can be streamed.
    pub(super) in_order: bool,
    pub(super) fail: Option<ResolveError>,
}

pub(super) struct Builder<'a> {
    pub(super) w: &'a Schema,
    pub(super) r: &'a Schema,
    pub(super) records: Vec<RecordPlan>,
    pub(super) memo: HashMap<(NamedId, NamedId), usize>,
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
    pub(super) fn node(&mut self, wt: &Ty, rt: &Ty) -> Node {
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

/// Whether data resolved through `node` is byte for byte the writer's data (so it can be copied
/// once its end is found). Records on the `assuming` stack count as identical (a recursive
/// record is identical when everything else in it is).
pub(super) fn identity(records: &[RecordPlan], node: &Node, assuming: &mut Vec<usize>) -> bool {
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
