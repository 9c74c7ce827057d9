//! Where manifests come from (files, directories, several `-f`, unreadable paths) and what bad
//! input does: never a panic, always a diagnostic.

use ferrolb_config::{CheckReport, Severity, Source, load, load_str};
use std::path::{Path, PathBuf};

const POOL: &str = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: NAME\n  namespace: metallb-system\nspec:\n  addresses: [ADDR]\n";

fn pool(name: &str, addr: &str) -> String {
    POOL.replace("NAME", name).replace("ADDR", addr)
}

#[test]
fn directories_are_read_like_kubectl_reads_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("b.yaml"), pool("b", "10.0.1.0/24")).expect("write");
    std::fs::write(dir.path().join("a.yml"), pool("a", "10.0.0.0/24")).expect("write");
    std::fs::write(dir.path().join("c.json"), r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"c"}}"#)
        .expect("write");
    std::fs::write(dir.path().join("notes.txt"), "not a manifest").expect("write");
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    std::fs::write(dir.path().join("sub/d.yaml"), pool("d", "10.0.0.0/24")).expect("write");

    let result = load(&[Source::Path(dir.path().to_path_buf())]);
    assert!(!result.has_errors(), "{:#?}", result.diagnostics);
    let model = result.model.expect("model");
    let names: Vec<&str> = model.pools.iter().map(|p| p.id.name.as_str()).collect();
    assert_eq!(names, vec!["a", "b"], "sub/ is not read (no -R), notes.txt is not a manifest");
    assert_eq!(model.namespaces[0].name, "c");
}

#[test]
fn several_sources_are_one_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a.yaml");
    std::fs::write(&a, pool("a", "10.0.0.0/24")).expect("write");
    let result =
        load(&[Source::Path(a.clone()), Source::Text { name: "more.yaml".into(), text: pool("b", "10.0.0.128/25") }]);
    let d: Vec<String> = result.diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(d.len(), 1, "{d:#?}");
    assert!(
        d[0].starts_with(
            "more.yaml:7: error: IPAddressPool metallb-system/b: spec.addresses[0]: 10.0.0.128/25 overlaps"
        )
    );
    assert!(d[0].contains(&format!("({}:1)", a.display())));
}

#[test]
fn unreadable_sources_are_diagnostics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad_utf8 = dir.path().join("latin1.yaml");
    std::fs::write(&bad_utf8, b"name: caf\xe9\n").expect("write");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let missing = PathBuf::from("/nonexistent/ferrolb.yaml");
    let result = load(&[Source::Path(missing.clone()), Source::Path(bad_utf8.clone()), Source::Path(empty.clone())]);
    let d: Vec<String> = result.diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        d,
        vec![
            format!("{}: error: cannot read: No such file or directory (os error 2)", missing.display()),
            format!("{}: error: not UTF-8 text", bad_utf8.display()),
            format!("{}: error: no .yaml, .yml or .json file in this directory", empty.display()),
        ]
    );
    assert!(result.model.is_none());
}

#[test]
fn dash_is_standard_input() {
    assert_eq!(Source::from_arg(Path::new("-")), Source::Stdin);
    assert_eq!(Source::from_arg(Path::new("x.yaml")), Source::Path(PathBuf::from("x.yaml")));
}

#[test]
fn an_empty_input_is_an_empty_valid_configuration() {
    let result = load_str("empty.yaml", "# nothing here\n---\n---\n");
    assert!(result.diagnostics.is_empty());
    assert_eq!(result.model.map(|m| m.pools.len()), Some(0));
}

#[test]
fn reports_render_for_people_and_programs() {
    let result = load_str(
        "x.yaml",
        &format!("{}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d}}\n", pool("a", "10.0.0.0/33")),
    );
    let report = result.report();
    assert!(!report.ok);
    assert_eq!((report.errors, report.warnings), (1, 0));
    assert_eq!(report.diagnostics[0].severity, Severity::Error);
    assert_eq!(report.skipped[0].kind, "Deployment");
    assert_eq!(
        report.render_human(),
        "x.yaml:7: error: IPAddressPool metallb-system/a: spec.addresses[0]: invalid CIDR \"10.0.0.0/33\": prefix length \"33\" is not in 0..=32\n\
         skipped 1 object(s) of kinds ferrolb does not read:\n  x.yaml:9: apps/v1 Deployment d\n\
         invalid: 1 object read (1 IPAddressPool), 1 error, 0 warnings\n"
    );
    let json = report.to_json().expect("json");
    let back: CheckReport = serde_json::from_str(&json).expect("parse back");
    assert_eq!(back, report);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json value");
    assert_eq!(v["diagnostics"][0]["field"], "spec.addresses[0]");
    assert_eq!(v["diagnostics"][0]["line"], 7);
}

/// Garbage, truncations and byte flips of real manifests: diagnostics, never a panic.
#[test]
fn bad_input_never_panics() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut texts = Vec::new();
    for dir in ["good", "bad"] {
        for e in std::fs::read_dir(corpus.join(dir)).expect("corpus") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "yaml") {
                texts.push(std::fs::read_to_string(&p).expect("read"));
            }
        }
    }
    let mut seed = 0x2545_f491_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let specials = b":-[]{}#&*!|>'\"%@`?,\\\t\n ~0";
    for text in &texts {
        let bytes = text.as_bytes();
        for _ in 0..20 {
            let mut b = bytes.to_vec();
            let len = b.len().max(1);
            match next() % 3 {
                0 => b.truncate(usize::try_from(next()).unwrap_or(0) % len),
                1 => {
                    for _ in 0..4 {
                        let i = usize::try_from(next()).unwrap_or(0) % len;
                        if let Some(c) = b.get_mut(i) {
                            *c = specials[usize::try_from(next()).unwrap_or(0) % specials.len()];
                        }
                    }
                }
                _ => {
                    let i = usize::try_from(next()).unwrap_or(0) % len;
                    b.splice(i..i, std::iter::repeat_n(b' ', usize::try_from(next() % 5).unwrap_or(0)));
                }
            }
            if let Ok(t) = String::from_utf8(b) {
                let r = load_str("fuzz.yaml", &t);
                assert_eq!(r.has_errors(), r.model.is_none());
            }
        }
    }
    // Absurd nesting is refused, not a stack overflow.
    let deep_flow = format!("a: {}{}\n", "[".repeat(200_000), "]".repeat(200_000));
    let deep_block: String = (0..3000).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
    for deep in [deep_flow, deep_block] {
        let r = load_str("deep.yaml", &deep);
        let m = &r.diagnostics[0].message;
        assert!(m.contains("nested deeper than") || m.contains("recursion limit"), "{:?}", r.diagnostics);
    }
    for garbage in ["\u{0}", "{", "- - - -", "apiVersion: v1\nkind: [Service]\n", "a: *nope\n", "%%%", "---\n...\n---"]
    {
        let _ = load_str("garbage.yaml", garbage);
    }
}
