//! The codegen test corpus: the generated schemas (`tests/codegen-corpus/generated/`, one family
//! per Avro type) and the Rust generated from every corpus schema (`tests/src/corpus/`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use evc_codegen::{format_rust, generate_module_with_root, ModuleOptions, Templates};

use crate::Outputs;

/// A type of the generated families: its name in file names, its definition, how later
/// occurrences refer to it (named types are defined once), and a default value (JSON).
struct Leaf {
    key: &'static str,
    def: &'static str,
    by_name: Option<&'static str>,
    default: &'static str,
}

const fn leaf(key: &'static str, def: &'static str, default: &'static str) -> Leaf {
    Leaf {
        key,
        def,
        by_name: None,
        default,
    }
}

const fn named(
    key: &'static str,
    def: &'static str,
    name: &'static str,
    default: &'static str,
) -> Leaf {
    Leaf {
        key,
        def,
        by_name: Some(name),
        default,
    }
}

/// Every primitive, every logical type and each kind of named type.
const LEAVES: &[Leaf] = &[
    leaf("null", r#""null""#, "null"),
    leaf("boolean", r#""boolean""#, "true"),
    leaf("int", r#""int""#, "-7"),
    leaf("long", r#""long""#, "1234567890123"),
    leaf("float", r#""float""#, "1.5"),
    leaf("double", r#""double""#, "-2.25e-3"),
    leaf("bytes", r#""bytes""#, r#""\u00ff\u0000a""#),
    leaf("string", r#""string""#, r#""h\u00e9llo \"quoted\"""#),
    leaf(
        "decimal",
        r#"{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}"#,
        r#""\u0001\u00e2""#,
    ),
    leaf(
        "big_decimal",
        r#"{"type":"bytes","logicalType":"big-decimal"}"#,
        r#""\u0004\u0001\u00e2\u0004""#,
    ),
    leaf(
        "uuid",
        r#"{"type":"string","logicalType":"uuid"}"#,
        r#""7b0c6a4e-7d0f-4d2b-9a40-5c3d1e6f8a90""#,
    ),
    leaf("date", r#"{"type":"int","logicalType":"date"}"#, "19000"),
    leaf(
        "time_millis",
        r#"{"type":"int","logicalType":"time-millis"}"#,
        "3600000",
    ),
    leaf(
        "time_micros",
        r#"{"type":"long","logicalType":"time-micros"}"#,
        "3600000001",
    ),
    leaf(
        "timestamp_millis",
        r#"{"type":"long","logicalType":"timestamp-millis"}"#,
        "1700000000123",
    ),
    leaf(
        "timestamp_micros",
        r#"{"type":"long","logicalType":"timestamp-micros"}"#,
        "-1700000000123456",
    ),
    leaf(
        "timestamp_nanos",
        r#"{"type":"long","logicalType":"timestamp-nanos"}"#,
        "1700000000123456789",
    ),
    leaf(
        "local_timestamp_millis",
        r#"{"type":"long","logicalType":"local-timestamp-millis"}"#,
        "1700000000123",
    ),
    leaf(
        "local_timestamp_micros",
        r#"{"type":"long","logicalType":"local-timestamp-micros"}"#,
        "1700000000123456",
    ),
    leaf(
        "local_timestamp_nanos",
        r#"{"type":"long","logicalType":"local-timestamp-nanos"}"#,
        "-1",
    ),
    named(
        "fixed_decimal",
        r#"{"type":"fixed","name":"Money","size":8,"logicalType":"decimal","precision":18,"scale":4}"#,
        "Money",
        r#""\u0000\u0000\u0000\u0000\u0000\u0001\u00e2\u0040""#,
    ),
    named(
        "duration",
        r#"{"type":"fixed","name":"Span","size":12,"logicalType":"duration"}"#,
        "Span",
        r#""\u0001\u0000\u0000\u0000\u0002\u0000\u0000\u0000\u0003\u0000\u0000\u0000""#,
    ),
    named(
        "uuid_fixed",
        r#"{"type":"fixed","name":"Id","size":16,"logicalType":"uuid"}"#,
        "Id",
        r#""0123456789abcdef""#,
    ),
    named(
        "fixed",
        r#"{"type":"fixed","name":"Hash","size":4}"#,
        "Hash",
        r#""\u00de\u00ad\u00be\u00ef""#,
    ),
    named(
        "enum",
        r#"{"type":"enum","name":"Suit","symbols":["HEARTS","SPADES","CLUBS","DIAMONDS"]}"#,
        "Suit",
        r#""CLUBS""#,
    ),
    named(
        "record",
        r#"{"type":"record","name":"Point","fields":[{"name":"x","type":"int"},{"name":"y","type":["null","string"]}]}"#,
        "Point",
        r#"{"x":1,"y":null}"#,
    ),
];

/// Writes a leaf's definition the first time, its name afterwards.
struct Uses<'l> {
    leaf: &'l Leaf,
    defined: bool,
}

impl Uses<'_> {
    fn ty(&mut self) -> String {
        match (self.leaf.by_name, self.defined) {
            (Some(name), true) => format!("\"{name}\""),
            _ => {
                self.defined = true;
                self.leaf.def.to_string()
            }
        }
    }
}

fn camel(key: &str) -> String {
    evc_codegen::camel(key)
}

/// The generated schemas, by file name: for every leaf type `T`,
/// - `top_T`: `T` alone, as the whole schema;
/// - `in_T`: a record with `T` plain, in a nested record, in `[null, T]`, `[T, null]`, a
///   three-branch union, an array, a map, an array of `[null, T]`, a map of arrays;
/// - `default_T`: a record whose fields of `T` (plain, optional, in arrays and maps) have
///   defaults.
pub fn generated() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for l in LEAVES {
        let key = l.key;
        let name = camel(key);
        // the branch next to T in the three-branch union
        let other = if key == "boolean" {
            "\"int\""
        } else {
            "\"boolean\""
        };
        out.insert(format!("top_{key}.avsc"), format!("{}\n", l.def));

        let mut u = Uses {
            leaf: l,
            defined: false,
        };
        let mut fields = vec![
            format!(r#"{{"name":"plain","type":{}}}"#, u.ty()),
            format!(
                r#"{{"name":"nested","type":{{"type":"record","name":"Nested{name}","fields":[{{"name":"value","type":{}}}]}}}}"#,
                u.ty()
            ),
        ];
        if key == "null" {
            fields.push(r#"{"name":"single","type":["null"]}"#.into());
        } else {
            fields.push(format!(
                r#"{{"name":"opt_first","type":["null",{}]}}"#,
                u.ty()
            ));
            fields.push(format!(
                r#"{{"name":"opt_last","type":[{},"null"]}}"#,
                u.ty()
            ));
            fields.push(format!(
                r#"{{"name":"multi","type":["null",{},{other}]}}"#,
                u.ty()
            ));
            fields.push(format!(
                r#"{{"name":"array_of_opt","type":{{"type":"array","items":["null",{}]}}}}"#,
                u.ty()
            ));
        }
        fields.push(format!(
            r#"{{"name":"array","type":{{"type":"array","items":{}}}}}"#,
            u.ty()
        ));
        fields.push(format!(
            r#"{{"name":"map","type":{{"type":"map","values":{}}}}}"#,
            u.ty()
        ));
        fields.push(format!(
            r#"{{"name":"map_of_array","type":{{"type":"map","values":{{"type":"array","items":{}}}}}}}"#,
            u.ty()
        ));
        out.insert(
            format!("in_{key}.avsc"),
            format!(
                "{{\"type\":\"record\",\"name\":\"In{name}\",\"namespace\":\"corpus.generated\",\"doc\":\"`{key}` in every position.\",\"fields\":[\n  {}\n]}}\n",
                fields.join(",\n  ")
            ),
        );

        let d = l.default;
        let mut u = Uses {
            leaf: l,
            defined: false,
        };
        let mut fields = vec![format!(
            r#"{{"name":"value","type":{},"default":{d}}}"#,
            u.ty()
        )];
        if key != "null" {
            fields.push(format!(
                r#"{{"name":"opt","type":["null",{}],"default":null}}"#,
                u.ty()
            ));
            fields.push(format!(
                r#"{{"name":"first","type":[{},"null"],"default":{d}}}"#,
                u.ty()
            ));
        }
        fields.push(format!(
            r#"{{"name":"list","type":{{"type":"array","items":{}}},"default":[{d},{d}]}}"#,
            u.ty()
        ));
        fields.push(format!(
            r#"{{"name":"dict","type":{{"type":"map","values":{}}},"default":{{"b":{d},"a":{d}}}}}"#,
            u.ty()
        ));
        fields
            .push(r#"{"name":"empty","type":{"type":"array","items":"int"},"default":[]}"#.into());
        out.insert(
            format!("default_{key}.avsc"),
            format!(
                "{{\"type\":\"record\",\"name\":\"Default{name}\",\"namespace\":\"corpus.generated\",\"fields\":[\n  {}\n]}}\n",
                fields.join(",\n  ")
            ),
        );
    }
    out
}

fn avsc_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "avsc"))
        .collect();
    entries.sort();
    Ok(entries)
}

/// Adds the generated schema files and the corpus's Rust modules to `outputs`. The Rust is
/// generated from the schema texts in memory, so a stale generated schema file does not leak in.
pub fn codegen(root: &Path, templates: &Templates, outputs: &mut Outputs) -> Result<(), String> {
    let corpus_dir = root.join("tests/codegen-corpus");
    let generated = generated();
    let mut sources: Vec<(String, String, String)> = Vec::new(); // (stem, shown path, text)
    for path in avsc_files(&corpus_dir)? {
        let stem = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        sources.push((
            stem.clone(),
            format!("tests/codegen-corpus/{stem}.avsc"),
            text,
        ));
    }
    for (file, text) in &generated {
        let stem = file.trim_end_matches(".avsc").to_string();
        if sources.iter().any(|(s, _, _)| *s == stem) {
            return Err(format!(
                "tests/codegen-corpus/{stem}.avsc has the name of a generated schema"
            ));
        }
        sources.push((
            stem,
            format!("tests/codegen-corpus/generated/{file}"),
            text.clone(),
        ));
    }

    let mut corpus = BTreeMap::new();
    let mut roots = Vec::new();
    for (stem, shown, text) in &sources {
        let schema = evc_schema::Schema::parse(text).map_err(|e| {
            let p = evc_schema::json::line_col(text, e.span.start);
            format!("{shown}:{p}: {e}")
        })?;
        let opts = ModuleOptions {
            source: shown.clone(),
            root_name: stem.clone(),
            event: None,
        };
        let m = generate_module_with_root(templates, &schema, &opts)
            .map_err(|e| format!("{shown}: {e}"))?;
        let code = format_rust(&m.code).map_err(|e| format!("{shown}: {e}"))?;
        let module = evc_codegen::snake(stem);
        corpus.insert(format!("{module}.rs"), code);
        roots.push((module, m.root_type));
    }
    roots.sort();
    let mut mod_rs = String::from(
        "// @generated by `cargo xtask codegen` from tests/codegen-corpus. Do not edit by hand.\n\n",
    );
    for (m, _) in &roots {
        mod_rs.push_str(&format!("pub mod {m};\n"));
    }
    mod_rs.push_str(
        "\n/// Calls `$m! { module => Type, … }` with every corpus schema: its module and the Rust type\n/// of its top level.\n#[macro_export]\nmacro_rules! for_each_corpus_type {\n    ($m:ident) => {\n        $m! {\n",
    );
    for (m, t) in &roots {
        mod_rs.push_str(&format!("            {m} => $crate::corpus::{m}::{t},\n"));
    }
    mod_rs.push_str("        }\n    };\n}\n");
    corpus.insert(
        "mod.rs".into(),
        format_rust(&mod_rs).map_err(|e| e.to_string())?,
    );
    outputs.insert(root.join("tests/src/corpus"), corpus);
    outputs.insert(corpus_dir.join("generated"), generated);
    Ok(())
}
