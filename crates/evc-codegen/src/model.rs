//! The Rust shape of one schema, decided before any code is written: which module and Rust name
//! each named type gets, the Rust names of record fields and enum variants (renamed apart by
//! the rules in [`crate::names`]), which record fields need a `Box`, and how unions map to
//! `Option`s and enums.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use evc_schema::{NamedId, NamedKind, Schema, Ty, TyKind};

use crate::names::{camel, snake, Claims};
use crate::Templates;

/// Where an expression or type is written: its module, the record it belongs to (for boxing
/// recursive fields) and the name hint for union enums made on the way.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub module: Vec<String>,
    pub owner: Option<NamedId>,
    pub hint: String,
}

impl Ctx {
    pub fn with_hint(&self, suffix: &str) -> Ctx {
        Ctx {
            hint: format!("{}{}", self.hint, suffix),
            ..self.clone()
        }
    }
}

/// How a union is represented.
pub(crate) enum UnionShape<'t> {
    /// No branch but `null` (or no branch at all).
    Unit { null: u32 },
    /// One non-null branch, with or without `null`.
    Single {
        null: Option<u32>,
        index: u32,
        ty: &'t Ty,
    },
    /// Several non-null branches: a generated enum.
    Many { null: Option<u32> },
}

pub(crate) fn union_shape(branches: &[Ty]) -> UnionShape<'_> {
    let null = branches.iter().position(Ty::is_null).map(|i| i as u32);
    let others: Vec<(usize, &Ty)> = branches
        .iter()
        .enumerate()
        .filter(|(_, t)| !t.is_null())
        .collect();
    match others.len() {
        0 => UnionShape::Unit {
            null: null.unwrap_or(0),
        },
        1 => UnionShape::Single {
            null,
            index: others[0].0 as u32,
            ty: others[0].1,
        },
        _ => UnionShape::Many { null },
    }
}

/// The generator's state for one schema.
pub(crate) struct Gen<'a> {
    pub t: &'a Templates,
    pub schema: &'a Schema,
    root_ns: Option<String>,
    /// Named type → (module path, Rust name).
    pub names: HashMap<NamedId, (Vec<String>, String)>,
    /// Record → Rust names of its fields, in field order.
    pub fields: HashMap<NamedId, Vec<String>>,
    /// Enum → Rust names of its variants, in symbol order.
    pub symbols: HashMap<NamedId, Vec<String>>,
    /// Rendered items per module.
    pub items: BTreeMap<Vec<String>, Vec<String>>,
    /// Names taken per module (types, union enums, sub-modules).
    pub claims: HashMap<Vec<String>, Claims>,
    /// Union enums already made, by the union's JSON pointer: (module, name).
    pub unions: HashMap<String, (Vec<String>, String)>,
    /// Direct containment between records (not through arrays or maps).
    edges: HashMap<NamedId, BTreeSet<NamedId>>,
}

impl<'a> Gen<'a> {
    pub fn new(t: &'a Templates, schema: &'a Schema) -> Self {
        let root_ns = schema.root_named().and_then(|n| n.name.namespace.clone());
        let mut g = Gen {
            t,
            schema,
            root_ns,
            names: HashMap::new(),
            fields: HashMap::new(),
            symbols: HashMap::new(),
            items: BTreeMap::new(),
            claims: HashMap::new(),
            unions: HashMap::new(),
            edges: HashMap::new(),
        };
        // sub-modules first: a type may not take the name of a module next to it
        for n in &schema.named {
            let module = g.module_of(n.name.namespace.as_deref());
            for i in 0..module.len() {
                g.claims
                    .entry(module[..i].to_vec())
                    .or_default()
                    .reserve(&module[i]);
            }
        }
        for (id, n) in schema.named.iter().enumerate() {
            let module = g.module_of(n.name.namespace.as_deref());
            let name = g
                .claims
                .entry(module.clone())
                .or_default()
                .claim_camel(&n.name.name);
            g.names.insert(id, (module, name));
            match &n.kind {
                NamedKind::Record { fields, .. } => {
                    let mut claims = Claims::default();
                    let names = fields.iter().map(|f| claims.claim_snake(&f.name)).collect();
                    g.fields.insert(id, names);
                }
                NamedKind::Enum { symbols, .. } => {
                    g.symbols.insert(id, enum_variants(symbols));
                }
                NamedKind::Fixed { .. } => {}
            }
            let mut direct = BTreeSet::new();
            for f in n.fields() {
                collect_direct(&f.ty, &mut direct);
            }
            g.edges.insert(id, direct);
        }
        g
    }

    fn module_of(&self, ns: Option<&str>) -> Vec<String> {
        match ns {
            None => Vec::new(),
            Some(ns) if Some(ns) == self.root_ns.as_deref() => Vec::new(),
            Some(ns) => ns.split('.').map(snake).collect(),
        }
    }

    /// Claims a name for a type made by the generator (a union enum or the root wrapper):
    /// `hint`, else `hintUnion`, else `hintUnion2`, … (`fallback` replaces `Union`).
    pub fn claim_generated(&mut self, module: &[String], hint: &str, fallback: &str) -> String {
        let claims = self.claims.entry(module.to_vec()).or_default();
        let mut name = hint.to_string();
        if claims.contains(&name) {
            name = format!("{hint}{fallback}");
        }
        let mut i = 2;
        while claims.contains(&name) {
            name = format!("{hint}{fallback}{i}");
            i += 1;
        }
        claims.reserve(&name);
        name
    }

    fn reaches(&self, from: NamedId, to: NamedId) -> bool {
        let mut stack = vec![from];
        let mut seen = HashSet::new();
        while let Some(n) = stack.pop() {
            if n == to {
                return true;
            }
            if seen.insert(n) {
                if let Some(e) = self.edges.get(&n) {
                    stack.extend(e.iter().copied());
                }
            }
        }
        false
    }

    pub fn is_logical_fixed(&self, id: NamedId) -> bool {
        matches!(
            self.schema.named[id].kind,
            NamedKind::Fixed {
                logical: Some(_),
                ..
            }
        )
    }

    pub fn path_to(&self, from: &[String], id: NamedId) -> String {
        let (module, name) = &self.names[&id];
        path_from(from, module, name)
    }

    /// A record field (or union branch) holding `id` needs a `Box` when `id` leads back to
    /// the record without an array or map in between.
    pub fn boxed(&self, ctx: &Ctx, id: NamedId, direct: bool) -> bool {
        direct
            && matches!(self.schema.named[id].kind, NamedKind::Record { .. })
            && ctx.owner.is_some_and(|owner| self.reaches(id, owner))
    }

    /// The Rust variant names of a multi-branch union, by branch (`None` for `null`): the type's
    /// name (`Int`, `Order`, `TimestampMillis`), else its full name (`Ns_Order` for two `Order`s
    /// of different namespaces), else the name and the branch index.
    pub fn union_variants(&self, branches: &[Ty]) -> Vec<Option<String>> {
        let mut used = HashSet::new();
        branches
            .iter()
            .enumerate()
            .map(|(index, b)| {
                if b.is_null() {
                    return None;
                }
                let mut vname = self.variant_name(b);
                if !used.insert(vname.clone()) {
                    if let Some(n) = self.schema.named_of(b) {
                        vname = camel(&n.name.fullname().replace('.', "_"));
                    }
                    let base = vname.clone();
                    let mut k = 0;
                    while !used.insert(vname.clone()) {
                        vname = if k == 0 {
                            format!("{base}{index}")
                        } else {
                            format!("{base}{index}_{k}")
                        };
                        k += 1;
                    }
                }
                Some(vname)
            })
            .collect()
    }

    fn variant_name(&self, b: &Ty) -> String {
        match (&b.kind, b.logical) {
            (_, Some(l)) => camel(&l.name().replace('-', "_")),
            (TyKind::Named(id), None) => self.names[id].1.clone(),
            (TyKind::Boolean, _) => "Boolean".into(),
            (TyKind::Int, _) => "Int".into(),
            (TyKind::Long, _) => "Long".into(),
            (TyKind::Float, _) => "Float".into(),
            (TyKind::Double, _) => "Double".into(),
            (TyKind::Bytes, _) => "Bytes".into(),
            (TyKind::String, _) => "String".into(),
            (TyKind::Array(_), _) => "Array".into(),
            (TyKind::Map(_), _) => "Map".into(),
            (TyKind::Null | TyKind::Union(_), _) => "Other".into(),
        }
    }

    /// Joins the rendered items into nested `pub mod` blocks.
    pub fn assemble(&self, prefix: &[String]) -> String {
        let mut out = String::new();
        if let Some(items) = self.items.get(prefix) {
            for it in items {
                out.push_str(it);
                out.push('\n');
            }
        }
        let children: BTreeSet<&String> = self
            .items
            .keys()
            .filter(|k| k.len() > prefix.len() && k.starts_with(prefix))
            .map(|k| &k[prefix.len()])
            .collect();
        for c in children {
            let mut p = prefix.to_vec();
            p.push(c.clone());
            out.push_str(&format!("pub mod {c} {{\n{}}}\n", self.assemble(&p)));
        }
        out
    }
}

/// Enum variants: the symbol in camel case; a symbol that clashes with an earlier one gets its
/// index appended (`A`, `A1`), then `_2`, `_3`, … if that is taken too.
fn enum_variants(symbols: &[String]) -> Vec<String> {
    let mut used = HashSet::new();
    symbols
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut v = camel(s);
            if used.contains(&v) {
                let base = format!("{v}{i}");
                v = base.clone();
                let mut k = 2;
                while used.contains(&v) {
                    v = format!("{base}_{k}");
                    k += 1;
                }
            }
            used.insert(v.clone());
            v
        })
        .collect()
}

pub(crate) fn path_from(from: &[String], module: &[String], name: &str) -> String {
    if from == module {
        return name.to_string();
    }
    let mut s = "super::".repeat(from.len());
    for m in module {
        s.push_str(m);
        s.push_str("::");
    }
    s.push_str(name);
    s
}

fn collect_direct(ty: &Ty, out: &mut BTreeSet<NamedId>) {
    match &ty.kind {
        TyKind::Named(id) => {
            out.insert(*id);
        }
        TyKind::Union(bs) => bs.iter().for_each(|b| collect_direct(b, out)),
        _ => {}
    }
}
