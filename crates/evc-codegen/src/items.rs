//! Rendering items with the handlebars templates: records, enums, fixed, union enums and the
//! wrapper of a top-level type that has no name.

use serde::Serialize;
use serde_json::json;

use evc_schema::{NamedId, NamedKind, Ty, TyKind};

use crate::names::camel;

use crate::docs::{doc_lines, doc_of};
use crate::model::{path_from, union_shape, Ctx, Gen, UnionShape};
use crate::CodegenError;

#[derive(Serialize)]
struct FieldView {
    doc: Vec<String>,
    rust_name: String,
    avro_name: String,
    rust_type: String,
    to_expr: String,
    from_expr: String,
    write_expr: String,
    read_expr: String,
}

impl Gen<'_> {
    /// Makes (once) the enum for a union with several non-null branches; returns its name.
    pub(crate) fn union_enum(
        &mut self,
        ty: &Ty,
        ctx: &Ctx,
    ) -> Result<Option<String>, CodegenError> {
        let TyKind::Union(branches) = &ty.kind else {
            return Ok(None);
        };
        if !matches!(union_shape(branches), UnionShape::Many { .. }) {
            return Ok(None);
        }
        if let Some((module, n)) = self.unions.get(&ty.pointer) {
            return Ok(Some(path_from(&ctx.module, module, n)));
        }
        let name = self.claim_generated(&ctx.module, &ctx.hint, "Union");
        self.unions
            .insert(ty.pointer.clone(), (ctx.module.clone(), name.clone()));
        let mut variants = Vec::new();
        let names = self.union_variants(branches);
        for (index, (b, vname)) in branches.iter().zip(names).enumerate() {
            let Some(vname) = vname else { continue };
            let vctx = ctx.with_hint(&vname);
            let rust_type = self.rust_type(b, &vctx, true)?;
            let to_expr = self.encode_expr(b, "e", &vctx)?;
            let from_expr = self.decode_expr(b, "v", &vctx, true)?;
            let write_expr = self.write_expr(b, "e", &vctx)?;
            let read_expr = self.read_expr(b, &vctx, true)?;
            variants.push(json!({
                "index": index,
                "rust_name": vname,
                "rust_type": rust_type,
                "to_expr": to_expr,
                "from_expr": from_expr,
                "write_expr": write_expr,
                "read_expr": read_expr,
            }));
        }
        let code = self.t.render(
            "union",
            &json!({
                "name": name,
                "description": format!("`{}`", ty.describe(self.schema)),
                "branches": branches.len(),
                "variants": variants,
            }),
        )?;
        self.items.entry(ctx.module.clone()).or_default().push(code);
        Ok(Some(name))
    }

    pub(crate) fn named_item(&mut self, id: NamedId) -> Result<(), CodegenError> {
        let n = &self.schema.named[id];
        let (module, name) = self.names[&id].clone();
        let doc = doc_of(&n.doc);
        let code = match &n.kind {
            NamedKind::Record { fields, .. } => {
                let mut views = Vec::new();
                let mut defaults = Vec::new();
                let mut all_default = !fields.is_empty();
                let rust_names = self.fields[&id].clone();
                for (f, rust_name) in fields.iter().zip(rust_names) {
                    let ctx = Ctx {
                        module: module.clone(),
                        owner: Some(id),
                        hint: format!("{name}{}", camel(&f.name)),
                    };
                    let rust_type = self.rust_type(&f.ty, &ctx, true)?;
                    let access = format!("&self.{rust_name}");
                    let to_expr = self.encode_expr(&f.ty, &access, &ctx)?;
                    let from_expr = self.decode_expr(&f.ty, "v", &ctx, true)?;
                    let write_expr = self.write_expr(&f.ty, &access, &ctx)?;
                    let read_expr = self.read_expr(&f.ty, &ctx, true)?;
                    let mut fdoc = doc_of(&f.doc);
                    if f.name != rust_name.trim_start_matches("r#") {
                        fdoc.push("///".into());
                        fdoc.extend(doc_lines(&format!("Avro field `{}`.", f.name)));
                    }
                    if let Some(d) = &f.default {
                        let shown = serde_json::to_string(&d.to_serde())
                            .unwrap_or_default()
                            .replace('`', "'");
                        match self.default_expr(&f.ty, d, &ctx, true)? {
                            Some(expr) => {
                                push_note(&mut fdoc, &format!("Default: `{shown}`."));
                                defaults.push(json!({"rust_name": rust_name, "expr": expr}));
                            }
                            None => {
                                push_note(&mut fdoc, &format!(
                                    "Default: `{shown}` (readers resolving old data use it; it has no Rust value of this type, so the record has no `Default`)."
                                ));
                                all_default = false;
                            }
                        }
                    } else {
                        all_default = false;
                    }
                    views.push(FieldView {
                        doc: fdoc,
                        rust_name,
                        avro_name: f.name.clone(),
                        rust_type,
                        to_expr,
                        from_expr,
                        write_expr,
                        read_expr,
                    });
                }
                self.t.render(
                    "record",
                    &json!({
                        "doc": doc,
                        "name": name,
                        "fullname": n.name.fullname(),
                        "fields": views,
                        "default_fields": if all_default { json!(defaults) } else { json!(null) },
                        // resolvers read the fields from two inputs (see `AvroBinary::MERGED`)
                        "merged": (1..=64).contains(&fields.len()),
                    }),
                )?
            }
            NamedKind::Enum { symbols, default } => {
                let variants: Vec<_> = symbols
                    .iter()
                    .zip(&self.symbols[&id])
                    .map(|(s, v)| json!({"symbol": s, "rust_name": v}))
                    .collect();
                let default = default
                    .as_ref()
                    .and_then(|d| variants.iter().find(|v| v["symbol"] == json!(d)).cloned());
                self.t.render(
                    "enum",
                    &json!({
                        "doc": doc,
                        "name": name,
                        "fullname": n.name.fullname(),
                        "symbol_count": variants.len(),
                        "variants": variants,
                        "default": default,
                    }),
                )?
            }
            NamedKind::Fixed {
                size,
                logical: None,
                ..
            } => self
                .t
                .render("fixed", &json!({"doc": doc, "name": name, "size": size}))?,
            NamedKind::Fixed {
                size,
                logical: Some(l),
                ..
            } => {
                let ty = Ty::new(TyKind::Named(id));
                let ctx = Ctx {
                    module: module.clone(),
                    owner: None,
                    hint: name.clone(),
                };
                let rust_type = self.rust_type(&ty, &ctx, false)?;
                self.t.render(
                    "alias",
                    &json!({"doc": doc, "name": name, "fullname": n.name.fullname(), "size": size, "logical": l.name(), "rust_type": rust_type}),
                )?
            }
        };
        self.items.entry(module).or_default().push(code);
        Ok(())
    }

    /// The wrapper of a top-level type with no name of its own (a primitive, array, map, a
    /// union with `null` or with one branch, a logical `fixed`): `pub struct Name(pub T)`.
    pub(crate) fn root_wrapper(&mut self, name: &str) -> Result<(), CodegenError> {
        let ty = &self.schema.root;
        let ctx = Ctx {
            module: Vec::new(),
            owner: None,
            hint: name.to_string(),
        };
        let rust_type = self.rust_type(ty, &ctx, false)?;
        let to_expr = self.encode_expr(ty, "&self.0", &ctx)?;
        let from_expr = self.decode_expr(ty, "value", &ctx, false)?;
        let write_expr = self.write_expr(ty, "&self.0", &ctx)?;
        let read_expr = self.read_expr(ty, &ctx, false)?;
        let code = self.t.render(
            "root",
            &json!({
                "name": name,
                "description": ty.describe(self.schema),
                "rust_type": rust_type,
                "to_expr": to_expr,
                "from_expr": from_expr,
                "write_expr": write_expr,
                "read_expr": read_expr,
            }),
        )?;
        self.items.entry(Vec::new()).or_default().push(code);
        Ok(())
    }
}

/// Adds a paragraph to a doc.
fn push_note(doc: &mut Vec<String>, note: &str) {
    if !doc.is_empty() {
        doc.push("///".into());
    }
    doc.extend(doc_lines(note));
}
