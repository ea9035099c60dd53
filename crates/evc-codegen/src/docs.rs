//! Schema text inside Rust source: doc comments and string literals for any string.
//!
//! A `doc` may hold anything; the generated code must still compile without warnings and its
//! docs must not become doctests. So:
//! - lines are split on `\n`, `\r\n` and `\r` (rustc rejects a bare CR in a doc comment), and
//!   trailing whitespace is dropped;
//! - a line holding a control character (other than tab) or an invisible formatting character
//!   (bidirectional overrides and isolates, which rustc rejects in comments, zero-width
//!   characters, BOM, line/paragraph separators) is written as `#[doc = "…"]` with those
//!   characters escaped, every other line as `/// …`;
//! - a code fence (three backticks or tildes) at the start of a line is escaped with `\`, and an
//!   indentation of four columns or more is written as no-break spaces, so rustdoc never reads
//!   the text as a doctest.

/// Characters that must not appear literally in generated source.
fn hidden(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// A Rust string literal holding `s` exactly, with no hidden character in the source.
pub(crate) fn string_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if hidden(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// JSON text with every hidden character written as a `\uXXXX` escape (same JSON value).
/// Hidden characters only occur inside JSON strings, where the escape is valid.
pub(crate) fn json_without_hidden(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if hidden(c) {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Makes one line of schema text safe as markdown that rustdoc will not test.
fn markdown_line(line: &str) -> String {
    let trimmed = line.trim_start_matches([' ', '\t']);
    let indent = &line[..line.len() - trimmed.len()];
    let mut out = String::new();
    let width: usize = indent.chars().map(|c| if c == '\t' { 4 } else { 1 }).sum();
    if width >= 4 {
        // four columns of indentation start an indented code block (a doctest): keep the
        // indentation visible as no-break spaces instead
        out.push_str(&"\u{a0}".repeat(width));
    } else {
        out.push_str(indent);
    }
    if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
        out.push('\\');
    }
    out.push_str(trimmed);
    out
}

/// Doc comment lines (each a whole line of Rust: `/// …` or `#[doc = "…"]`) for `text`.
pub(crate) fn doc_lines(text: &str) -> Vec<String> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = text.split('\n').map(str::trim_end).collect();
    // no leading or trailing blank lines (an empty or blank doc gives no lines at all)
    let first = lines.iter().position(|l| !l.is_empty());
    let last = lines.iter().rposition(|l| !l.is_empty());
    let (Some(first), Some(last)) = (first, last) else {
        return Vec::new();
    };
    lines[first..=last]
        .iter()
        .map(|line| {
            let md = markdown_line(line);
            if md.is_empty() {
                "///".to_string()
            } else if md.chars().any(hidden) {
                format!("#[doc = {}]", string_literal(&format!(" {md}")))
            } else {
                format!("/// {md}")
            }
        })
        .collect()
}

/// Doc lines for an optional doc.
pub(crate) fn doc_of(doc: &Option<String>) -> Vec<String> {
    doc.as_deref().map(doc_lines).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_docs_stay_line_comments() {
        assert_eq!(
            doc_lines("One.\n\nTwo `x`."),
            ["/// One.", "///", "/// Two `x`."]
        );
        assert!(doc_lines("").is_empty());
        assert!(doc_lines(" \n\t\r\n").is_empty());
        assert_eq!(doc_lines("a\r\nb\rc"), ["/// a", "/// b", "/// c"]);
        assert_eq!(doc_lines("*/ #[x] 🎉"), ["/// */ #[x] 🎉"]);
    }

    #[test]
    fn hidden_characters_are_escaped_in_a_doc_attribute() {
        assert_eq!(
            doc_lines("evil \u{202E}txt"),
            [r#"#[doc = " evil \u{202e}txt"]"#]
        );
        assert_eq!(doc_lines("nul\0"), [r#"#[doc = " nul\u{0}"]"#]);
    }

    #[test]
    fn code_fences_and_indentation_cannot_become_doctests() {
        assert_eq!(
            doc_lines("```\npanic!()\n```"),
            ["/// \\```", "/// panic!()", "/// \\```"]
        );
        assert_eq!(
            doc_lines("x\n\n    code"),
            ["/// x", "///", "/// \u{a0}\u{a0}\u{a0}\u{a0}code"]
        );
    }

    #[test]
    fn literals_and_json_hide_nothing() {
        assert_eq!(string_literal("a\"b\\\u{202E}\n"), r#""a\"b\\\u{202e}\n""#);
        assert_eq!(json_without_hidden("\"a\u{2066}\""), "\"a\\u2066\"");
    }
}
