//! A small JSON reader that keeps where every value came from.
//!
//! `serde_json` forgets positions, and diagnostics need them ("`v2.avsc:14:9`"), so schema files
//! are read with this instead. It is strict RFC 8259 JSON, with a nesting limit so that hostile
//! input (a registry request body, say) cannot exhaust the stack.

use std::fmt;

/// A byte range in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
}

/// A 1-based line and column (column counted in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LineCol {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for LineCol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Turns byte offsets into line and column.
#[derive(Debug, Clone)]
pub struct LineIndex {
    line_starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut line_starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(i + 1);
            }
        }
        LineIndex { line_starts }
    }

    pub fn line_col(&self, text: &str, offset: usize) -> LineCol {
        let offset = offset.min(text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        let column = text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(offset - start)
            + 1;
        LineCol {
            line: line + 1,
            column,
        }
    }
}

/// Position of `offset` in `text` (convenience for one-off look-ups).
pub fn line_col(text: &str, offset: usize) -> LineCol {
    LineIndex::new(text).line_col(text, offset)
}

/// A JSON value with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Json {
    pub span: Span,
    pub value: JsonValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JsonValue {
    Null,
    Bool(bool),
    /// The number's literal text, kept exactly (so `1.0` and `1` stay distinct, and big integers survive).
    Number(String),
    String(String),
    Array(Vec<Json>),
    /// Members in source order, duplicates kept (the schema parser rejects them).
    Object(Vec<(Key, Json)>),
}

/// An object key with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub span: Span,
    pub name: String,
}

impl Json {
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            JsonValue::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(Key, Json)]> {
        match &self.value {
            JsonValue::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match &self.value {
            JsonValue::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The member `key` of an object (the last one if repeated).
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.as_object()?
            .iter()
            .rev()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    /// The number as an `i64`, if it is an integer literal in range.
    pub fn as_i64(&self) -> Option<i64> {
        match &self.value {
            JsonValue::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    /// The number as an `f64`.
    pub fn as_f64(&self) -> Option<f64> {
        match &self.value {
            JsonValue::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    /// A short word for the value's JSON type, for messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            JsonValue::Null => "null",
            JsonValue::Bool(_) => "a boolean",
            JsonValue::Number(_) => "a number",
            JsonValue::String(_) => "a string",
            JsonValue::Array(_) => "an array",
            JsonValue::Object(_) => "an object",
        }
    }

    /// Converts to a `serde_json::Value` (positions dropped).
    pub fn to_serde(&self) -> serde_json::Value {
        match &self.value {
            JsonValue::Null => serde_json::Value::Null,
            JsonValue::Bool(b) => serde_json::Value::Bool(*b),
            // An integer literal stays an integer: serde_json reads `-0` as the double -0.0,
            // which would be written back as `-0.0` and then refused as an `int` default.
            JsonValue::Number(n) if integer_literal(n) => match n.parse::<i64>() {
                Ok(i) => serde_json::Value::from(i),
                Err(_) => serde_json::from_str(n).unwrap_or(serde_json::Value::Null),
            },
            JsonValue::Number(n) => serde_json::from_str(n).unwrap_or_else(|_| {
                // beyond f64 (`1e400`), which serde_json cannot hold: Avro Java reads it as an
                // infinite double, written in JSON as the string Avro uses for one
                match n.parse::<f64>() {
                    Ok(x) if x == f64::INFINITY => serde_json::Value::String("Infinity".into()),
                    Ok(x) if x == f64::NEG_INFINITY => {
                        serde_json::Value::String("-Infinity".into())
                    }
                    _ => serde_json::Value::Null,
                }
            }),
            JsonValue::String(s) => serde_json::Value::String(s.clone()),
            JsonValue::Array(a) => serde_json::Value::Array(a.iter().map(Json::to_serde).collect()),
            JsonValue::Object(m) => {
                let mut out = serde_json::Map::new();
                for (k, v) in m {
                    out.insert(k.name.clone(), v.to_serde());
                }
                serde_json::Value::Object(out)
            }
        }
    }
}

/// A JSON syntax error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct JsonError {
    pub message: String,
    pub offset: usize,
}

/// Default nesting limit: deep enough for any real schema, shallow enough for any stack.
pub const DEFAULT_MAX_DEPTH: usize = 128;

/// Parses `text` as one JSON document.
pub fn parse(text: &str) -> Result<Json, JsonError> {
    parse_with_depth(text, DEFAULT_MAX_DEPTH)
}

/// Parses `text` as one JSON document, refusing nesting deeper than `max_depth`.
pub fn parse_with_depth(text: &str, max_depth: usize) -> Result<Json, JsonError> {
    let mut p = Parser {
        src: text.as_bytes(),
        text,
        pos: 0,
        depth: 0,
        max_depth,
    };
    p.skip_ws();
    let v = p.value()?;
    p.skip_ws();
    if p.pos < p.src.len() {
        return Err(p.err("unexpected characters after the JSON value"));
    }
    Ok(v)
}

struct Parser<'a> {
    src: &'a [u8],
    text: &'a str,
    pos: usize,
    depth: usize,
    max_depth: usize,
}

impl Parser<'_> {
    fn err(&self, message: impl Into<String>) -> JsonError {
        JsonError {
            message: message.into(),
            offset: self.pos,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect_word(&mut self, word: &str, v: JsonValue) -> Result<Json, JsonError> {
        let start = self.pos;
        if self.src[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(Json {
                span: Span::new(start, self.pos),
                value: v,
            })
        } else {
            Err(self.err("expected a JSON value"))
        }
    }

    fn value(&mut self) -> Result<Json, JsonError> {
        match self.peek() {
            None => Err(self.err("unexpected end of input, expected a JSON value")),
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => {
                let start = self.pos;
                let s = self.string()?;
                Ok(Json {
                    span: Span::new(start, self.pos),
                    value: JsonValue::String(s),
                })
            }
            Some(b't') => self.expect_word("true", JsonValue::Bool(true)),
            Some(b'f') => self.expect_word("false", JsonValue::Bool(false)),
            Some(b'n') => self.expect_word("null", JsonValue::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(c) => Err(self.err(format!(
                "unexpected character `{}`, expected a JSON value",
                self.char_at(c)
            ))),
        }
    }

    fn char_at(&self, c: u8) -> String {
        self.text[self.pos..]
            .chars()
            .next()
            .map(|c| c.escape_debug().to_string())
            .unwrap_or_else(|| (c as char).to_string())
    }

    fn enter(&mut self) -> Result<(), JsonError> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(self.err(format!("JSON nested deeper than {} levels", self.max_depth)));
        }
        Ok(())
    }

    fn object(&mut self) -> Result<Json, JsonError> {
        let start = self.pos;
        self.enter()?;
        self.pos += 1;
        let mut members = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                if self.peek() != Some(b'"') {
                    return Err(self.err("expected a string key in the object"));
                }
                let kstart = self.pos;
                let name = self.string()?;
                let key = Key {
                    span: Span::new(kstart, self.pos),
                    name,
                };
                self.skip_ws();
                if self.peek() != Some(b':') {
                    return Err(self.err("expected `:` after the object key"));
                }
                self.pos += 1;
                self.skip_ws();
                let v = self.value()?;
                members.push((key, v));
                self.skip_ws();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    None => return Err(self.err("unexpected end of input inside an object")),
                    _ => return Err(self.err("expected `,` or `}` in the object")),
                }
            }
        }
        self.depth -= 1;
        Ok(Json {
            span: Span::new(start, self.pos),
            value: JsonValue::Object(members),
        })
    }

    fn array(&mut self) -> Result<Json, JsonError> {
        let start = self.pos;
        self.enter()?;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                items.push(self.value()?);
                self.skip_ws();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b']') => {
                        self.pos += 1;
                        break;
                    }
                    None => return Err(self.err("unexpected end of input inside an array")),
                    _ => return Err(self.err("expected `,` or `]` in the array")),
                }
            }
        }
        self.depth -= 1;
        Ok(Json {
            span: Span::new(start, self.pos),
            value: JsonValue::Array(items),
        })
    }

    fn number(&mut self) -> Result<Json, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.pos += 1;
                }
            }
            _ => return Err(self.err("invalid number: expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("invalid number: expected a digit after `.`"));
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("invalid number: expected a digit in the exponent"));
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
        }
        Ok(Json {
            span: Span::new(start, self.pos),
            value: JsonValue::Number(self.text[start..self.pos].to_string()),
        })
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let h = self
            .src
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.err("truncated \\u escape"))?;
        let s = std::str::from_utf8(h).map_err(|_| self.err("invalid \\u escape"))?;
        let v = u32::from_str_radix(s, 16).map_err(|_| self.err("invalid \\u escape"))?;
        self.pos += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[run_start..self.pos]);
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let esc = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                    self.pos += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if self.src.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                    return Err(self.err("unpaired surrogate in \\u escape"));
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("unpaired surrogate in \\u escape"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(self.err("unpaired surrogate in \\u escape"));
                            } else {
                                hi
                            };
                            out.push(
                                char::from_u32(cp).ok_or_else(|| self.err("invalid \\u escape"))?,
                            );
                        }
                        _ => {
                            self.pos -= 1;
                            return Err(self.err("invalid escape in string"));
                        }
                    }
                }
                Some(_) => return Err(self.err("control character in string (escape it)")),
            }
        }
    }
}

/// Writes `s` as a JSON string literal (only `"`, `\` and control characters escaped).
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `-?[0-9]+`: a JSON number without fraction or exponent.
fn integer_literal(n: &str) -> bool {
    let digits = n.strip_prefix('-').unwrap_or(n);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_keeps_spans() {
        let text = "{\n  \"a\": [1, 2.5, \"x\"],\n  \"b\": null }";
        let v = parse(text).unwrap();
        let a = v.get("a").unwrap();
        assert_eq!(&text[a.span.start..a.span.end], "[1, 2.5, \"x\"]");
        assert_eq!(line_col(text, a.span.start), LineCol { line: 2, column: 8 });
        assert_eq!(
            a.as_array().unwrap()[1].value,
            JsonValue::Number("2.5".into())
        );
    }

    #[test]
    fn escapes_and_surrogates() {
        let v = parse(r#""a\"b\\c\u00e9\ud83d\ude00""#).unwrap();
        assert_eq!(v.as_str(), Some("a\"b\\cé😀"));
        assert!(parse(r#""\ud83d""#).is_err());
    }

    #[test]
    fn malformed_inputs_are_errors_with_offsets() {
        for (text, at) in [
            ("{\"a\" 1}", 5),
            ("[1,]", 3),
            ("{\"a\":1,}", 7),
            ("01", 1),
            ("\"abc", 4),
            ("{} x", 3),
            ("", 0),
            ("[1 2]", 3),
            ("-", 1),
            ("1.", 2),
            ("tru", 0),
        ] {
            let e = parse(text).expect_err(text);
            assert_eq!(e.offset, at, "{text}: {e}");
        }
    }

    #[test]
    fn nesting_limit_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        let e = parse(&deep).unwrap_err();
        assert!(e.message.contains("nested deeper than 128"), "{e}");
        assert!(parse_with_depth(&("[".repeat(5) + &"]".repeat(5)), 5).is_ok());
        assert!(parse_with_depth(&("[".repeat(6) + &"]".repeat(6)), 5).is_err());
    }

    #[test]
    fn line_col_counts_chars() {
        let text = "é\n  x";
        assert_eq!(
            line_col(text, text.len() - 1),
            LineCol { line: 2, column: 3 }
        );
        assert_eq!(line_col(text, 2), LineCol { line: 1, column: 2 });
    }
}
