//! The events crate layout generated for a schema directory, and what a new version changes.

use std::fs;
use std::path::Path;

use evc_codegen::{generate_catalog, Templates};

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn file<'a>(files: &'a [evc_codegen::GeneratedFile], path: &str) -> &'a str {
    &files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("no {path}"))
        .contents
}

#[test]
fn adding_a_version_adds_a_module_and_moves_the_reexport() {
    let repo_schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo_schemas, dir.path());
    let templates = Templates::new();

    let before = generate_catalog(
        &templates,
        &evc_catalog::Catalog::load(dir.path()).unwrap(),
        "schemas",
    )
    .unwrap();
    let mod_rs = file(&before, "mod.rs");
    assert!(
        mod_rs.contains("pub use order_created::v2::OrderCreated;"),
        "{mod_rs}"
    );
    assert!(mod_rs.contains("pub enum OrderEvent {"), "{mod_rs}");
    assert!(!before.iter().any(|f| f.path == "order_created/v3.rs"));

    // v3: one more optional field
    let v2 = fs::read_to_string(dir.path().join("com.acme.orders/OrderCreated/v2.avsc")).unwrap();
    let v3 = v2.replacen(
        "\"fields\": [",
        "\"fields\": [\n    {\"name\": \"coupon\", \"type\": [\"null\", \"string\"], \"default\": null, \"doc\": \"Coupon code.\"},",
        1,
    );
    fs::write(dir.path().join("com.acme.orders/OrderCreated/v3.avsc"), v3).unwrap();
    let after = generate_catalog(
        &templates,
        &evc_catalog::Catalog::load(dir.path()).unwrap(),
        "schemas",
    )
    .unwrap();
    let mod_rs = file(&after, "mod.rs");
    assert!(
        mod_rs.contains("pub use order_created::v3::OrderCreated;"),
        "{mod_rs}"
    );
    assert!(mod_rs.contains("pub mod v3 {"), "{mod_rs}");
    assert!(file(&after, "order_created/v3.rs")
        .contains("pub coupon: ::core::option::Option<::std::string::String>"));
    // the older versions are generated exactly as before
    for path in [
        "order_created/v1.rs",
        "order_created/v2.rs",
        "order_paid/v2.rs",
    ] {
        assert_eq!(file(&before, path), file(&after, path), "{path} changed");
    }
}

#[test]
fn generated_code_is_byte_identical_across_runs() {
    let repo_schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let catalog = evc_catalog::Catalog::load(&repo_schemas).unwrap();
    let a = generate_catalog(&Templates::new(), &catalog, "schemas").unwrap();
    let b = generate_catalog(&Templates::new(), &catalog, "schemas").unwrap();
    assert_eq!(a, b);
    // and identical to what is checked in
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../order-events/src/generated");
    for f in &a {
        let on_disk = fs::read_to_string(out.join(&f.path)).unwrap();
        assert_eq!(
            on_disk, f.contents,
            "{} is stale: run `cargo xtask codegen`",
            f.path
        );
    }
}
