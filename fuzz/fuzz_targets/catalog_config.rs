//! `evc.toml` loading: any text as the config of a schema directory holding the order events
//! (every version) loads to a catalog or to diagnostics, never a panic. Each diagnostic's
//! position lies inside the text it points into.
#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use evc_catalog::Catalog;
use libfuzzer_sys::fuzz_target;

evc_fuzz::use_guard!();

/// A schema directory of this process's own (in memory-backed /dev/shm when there is one).
static ROOT: LazyLock<PathBuf> = LazyLock::new(|| {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let root = base.join(format!("evc-fuzz-catalog-{}", std::process::id()));
    for (file, text) in evc_fuzz::ORDER_SCHEMAS {
        let path = root.join("com.acme.orders").join(file);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("create the folder");
        std::fs::write(&path, text).expect("write a schema");
    }
    root
});

fuzz_target!(|data: &[u8]| {
    let root = &*ROOT;
    std::fs::write(root.join("evc.toml"), data).expect("write evc.toml");
    let text = String::from_utf8_lossy(data);
    let diagnostics = match Catalog::load(root) {
        Ok(catalog) => catalog.warnings,
        Err(d) => d.0,
    };
    for d in diagnostics {
        if d.file.ends_with("evc.toml") {
            if let Some(span) = d.span {
                assert!(
                    span.start <= span.end && span.end <= text.len(),
                    "{span:?} lies outside evc.toml ({} bytes): {d}",
                    text.len()
                );
            }
        }
        // Rendering is what the CLI does with every diagnostic.
        assert!(!d.to_string().is_empty());
    }
});
