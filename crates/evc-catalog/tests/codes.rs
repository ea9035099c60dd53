//! `docs/diagnostics.md` documents exactly the codes the library defines: the table lists each
//! code once, in order, with its family and its one-line meaning, and each has a section saying
//! what it checks, why, an example and the fix.

use evc_catalog::Code;

fn page() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/diagnostics.md");
    std::fs::read_to_string(path).expect("docs/diagnostics.md")
}

/// (code, family, meaning) of each row of the "All codes" table.
fn table(page: &str) -> Vec<(String, String, String)> {
    let start = page.find("## All codes").expect("an `All codes` section");
    page[start..]
        .lines()
        .skip_while(|l| !l.starts_with("| Code"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
            assert_eq!(cells.len(), 3, "{row}");
            let code = cells[0]
                .strip_prefix("[`")
                .and_then(|c| c.split_once("`](#"))
                .map(|(c, anchor)| {
                    assert_eq!(anchor, format!("{})", c.to_ascii_lowercase()), "{row}");
                    c.to_string()
                })
                .unwrap_or_else(|| panic!("not a linked code: {row}"));
            (code, cells[1].to_string(), cells[2].to_string())
        })
        .collect()
}

#[test]
fn the_table_lists_exactly_the_codes_of_the_library() {
    let page = page();
    let rows = table(&page);
    let documented: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let defined: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(documented, defined);
    for (name, family, meaning) in &rows {
        let code: Code = name.parse().unwrap();
        assert_eq!(family, code.family().as_str(), "{name}");
        assert_eq!(meaning, code.meaning(), "{name}");
    }
}

#[test]
fn every_code_has_its_section() {
    let page = page();
    let sections: Vec<&str> = page
        .split("\n### `")
        .skip(1)
        .map(|s| s.split_once('`').expect("a code heading").0)
        .collect();
    let defined: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(sections, defined, "one section per code, in table order");
    for part in page.split("\n### `").skip(1) {
        let (name, body) = part.split_once('`').unwrap();
        let body = body.split("\n## ").next().unwrap();
        for label in ["**Checks:**", "**Why:**", "**Example:**", "**Fix:**"] {
            assert!(body.contains(label), "{name} has no {label}");
        }
    }
}
