//! Lint rules: each is a [`Code`] of [`Family::Lint`](evc_catalog::Family::Lint), documented in
//! `docs/diagnostics.md`, and can be switched off in `evc.toml` (`[lint] disable = ["FIELD_DOC"]`).

use std::collections::HashSet;

use evc_catalog::{Catalog, Code, Diagnostic, Event, Version};
use evc_schema::{Logical, NamedKind, Ty, TyKind};

const MONEY_WORDS: &[&str] = &[
    "amount", "price", "total", "cost", "fee", "money", "balance", "tax", "subtotal", "discount",
    "refund", "payment", "charge", "revenue",
];

fn is_upper_camel(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_uppercase()) && !s.contains('_')
}

fn is_snake(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_lowercase() || c.is_ascii_digit() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

fn is_upper_snake(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_uppercase() || c.is_ascii_digit() || c == '_')
}

fn to_snake(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn is_money_name(name: &str) -> bool {
    // Most names contain no money word at all: decide those without allocating.
    let lower = |w: &str| {
        name.as_bytes()
            .windows(w.len())
            .any(|x| x.eq_ignore_ascii_case(w.as_bytes()))
    };
    if !MONEY_WORDS.iter().any(|w| lower(w)) {
        return false;
    }
    let snake = to_snake(name);
    snake.split('_').any(|w| MONEY_WORDS.contains(&w))
}

fn is_float(ty: &Ty) -> bool {
    match &ty.kind {
        TyKind::Float | TyKind::Double => true,
        TyKind::Union(bs) => bs.iter().any(is_float),
        TyKind::Array(i) | TyKind::Map(i) => is_float(i),
        _ => false,
    }
}

/// Runs the enabled rules over every version of every event.
pub fn lint(catalog: &Catalog, out: &mut Vec<Diagnostic>) {
    for ev in &catalog.events {
        lint_event(catalog, ev, out);
    }
}

/// Runs the enabled rules over every version of one event.
pub fn lint_event(catalog: &Catalog, ev: &Event, out: &mut Vec<Diagnostic>) {
    let on = |rule: Code| catalog.lint_enabled(rule);
    // Top-level field names of the versions before the one being linted.
    let mut earlier: HashSet<&str> = HashSet::new();
    for (i, v) in ev.versions.iter().enumerate() {
        lint_version(catalog, ev, i > 0, &earlier, v, &on, out);
        if let Some(root) = v.schema.root_named() {
            earlier.extend(root.fields().iter().map(|f| f.name.as_str()));
        }
    }
}

fn lint_version(
    catalog: &Catalog,
    ev: &Event,
    has_earlier: bool,
    earlier: &HashSet<&str>,
    v: &Version,
    on: &dyn Fn(Code) -> bool,
    out: &mut Vec<Diagnostic>,
) {
    let s = &v.schema;
    let diag = |code: Code, msg: String, span: evc_schema::json::Span| {
        Diagnostic::error(code, &v.path, msg)
            .at(&v.text, span)
            .for_version(&ev.subject, v.number)
    };
    for n in s.named.iter().filter(|n| !n.external) {
        let full = n.name.fullname();
        if on(Code::RecordNameCase) && !is_upper_camel(&n.name.name) {
            out.push(
                diag(
                    Code::RecordNameCase,
                    format!(
                        "{} name `{}` is not UpperCamelCase",
                        n.kind_name(),
                        n.name.name
                    ),
                    n.name_span,
                )
                .with_location(&n.pointer),
            );
        }
        if on(Code::RecordDoc) && n.doc.as_deref().is_none_or(|d| d.trim().is_empty()) {
            out.push(
                diag(
                    Code::RecordDoc,
                    format!("{} `{full}` has no doc", n.kind_name()),
                    n.name_span,
                )
                .with_location(&n.pointer)
                .with_help(format!(
                    "add \"doc\": \"...\" saying what a `{}` is",
                    n.name.name
                )),
            );
        }
        if on(Code::NestedNamespace) {
            let ns = n.name.namespace.as_deref().unwrap_or_default();
            let inside = ns
                .strip_prefix(ev.namespace.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'));
            if !inside {
                out.push(
                    diag(
                        Code::NestedNamespace,
                        format!(
                            "`{full}` is outside the event's namespace `{}`",
                            ev.namespace
                        ),
                        n.name_span,
                    )
                    .with_location(&n.pointer),
                );
            }
        }
        match &n.kind {
            NamedKind::Enum { symbols, .. } if on(Code::EnumSymbolCase) => {
                for sym in symbols.iter().filter(|x| !is_upper_snake(x)) {
                    out.push(
                        diag(
                            Code::EnumSymbolCase,
                            format!("enum symbol `{sym}` of `{full}` is not UPPER_SNAKE_CASE"),
                            n.span,
                        )
                        .with_location(format!("{}/symbols", n.pointer)),
                    );
                }
            }
            NamedKind::Fixed {
                ignored_logical: Some(il),
                ..
            } if on(Code::IgnoredLogicalType) => {
                out.push(
                    diag(
                        Code::IgnoredLogicalType,
                        format!(
                            "logical type `{}` on `{full}` is ignored: {}",
                            il.logical_type, il.reason
                        ),
                        il.span,
                    )
                    .with_location(&n.pointer),
                );
            }
            NamedKind::Record { fields, .. } => {
                for f in fields {
                    if on(Code::FieldNameCase) && !is_snake(&f.name) {
                        out.push(
                            diag(
                                Code::FieldNameCase,
                                format!("field `{}` of `{full}` is not snake_case", f.name),
                                f.name_span,
                            )
                            .with_location(&f.pointer)
                            .with_help(format!("name it `{}`", to_snake(&f.name))),
                        );
                    }
                    if on(Code::FieldDoc) && f.doc.as_deref().is_none_or(|d| d.trim().is_empty()) {
                        out.push(
                            diag(
                                Code::FieldDoc,
                                format!("field `{}` of `{full}` has no doc", f.name),
                                f.name_span,
                            )
                            .with_location(&f.pointer),
                        );
                    }
                    if on(Code::NoFloatMoney) && is_money_name(&f.name) && is_float(&f.ty) {
                        out.push(
                            diag(Code::NoFloatMoney, format!("money-like field `{}` of `{full}` is a floating-point number, which cannot hold cents exactly", f.name), f.ty.span)
                                .with_location(&f.ty.pointer)
                                .with_help("use integer minor units (long) with a currency, or {\"type\": \"bytes\", \"logicalType\": \"decimal\", ...}"),
                        );
                    }
                    if on(Code::IgnoredLogicalType) {
                        walk(&f.ty, &mut |t| {
                            if let Some(il) = &t.ignored_logical {
                                out.push(
                                    diag(
                                        Code::IgnoredLogicalType,
                                        format!(
                                            "logical type `{}` in field `{}` is ignored: {}",
                                            il.logical_type, f.name, il.reason
                                        ),
                                        il.span,
                                    )
                                    .with_location(&t.pointer),
                                );
                            }
                        });
                    }
                }
            }
            _ => {}
        }
    }
    // rules about the top-level record
    let Some(root) = s.root_named() else { return };
    if on(Code::Envelope) {
        let env = &catalog.config.envelope;
        let field = |name: &str| root.fields().iter().find(|f| f.name == name);
        match field(&env.event_id) {
            None => out.push(diag(Code::Envelope, format!("event `{}` has no `{}` field", ev.fullname, env.event_id), root.name_span).with_help(format!("add {{\"name\": \"{}\", \"type\": {{\"type\": \"string\", \"logicalType\": \"uuid\"}}}}", env.event_id))),
            Some(f) if !(matches!(f.ty.kind, TyKind::String) && f.ty.logical == Some(Logical::Uuid)) => {
                out.push(diag(Code::Envelope, format!("`{}` must be a uuid string, found {}", f.name, f.ty.describe(s)), f.ty.span).with_location(&f.ty.pointer));
            }
            _ => {}
        }
        match field(&env.occurred_at) {
            None => out.push(diag(Code::Envelope, format!("event `{}` has no `{}` field", ev.fullname, env.occurred_at), root.name_span).with_help(format!("add {{\"name\": \"{}\", \"type\": {{\"type\": \"long\", \"logicalType\": \"timestamp-millis\"}}}}", env.occurred_at))),
            Some(f) if !matches!(f.ty.logical, Some(Logical::TimestampMillis | Logical::TimestampMicros)) => {
                out.push(diag(Code::Envelope, format!("`{}` must be a timestamp-millis or timestamp-micros long, found {}", f.name, f.ty.describe(s)), f.ty.span).with_location(&f.ty.pointer));
            }
            _ => {}
        }
    }
    if on(Code::DefaultAfterV1) && has_earlier {
        for f in root.fields() {
            let existed = earlier.contains(f.name.as_str())
                || f.aliases.iter().any(|a| earlier.contains(a.as_str()));
            if !existed && f.default.is_none() {
                out.push(
                    diag(Code::DefaultAfterV1, format!("field `{}` is new in v{} and has no default", f.name, v.number), f.name_span)
                        .with_location(&f.pointer)
                        .with_help(format!("add a default to field `{}` (e.g. make it [\"null\", ...] with \"default\": null)", f.name)),
                );
            }
        }
    }
}

fn walk(ty: &Ty, f: &mut dyn FnMut(&Ty)) {
    f(ty);
    match &ty.kind {
        TyKind::Array(i) | TyKind::Map(i) => walk(i, f),
        TyKind::Union(bs) => bs.iter().for_each(|b| walk(b, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        assert!(
            is_upper_camel("OrderCreated")
                && !is_upper_camel("orderCreated")
                && !is_upper_camel("Order_Created")
        );
        assert!(is_snake("order_id") && !is_snake("orderId") && !is_snake("1x"));
        assert!(is_upper_snake("BANK_TRANSFER") && !is_upper_snake("Card"));
        assert!(
            is_money_name("totalAmount")
                && is_money_name("unit_price")
                && !is_money_name("quantity")
                && !is_money_name("taxonomy")
        );
        assert_eq!(to_snake("totalAmount"), "total_amount");
    }
}
