//! `evc check` on a synthetic tree: 1,000 subjects with 20 versions each under FULL_TRANSITIVE
//! (each version adds an optional field), so every version is checked both ways against every
//! earlier one: 1,000 × 190 pairs × 2 directions.
//!
//! Then the same tree in a git repository with one subject changed, checked incrementally with
//! `--against HEAD`. Whole-process figures (process start, git, output) come from
//! `cargo bench -p evc-cli --bench gate_process`.
//!
//! Run: `cargo bench -p evc-gate --bench check`.

use criterion::{criterion_group, criterion_main, Criterion};

// a module, not a bench: under support/, where cargo does not look for benches
#[path = "support/tree.rs"]
mod tree;
use tree::{tree, SUBJECTS, VERSIONS};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let opts = evc_gate::Options {
        root: dir.path().to_path_buf(),
        against: None,
        check_generated: false,
        incremental: false,
    };
    let report = evc_gate::check(&opts).unwrap();
    assert!(
        report.ok(),
        "the synthetic tree is a legal evolution: {:?}",
        report.diagnostics.first()
    );
    assert_eq!(
        (report.subjects, report.versions),
        (SUBJECTS, SUBJECTS * VERSIONS)
    );
    let mut g = c.benchmark_group("evc_check");
    g.sample_size(10);
    g.bench_function("1000_subjects_x_20_versions_full_transitive", |b| {
        b.iter(|| evc_gate::check(&opts).unwrap())
    });
    // The same tree committed, and one subject given a legal v21 (untracked): a pull request
    // touching one subject, checked incrementally against its base.
    tree::commit(dir.path());
    tree::add_version(dir.path(), 7);
    let incremental = evc_gate::Options {
        against: Some("HEAD".into()),
        incremental: true,
        ..opts.clone()
    };
    let report = evc_gate::check(&incremental).unwrap();
    assert!(report.ok(), "{:?}", report.diagnostics.first());
    assert_eq!(report.checked, 1);
    g.bench_function("1000_subjects_one_changed_against_head_incremental", |b| {
        b.iter(|| evc_gate::check(&incremental).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
