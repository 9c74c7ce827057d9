//! The manifest corpora: `tests/data/good/*.yaml` (every YAML example of the reference
//! documentation, placeholders filled) must load without error, and `tests/data/bad/*.yaml` must
//! produce exactly the diagnostics written beside each file in `*.expected` (one rendered
//! diagnostic per line, as `ferrolb check` prints them). Good files have an `.expected` too: the
//! warnings they produce, pinned.
//!
//! `UPDATE_EXPECT=1 cargo test -p ferrolb-config --test corpus` rewrites the `.expected` files from
//! the current output, for a person to review.

use ferrolb_config::{Source, load};
use std::path::{Path, PathBuf};

fn cases(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The diagnostics of one file, rendered, the file named by its base name.
fn render(path: &Path) -> (String, usize) {
    let name = path.file_name().expect("file name").to_string_lossy().to_string();
    let text = std::fs::read_to_string(path).expect("readable test file");
    let result = load(&[Source::Text { name, text }]);
    let mut out = String::new();
    for d in &result.diagnostics {
        out.push_str(&d.to_string());
        out.push('\n');
    }
    let errors = result.errors().count();
    assert_eq!(errors == 0, result.model.is_some(), "{}: a model exactly when there is no error", path.display());
    (out, errors)
}

fn check_expected(path: &Path, actual: &str) -> Result<(), String> {
    let expected_path = path.with_extension("expected");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&expected_path, actual).expect("write .expected");
        return Ok(());
    }
    let expected = std::fs::read_to_string(&expected_path)
        .map_err(|e| format!("{}: {e} (run with UPDATE_EXPECT=1 to create it)", expected_path.display()))?;
    if expected == actual {
        Ok(())
    } else {
        Err(format!("{}\n--- expected\n{expected}--- actual\n{actual}", path.display()))
    }
}

#[test]
fn good_manifests_load_without_errors() {
    let files = cases("good");
    assert!(files.len() >= 30, "the good corpus holds every reference example");
    let mut failures = Vec::new();
    for path in &files {
        let (out, errors) = render(path);
        if errors > 0 {
            failures.push(format!("{}: {errors} error(s)\n{out}", path.display()));
            continue;
        }
        if let Err(e) = check_expected(path, &out) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bad_manifests_report_exactly_the_expected_diagnostics() {
    let files = cases("bad");
    assert!(files.len() >= 40, "at least 40 bad manifests");
    let mut failures = Vec::new();
    for path in &files {
        let (out, errors) = render(path);
        if errors == 0 {
            failures.push(format!("{}: no error reported\n{out}", path.display()));
            continue;
        }
        if let Err(e) = check_expected(path, &out) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
