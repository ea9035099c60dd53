//! Avro names to Rust identifiers.

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

/// `orderId` → `order_id`, `HTTPCode` → `http_code`; names already in snake case stay as they are.
pub fn snake(s: &str) -> String {
    let lead = if s.starts_with('_') { "_" } else { "" };
    if !s.chars().any(|c| c.is_uppercase()) {
        return escape(s);
    }
    let w: Vec<String> = words(s).into_iter().map(|w| w.to_lowercase()).collect();
    escape(&format!("{lead}{}", w.join("_")))
}

/// `BANK_TRANSFER` → `BankTransfer`, `order_created` → `OrderCreated`; `OrderCreated` stays.
pub fn camel(s: &str) -> String {
    let already = s.chars().next().is_some_and(|c| c.is_uppercase())
        && !s.contains('_')
        && s.chars().any(|c| c.is_lowercase());
    let out = if already {
        s.to_string()
    } else {
        words(s)
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
    let out = if out.is_empty() {
        "Empty".to_string()
    } else {
        out
    };
    if out.starts_with(|c: char| c.is_numeric()) {
        format!("_{out}")
    } else {
        escape(&out)
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
        assert_eq!(camel("BANK_TRANSFER"), "BankTransfer");
        assert_eq!(camel("card"), "Card");
        assert_eq!(camel("OrderCreated"), "OrderCreated");
        assert_eq!(camel("SELF"), "Self_");
        assert_eq!(camel("A"), "A");
        assert_eq!(camel("v2_Thing"), "V2Thing");
    }
}
