//! Every generated corpus type: random values convert into the Rust type and back, and the
//! generated binary encoder/decoder and apache-avro (where it can take the schema) read each
//! other's bytes as the same value.

use evc_tests::roundtrip::{corpus, Apache};

#[test]
fn every_corpus_type_round_trips_random_values() {
    let types = corpus();
    assert!(
        types.len() >= 100,
        "the corpus has only {} schemas",
        types.len()
    );
    let mut failures = Vec::new();
    let mut without_apache = Vec::new();
    for t in &types {
        match t.properties(32) {
            Ok(Apache::Agrees) => {}
            Ok(Apache::CannotLoad(why)) => without_apache.push(format!("{}: {why}", t.module)),
            Err(e) => failures.push(format!("{}: {e}", t.module)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // apache-avro 0.21 takes every corpus schema but these four (evc says why instead of
    // letting apache-avro panic)
    assert_eq!(
        without_apache,
        [
            "collisions: apache-avro 0.21 reads `Collisions` of the null namespace as a type of the enclosing namespace, where another `Collisions` is defined",
            "logical_in_unions: apache-avro rejected the schema: Unions cannot contain duplicate types",
            "namespaces_inheritance: apache-avro 0.21 reads `Item` of the null namespace as a type of the enclosing namespace, where another `Item` is defined",
            "unicode_names: apache-avro 0.21 cannot take the name `données.naïve.Größe` (it accepts ASCII names only)",
        ],
        "schemas apache-avro cannot take"
    );
}
