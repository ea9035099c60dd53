//! W3C Trace Context (`traceparent`, `tracestate`) as message headers, and the bridge between
//! it and `tracing` spans.
//!
//! Parsing follows the W3C Trace Context recommendation (level 1): `traceparent` is
//! `version-traceid-parentid-flags` in lowercase hex; version `ff` is invalid; version `00` is
//! exactly 55 characters; a later version may carry more fields after a `-`, and its first
//! four are read as version `00`'s; an all-zero trace id or parent id is invalid. An invalid
//! `tracestate` is dropped while its `traceparent` is kept, as the recommendation says.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The header carrying trace id, parent span id and flags.
pub const TRACEPARENT: &str = "traceparent";
/// The header carrying vendors' trace state.
pub const TRACESTATE: &str = "tracestate";

const MAX_TRACESTATE_MEMBERS: usize = 32;

/// A `traceparent` (or its header) that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceContextError {
    /// The value breaks the `traceparent` grammar.
    #[error("invalid traceparent `{value}`: {problem}")]
    InvalidTraceparent {
        /// The value (its first 80 characters).
        value: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// The header's bytes are not UTF-8.
    #[error("header `{header}` is not UTF-8")]
    NotUtf8 {
        /// `traceparent` or `tracestate`.
        header: &'static str,
    },
}

/// One hop of a distributed trace: the trace, the span that sent the message (the receiver's
/// parent), the flags (bit 0: sampled), and vendors' trace state.
#[derive(Clone, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
    flags: u8,
    tracestate: Option<String>,
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceContext")
            .field("traceparent", &self.traceparent())
            .field("tracestate", &self.tracestate)
            .finish()
    }
}

fn invalid(value: &str, problem: &'static str) -> TraceContextError {
    TraceContextError::InvalidTraceparent {
        value: value.chars().take(80).collect(),
        problem,
    }
}

fn lower_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl TraceContext {
    /// A context from its parts (`flags` bit 0: sampled); `None` when an id is all zeros.
    pub fn new(trace_id: [u8; 16], parent_id: [u8; 8], flags: u8) -> Option<TraceContext> {
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(TraceContext {
            trace_id,
            parent_id,
            flags,
            tracestate: None,
        })
    }

    /// Parses a `traceparent` value and, when given, a `tracestate` value (kept only if
    /// valid).
    pub fn parse(
        traceparent: &str,
        tracestate: Option<&str>,
    ) -> Result<TraceContext, TraceContextError> {
        let v = traceparent.trim_matches(|c| c == ' ' || c == '\t');
        if v.len() < 55 || !v.is_ascii() {
            return Err(invalid(v, "shorter than 55 characters or not ASCII"));
        }
        let version = lower_hex::<1>(&v[0..2]).ok_or_else(|| invalid(v, "bad version"))?;
        if version[0] == 0xff {
            return Err(invalid(v, "version ff is forbidden"));
        }
        if version[0] == 0 && v.len() != 55 {
            return Err(invalid(v, "version 00 is exactly 55 characters"));
        }
        if v.len() > 55 && v.as_bytes()[55] != b'-' {
            return Err(invalid(v, "fields after the flags must follow a `-`"));
        }
        let b = v.as_bytes();
        if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return Err(invalid(v, "fields are not separated by `-`"));
        }
        let trace_id = lower_hex::<16>(&v[3..35])
            .ok_or_else(|| invalid(v, "trace id is not 32 lowercase hex digits"))?;
        let parent_id = lower_hex::<8>(&v[36..52])
            .ok_or_else(|| invalid(v, "parent id is not 16 lowercase hex digits"))?;
        let flags = lower_hex::<1>(&v[53..55]).ok_or_else(|| invalid(v, "bad trace flags"))?[0];
        let mut ctx = TraceContext::new(trace_id, parent_id, flags)
            .ok_or_else(|| invalid(v, "trace id and parent id may not be all zeros"))?;
        ctx.tracestate = tracestate.and_then(valid_tracestate);
        Ok(ctx)
    }

    /// The `traceparent` value (version `00`).
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&self.parent_id),
            self.flags
        )
    }

    /// The `tracestate` value, if any.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// The same context with `tracestate` (dropped if invalid).
    pub fn with_tracestate(mut self, tracestate: &str) -> TraceContext {
        self.tracestate = valid_tracestate(tracestate);
        self
    }

    /// The trace id as 32 lowercase hex digits.
    pub fn trace_id(&self) -> String {
        hex(&self.trace_id)
    }

    /// The sending span's id as 16 lowercase hex digits.
    pub fn parent_id(&self) -> String {
        hex(&self.parent_id)
    }

    /// Whether the sender sampled (recorded) the trace.
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The context of `span`, if it has one (a span recorded by the OpenTelemetry layer that
    /// [`crate::init`] installs; `None` without that layer or for a disabled span).
    pub fn of_span(span: &tracing::Span) -> Option<TraceContext> {
        let cx = span.context();
        let sc = cx.span().span_context().clone();
        if !sc.is_valid() {
            return None;
        }
        let mut ctx = TraceContext::new(
            sc.trace_id().to_bytes(),
            sc.span_id().to_bytes(),
            sc.trace_flags().to_u8(),
        )?;
        let state = sc.trace_state().header();
        if !state.is_empty() {
            ctx.tracestate = valid_tracestate(&state);
        }
        Some(ctx)
    }

    /// The context of the current span (see [`of_span`](Self::of_span)).
    pub fn current() -> Option<TraceContext> {
        TraceContext::of_span(&tracing::Span::current())
    }

    /// Makes this (remote) context the parent of `span`, so `span` continues the trace. Call it
    /// before `span` is first entered. Answers false when the span cannot take a parent (no
    /// OpenTelemetry layer, the span disabled or already started).
    pub fn set_parent_of(&self, span: &tracing::Span) -> bool {
        let state = self
            .tracestate
            .as_deref()
            .and_then(|s| TraceState::from_str(s).ok())
            .unwrap_or_default();
        let sc = SpanContext::new(
            TraceId::from_bytes(self.trace_id),
            SpanId::from_bytes(self.parent_id),
            TraceFlags::new(self.flags),
            true,
            state,
        );
        span.set_parent(opentelemetry::Context::new().with_remote_span_context(sc))
            .is_ok()
    }

    /// Writes `traceparent` (and `tracestate`, when there is one) into `headers`, replacing
    /// earlier values.
    pub fn inject(&self, headers: &mut (impl HeaderInjector + ?Sized)) {
        headers.set_header(TRACEPARENT, &self.traceparent());
        if let Some(s) = &self.tracestate {
            headers.set_header(TRACESTATE, s);
        }
    }

    /// Reads the context from `headers`: `Ok(None)` when there is no `traceparent`, an error
    /// when it is there but invalid (the receiver should then start a new trace, as the W3C
    /// recommendation says, and may log the error).
    pub fn extract(
        headers: &(impl HeaderExtractor + ?Sized),
    ) -> Result<Option<TraceContext>, TraceContextError> {
        let Some(parent) = headers.header(TRACEPARENT) else {
            return Ok(None);
        };
        let parent = std::str::from_utf8(parent).map_err(|_| TraceContextError::NotUtf8 {
            header: TRACEPARENT,
        })?;
        let state = headers
            .header(TRACESTATE)
            .and_then(|s| std::str::from_utf8(s).ok());
        TraceContext::parse(parent, state).map(Some)
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.traceparent())
    }
}

/// `tracestate` kept only if it follows the grammar: at most 32 `key=value` members, keys
/// unique.
fn valid_tracestate(s: &str) -> Option<String> {
    let mut keys = Vec::new();
    let mut members = Vec::new();
    for m in s.split(',') {
        let m = m.trim_matches(|c| c == ' ' || c == '\t');
        if m.is_empty() {
            continue;
        }
        let (k, v) = m.split_once('=')?;
        if !valid_key(k) || !valid_value(v) || keys.contains(&k) {
            return None;
        }
        keys.push(k);
        members.push(m);
    }
    if members.is_empty() || members.len() > MAX_TRACESTATE_MEMBERS {
        return None;
    }
    Some(members.join(","))
}

fn key_char(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'*' | b'/')
}

fn valid_key(k: &str) -> bool {
    let b = k.as_bytes();
    match k.split_once('@') {
        None => {
            !b.is_empty()
                && b.len() <= 256
                && b[0].is_ascii_lowercase()
                && b.iter().all(|&c| key_char(c))
        }
        Some((tenant, system)) => {
            let (t, s) = (tenant.as_bytes(), system.as_bytes());
            !t.is_empty()
                && t.len() <= 241
                && (t[0].is_ascii_lowercase() || t[0].is_ascii_digit())
                && t.iter().all(|&c| key_char(c))
                && !s.is_empty()
                && s.len() <= 14
                && s[0].is_ascii_lowercase()
                && s.iter().all(|&c| key_char(c))
        }
    }
}

fn valid_value(v: &str) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 256
        && b.iter()
            .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
        && b[b.len() - 1] != b' '
}

/// Somewhere to write headers into (a message being built).
pub trait HeaderInjector {
    /// Sets `name` to `value`, replacing an earlier value of `name`.
    fn set_header(&mut self, name: &str, value: &str);
}

/// Somewhere to read headers from (a received message).
pub trait HeaderExtractor {
    /// The value of `name` (the last one, if repeated).
    fn header(&self, name: &str) -> Option<&[u8]>;
}

impl HeaderInjector for Vec<(String, Vec<u8>)> {
    fn set_header(&mut self, name: &str, value: &str) {
        self.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.push((name.to_string(), value.as_bytes().to_vec()));
    }
}

impl HeaderExtractor for Vec<(String, Vec<u8>)> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.as_slice().header(name)
    }
}

impl HeaderExtractor for [(String, Vec<u8>)] {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

impl HeaderInjector for HashMap<String, String> {
    fn set_header(&mut self, name: &str, value: &str) {
        self.insert(name.to_string(), value.to_string());
    }
}

impl HeaderExtractor for HashMap<String, String> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(|v| v.as_bytes())
    }
}

impl HeaderInjector for BTreeMap<String, Vec<u8>> {
    fn set_header(&mut self, name: &str, value: &str) {
        self.insert(name.to_string(), value.as_bytes().to_vec());
    }
}

impl HeaderExtractor for BTreeMap<String, Vec<u8>> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_recommendation_s_example_round_trips() {
        let c = TraceContext::parse(TP, Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")).unwrap();
        assert_eq!(c.traceparent(), TP);
        assert_eq!(c.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(c.parent_id(), "00f067aa0ba902b7");
        assert!(c.sampled());
        assert_eq!(
            c.tracestate(),
            Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        );
        let mut h: Vec<(String, Vec<u8>)> = vec![("traceparent".into(), b"old".to_vec())];
        c.inject(&mut h);
        assert_eq!(h.len(), 2);
        assert_eq!(TraceContext::extract(&h).unwrap(), Some(c));
        assert_eq!(TraceContext::extract(&Vec::new()).unwrap(), None);
    }

    #[test]
    fn invalid_traceparents_are_typed_errors() {
        let cases = [
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
                "shorter than 55 characters or not ASCII",
            ),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "version ff is forbidden",
            ),
            (
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                "trace id is not 32 lowercase hex digits",
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "trace id and parent id may not be all zeros",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                "trace id and parent id may not be all zeros",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
                "version 00 is exactly 55 characters",
            ),
            (
                "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "fields are not separated by `-`",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba9g2b7-01",
                "parent id is not 16 lowercase hex digits",
            ),
        ];
        for (v, problem) in cases {
            match TraceContext::parse(v, None) {
                Err(TraceContextError::InvalidTraceparent { problem: p, .. }) => {
                    assert_eq!(p, problem, "{v}")
                }
                other => panic!("{v}: {other:?}"),
            }
        }
        // a later version with more fields: the first four are read
        let later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever";
        assert_eq!(TraceContext::parse(later, None).unwrap().traceparent(), TP);
        let h: Vec<(String, Vec<u8>)> = vec![("traceparent".into(), vec![0xff, 0xfe])];
        assert_eq!(
            TraceContext::extract(&h).unwrap_err(),
            TraceContextError::NotUtf8 {
                header: "traceparent"
            }
        );
    }

    #[test]
    fn invalid_tracestate_is_dropped_and_the_parent_kept() {
        for bad in [
            "UPPER=1",
            "a=1,a=2",
            "a",
            "a=b,c",
            "k=v\tx",
            "k=va=lue",
            "k=caf\u{e9}",
        ] {
            let c = TraceContext::parse(TP, Some(bad)).unwrap();
            assert_eq!(c.tracestate(), None, "{bad}");
        }
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert_eq!(
            TraceContext::parse(TP, Some(&many.join(",")))
                .unwrap()
                .tracestate(),
            None
        );
        let ok = TraceContext::parse(TP, Some(" a=1 ,, t1@sys=x y ")).unwrap();
        assert_eq!(ok.tracestate(), Some("a=1,t1@sys=x y"));
    }
}
