//! The README's "proved by" cells name tests as `file.rs::test_name` (and `::other_test` for a
//! second test of the same file). Every such test must exist: a renamed or deleted test fails
//! here instead of leaving the README citing nothing.

use std::path::{Path, PathBuf};

use test_support::workspace_root;

/// Every `.rs` file of the repository outside `target/` and hidden directories.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// `(file, test)` for each citation in the text: `a/b.rs::name`, then `::name2` after it.
fn citations(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut file = String::new();
    for span in text.split('`').skip(1).step_by(2) {
        let (path, name) = match span.split_once("::") {
            Some((path, name)) if path.ends_with(".rs") => (path.to_owned(), name),
            Some(("", name)) if !file.is_empty() => (file.clone(), name),
            _ => continue,
        };
        if name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            file = path.clone();
            found.push((path, name.to_owned()));
        }
    }
    found
}

#[test]
fn every_test_the_readme_cites_exists() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let cited = citations(&readme);
    assert!(
        cited.len() >= 20,
        "the README's citations were not found: {cited:?}"
    );
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    for (file, test) in cited {
        let matches: Vec<_> = files
            .iter()
            .filter(|p| p.to_string_lossy().ends_with(&format!("/{file}")))
            .collect();
        assert_eq!(matches.len(), 1, "README cites {file}: found {matches:?}");
        let source = std::fs::read_to_string(matches[0]).unwrap();
        assert!(
            source.contains(&format!("fn {test}(")),
            "README cites {file}::{test}, which does not exist"
        );
    }
}

#[test]
fn the_citation_reader_reads_both_forms() {
    let text = "proved by `a/b.rs::one_test` and `::two_test`; not `c.rs`, not `x::Y`";
    assert_eq!(
        citations(text),
        [
            ("a/b.rs".to_owned(), "one_test".to_owned()),
            ("a/b.rs".to_owned(), "two_test".to_owned())
        ]
    );
}
