//! The BAD-INPUTS coverage table (tests/BAD-INPUTS.md, issue 8) stays true: items 1–N (the
//! 59 of shared/BAD-INPUTS.md, then the ones each new part adds) each have a row, and every name in backticks in the tests column exists in the tree — a test
//! file's function (`file::name` → `fn name(` in tests/file.rs), a unit test or function
//! anywhere under src/ or tests/ (`name`, `module::name`), or a fuzz target
//! (tests/fuzz/fuzz_targets/name.rs). A row without any name must give a reason.

use std::path::Path;

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() && !p.ends_with("target") && !p.ends_with("corpus") && !p.ends_with("artifacts") {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push((p.display().to_string(), std::fs::read_to_string(&p).unwrap_or_default()));
        }
    }
}

/// Backticked tokens that look like code names (skips quoted protocol text such as `..x`).
fn names(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|t| t.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_catalogue_item_names_tests_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let table = std::fs::read_to_string(root.join("tests/BAD-INPUTS.md")).unwrap();
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    sources(&root.join("tests"), &mut files);
    let defines = |text: &str, f: &str| text.contains(&format!("fn {f}(")) || text.contains(&format!("fn {f}<"));
    let mut seen = Vec::new();
    let mut missing = Vec::new();
    let mut checked = 0;
    for row in table.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let Some(n) = cells.get(1).and_then(|c| c.parse::<u32>().ok()) else { continue };
        let tests = cells.get(3).copied().unwrap_or("");
        seen.push(n);
        let found = names(tests);
        assert!(!found.is_empty() || tests.len() > 20, "item {n}: no test and no reason: {row}");
        for name in found {
            let (module, f) = name.rsplit_once("::").unwrap_or(("", name.as_str()));
            let file = root.join(format!("tests/{}.rs", if module.is_empty() { "-" } else { module }));
            // `file::name` is looked up in tests/file.rs first; `store::canonical` and the
            // like name library functions, found anywhere in the tree.
            let in_file = file.exists() && defines(&std::fs::read_to_string(&file).unwrap_or_default(), f);
            let ok = in_file
                || root.join(format!("tests/fuzz/fuzz_targets/{f}.rs")).exists()
                || files.iter().any(|(_, text)| defines(text, f));
            checked += 1;
            if !ok {
                missing.push(format!("item {n}: `{name}`"));
            }
        }
    }
    let last = seen.last().copied().unwrap_or(0);
    assert!(last >= 65, "rows up to {last}: rows were lost");
    assert_eq!(seen, (1..=last).collect::<Vec<_>>(), "items 1-{last}, each once, in order");
    assert!(missing.is_empty(), "names in tests/BAD-INPUTS.md that do not exist:\n{}", missing.join("\n"));
    assert!(checked > 100, "only {checked} names checked: is the table parsed?");
}
