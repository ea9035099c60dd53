//! Avro names to Rust identifiers, and the renaming that keeps them apart.
//!
//! The rules (also in the crate docs):
//! 1. Case: fields and modules become `snake_case`, types and variants `CamelCase`
//!    (`orderId` → `order_id`, `BANK_TRANSFER` → `BankTransfer`).
//! 2. Letters and digits outside ASCII (Avro names may hold any script) become `u` and their
//!    code point in hex, as a word of their own: `café` → `caf_u00e9`, `Ré` → `RU00e9`.
//! 3. Keywords: `r#type`; the four that cannot be raw get a trailing `_` (`self_`, `Self_`,
//!    `super_`, `crate_`); `_` alone becomes `__`.
//! 4. Clashes: within one Rust scope (a module's types and sub-modules, a record's fields, an
//!    enum's or a union's variants), names are claimed in schema order; the first keeps its
//!    name and each later one takes the smallest free numeric suffix from 2 (see [`Claims`]).

use std::collections::HashSet;

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "else", "enum", "extern", "false", "fn", "for", "if",
    "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "static",
    "struct", "trait", "true", "type", "unsafe", "use", "where", "while", "async", "await", "dyn",
    "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized",
    "virtual", "yield", "try", "gen",
];

/// Keywords that cannot be raw identifiers.
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate", "_"];

/// Makes `s` a usable identifier: `r#type`, `self_`.
pub fn escape(s: &str) -> String {
    if NOT_RAW.contains(&s) {
        format!("{s}_")
    } else if KEYWORDS.contains(&s) {
        format!("r#{s}")
    } else {
        s.to_string()
    }
}

/// Rule 2: every character outside ASCII becomes the word `u{hex}` (`é` → `_u00e9_`). ASCII
/// characters an identifier cannot hold (never in Avro names, but in file names used as the
/// name of a top-level type: `my-schema.v2`) separate words.
fn ascii(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if c.is_ascii() {
            out.push('_');
        } else {
            out.push_str(&format!("_u{:04x}_", c as u32));
        }
    }
    out
}

fn words(s: &str) -> Vec<String> {
    // split on `_` and on lower→upper and UPPER→Upper-lower boundaries
    let mut out = Vec::new();
    for part in s.split('_').filter(|p| !p.is_empty()) {
        let chars: Vec<char> = part.chars().collect();
        let mut cur = String::new();
        for i in 0..chars.len() {
            let c = chars[i];
            if i > 0 && c.is_uppercase() {
                let prev = chars[i - 1];
                let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
                if prev.is_lowercase() || prev.is_numeric() || (prev.is_uppercase() && next_lower) {
                    out.push(std::mem::take(&mut cur));
                }
            }
            cur.push(c);
        }
        if !cur.is_empty() {
            out.push(cur);
        }
    }
    out
}

/// `snake` before keyword escaping.
fn snake_base(s: &str) -> String {
    let plain = s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain
        && !s.chars().any(|c| c.is_ascii_uppercase())
        && !s.starts_with(|c: char| c.is_ascii_digit())
    {
        return s.to_string();
    }
    let lead = if s.starts_with('_') { "_" } else { "" };
    let w: Vec<String> = words(&ascii(s))
        .into_iter()
        .map(|w| w.to_lowercase())
        .collect();
    let out = format!("{lead}{}", w.join("_"));
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{out}")
    } else {
        out
    }
}

/// `orderId` → `order_id`, `HTTPCode` → `http_code`; names already in snake case stay as they are.
pub fn snake(s: &str) -> String {
    escape(&snake_base(s))
}

/// `camel` before keyword escaping.
fn camel_base(s: &str) -> String {
    let already = s.chars().all(|c| c.is_ascii_alphanumeric())
        && s.chars().next().is_some_and(|c| c.is_uppercase())
        && !s.contains('_')
        && s.chars().any(|c| c.is_lowercase());
    let out = if already {
        s.to_string()
    } else {
        words(&ascii(s))
            .into_iter()
            .map(|w| {
                let lower = w.to_lowercase();
                let mut c = lower.chars();
                match c.next() {
                    Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                    None => String::new(),
                }
            })
            .collect()
    };
    if out.is_empty() {
        "Empty".to_string()
    } else if out.starts_with(|c: char| c.is_numeric()) {
        format!("_{out}")
    } else {
        out
    }
}

/// `BANK_TRANSFER` → `BankTransfer`, `order_created` → `OrderCreated`; `OrderCreated` stays.
pub fn camel(s: &str) -> String {
    escape(&camel_base(s))
}

/// How a clashing name gets its suffix.
#[derive(Clone, Copy)]
pub(crate) enum Suffix {
    /// `Name2`, `Name3` (types).
    Plain,
    /// `name_2`, `name_3` (fields, modules).
    Underscore,
}

/// The names claimed in one Rust scope (rule 4).
#[derive(Default, Clone)]
pub(crate) struct Claims {
    taken: HashSet<String>,
}

impl Claims {
    /// Marks an identifier as taken (a name that is not renamed, like a sub-module).
    pub(crate) fn reserve(&mut self, ident: &str) {
        self.taken.insert(ident.to_string());
    }

    pub(crate) fn contains(&self, ident: &str) -> bool {
        self.taken.contains(ident)
    }

    /// Claims `base` (before escaping), or the first free `base` + suffix from 2.
    pub(crate) fn claim(&mut self, base: &str, suffix: Suffix) -> String {
        let mut candidate = escape(base);
        let mut n = 2;
        while self.taken.contains(&candidate) {
            candidate = escape(&match suffix {
                Suffix::Plain => format!("{base}{n}"),
                Suffix::Underscore => format!("{base}_{n}"),
            });
            n += 1;
        }
        self.taken.insert(candidate.clone());
        candidate
    }

    /// Claims the snake-case form of an Avro name.
    pub(crate) fn claim_snake(&mut self, avro: &str) -> String {
        self.claim(&snake_base(avro), Suffix::Underscore)
    }

    /// Claims the camel-case form of an Avro name.
    pub(crate) fn claim_camel(&mut self, avro: &str) -> String {
        self.claim(&camel_base(avro), Suffix::Plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert_eq!(snake("orderId"), "order_id");
        assert_eq!(snake("order_id"), "order_id");
        assert_eq!(snake("HTTPCode"), "http_code");
        assert_eq!(snake("type"), "r#type");
        assert_eq!(snake("self"), "self_");
        assert_eq!(snake("_"), "__");
        assert_eq!(snake("__"), "__");
        assert_eq!(camel("BANK_TRANSFER"), "BankTransfer");
        assert_eq!(camel("card"), "Card");
        assert_eq!(camel("OrderCreated"), "OrderCreated");
        assert_eq!(camel("SELF"), "Self_");
        assert_eq!(camel("A"), "A");
        assert_eq!(camel("v2_Thing"), "V2Thing");
        assert_eq!(camel("_1st"), "_1st");
        assert_eq!(camel("___"), "Empty");
    }

    #[test]
    fn other_scripts_become_ascii_words() {
        assert_eq!(snake("café"), "caf_u00e9");
        assert_eq!(snake("Ω"), "u03a9");
        assert_eq!(camel("Ré"), "RU00e9");
        assert_eq!(camel("straße"), "StraU00dfE");
        assert_eq!(snake("名前"), "u540d_u524d");
    }

    #[test]
    fn file_names_as_root_names_become_identifiers() {
        assert_eq!(camel("my-schema.v2"), "MySchemaV2");
        assert_eq!(snake("my-schema.v2"), "my_schema_v2");
        assert_eq!(snake("2nd"), "_2nd");
        assert_eq!(camel("2nd"), "_2nd");
        assert_eq!(camel("--"), "Empty");
    }

    #[test]
    fn clashes_take_the_first_free_suffix_in_order() {
        let mut fields = Claims::default();
        assert_eq!(fields.claim_snake("fooBar"), "foo_bar");
        assert_eq!(fields.claim_snake("foo_bar"), "foo_bar_2");
        assert_eq!(fields.claim_snake("FooBar"), "foo_bar_3");
        assert_eq!(fields.claim_snake("self"), "self_");
        assert_eq!(fields.claim_snake("self_"), "self__2");
        assert_eq!(fields.claim_snake("_"), "__");
        assert_eq!(fields.claim_snake("__"), "___2");
        assert_eq!(fields.claim_snake("type"), "r#type");
        assert_eq!(fields.claim_snake("Type"), "type_2");
        let mut types = Claims::default();
        assert_eq!(types.claim_camel("Order"), "Order");
        assert_eq!(types.claim_camel("order"), "Order2");
        assert_eq!(types.claim_camel("Order2"), "Order22");
        assert_eq!(types.claim_camel("ORDER"), "Order3");
    }
}
