//! Snapshot tests of the generated Rust for every schema in `tests/codegen-corpus/`, which covers
//! every Avro type and logical type. Review changes with `cargo insta review`.

use std::fs;
use std::path::{Path, PathBuf};

use evc_codegen::{format_rust, generate_module, ModuleOptions, Templates};

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/codegen-corpus");
    let mut v: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "avsc"))
        .collect();
    v.sort();
    v
}

#[test]
fn corpus_snapshots() {
    let templates = Templates::new();
    let files = corpus();
    assert!(files.len() >= 15, "the corpus lost files: {files:?}");
    for path in files {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let schema = evc_schema::Schema::parse(&fs::read_to_string(&path).unwrap()).unwrap();
        let opts = ModuleOptions {
            source: format!("tests/codegen-corpus/{stem}.avsc"),
            root_name: stem.clone(),
            event: None,
        };
        let code = format_rust(&generate_module(&templates, &schema, &opts).unwrap()).unwrap();
        insta::assert_snapshot!(stem, code);
    }
}

fn gen(text: &str) -> Result<String, evc_codegen::CodegenError> {
    let schema = evc_schema::Schema::parse(text).unwrap();
    let opts = ModuleOptions {
        source: "t.avsc".into(),
        root_name: "t".into(),
        event: None,
    };
    generate_module(&Templates::new(), &schema, &opts)
}

#[test]
fn what_cannot_be_generated_says_why() {
    let e = gen(r#""string""#).unwrap_err().to_string();
    assert_eq!(e, "cannot generate Rust for this schema: a top-level `string` schema has no Rust type to generate; wrap it in a record");
    let e = gen(r#"["null", {"type":"record","name":"A","fields":[]}, {"type":"record","name":"B","fields":[]}]"#)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("a top-level union with `null` has no Rust type"),
        "{e}"
    );
    let e = gen(r#"{"type":"record","name":"R","fields":[{"name":"aB","type":"int"},{"name":"a_b","type":"int"}]}"#)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "cannot generate Rust for this schema: fields of `R` collide as the Rust field `a_b`"
    );
}

#[test]
fn null_in_any_union_position_is_an_option() {
    for (u, null_index, value_index) in [
        (r#"["null","string"]"#, 0, 1),
        (r#"["string","null"]"#, 1, 0),
    ] {
        let code = gen(&format!(
            r#"{{"type":"record","name":"R","fields":[{{"name":"a","type":{u}}}]}}"#
        ))
        .unwrap();
        assert!(
            code.contains("pub a: ::core::option::Option<::std::string::String>"),
            "{code}"
        );
        assert!(
            code.contains(&format!(
                "::evc_avro::conv::option(&self.a, {null_index}, {value_index},"
            )),
            "{code}"
        );
    }
    let code = gen(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":["int","null","string"]}]}"#,
    )
    .unwrap();
    assert!(code.contains("pub a: ::core::option::Option<RA>"), "{code}");
    assert!(
        code.contains("Self::Int(e) => ::evc_avro::conv::union(0,"),
        "{code}"
    );
    assert!(
        code.contains("Self::String(e) => ::evc_avro::conv::union(2,"),
        "{code}"
    );
}
