//! Reports: a human summary and JUnit XML (for CI systems).

use std::fmt::Write as _;

use super::CaseResult;

/// The human report: one line per failed case (or per case with `verbose`), then the totals.
pub fn human(world: &str, plugin: &str, results: &[CaseResult], verbose: bool) -> String {
    let mut out = String::new();
    for r in results {
        match &r.failure {
            None if verbose => {
                let _ = writeln!(out, "ok    {world}/{} ({:.1?})", r.name, r.duration);
            }
            None => {}
            Some(f) => {
                let _ = writeln!(out, "FAIL  {world}/{}: {}\n      {f}", r.name, r.description);
            }
        }
    }
    let passed = results.iter().filter(|r| r.passed()).count();
    let _ = writeln!(out, "conformance {world} for {plugin}: {passed} passed, {} failed", results.len() - passed);
    out
}

fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// JUnit XML: one `testsuite` for the world, one `testcase` per case.
pub fn junit(world: &str, plugin: &str, results: &[CaseResult]) -> String {
    let failures = results.iter().filter(|r| !r.passed()).count();
    let total: f64 = results.iter().map(|r| r.duration.as_secs_f64()).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites><testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{total:.3}\">",
        escape(&format!("{world} ({plugin})")),
        results.len()
    );
    for r in results {
        let _ = write!(
            out,
            "  <testcase classname=\"conformance.{}\" name=\"{}\" time=\"{:.3}\"",
            escape(world),
            escape(&r.name),
            r.duration.as_secs_f64()
        );
        match &r.failure {
            None => out.push_str("/>\n"),
            Some(f) => {
                let _ = writeln!(
                    out,
                    "><failure message=\"{}\">{}</failure></testcase>",
                    escape(f),
                    escape(&format!("{}\n{f}", r.description))
                );
            }
        }
    }
    out.push_str("</testsuite></testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn junit_escapes_and_counts() {
        let results = vec![
            CaseResult { name: "a".into(), description: "x".into(), failure: None, duration: Duration::from_millis(2) },
            CaseResult {
                name: "b<&>".into(),
                description: "y".into(),
                failure: Some("step 1: got \"1\"".into()),
                duration: Duration::ZERO,
            },
        ];
        let x = junit("allocator", "p", &results);
        assert!(x.contains("tests=\"2\" failures=\"1\""), "{x}");
        assert!(x.contains("name=\"b&lt;&amp;&gt;\""), "{x}");
        assert!(x.contains("message=\"step 1: got &quot;1&quot;\""), "{x}");
        let h = human("allocator", "p", &results, false);
        assert!(h.ends_with("conformance allocator for p: 1 passed, 1 failed\n"), "{h}");
    }
}
