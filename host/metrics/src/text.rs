//! The Prometheus text exposition format, version 0.0.4: what frr-k8s and MetalLB serve.
//!
//! Written by hand rather than with `prometheus-client`: that crate encodes OpenMetrics only, where
//! every counter sample carries a `_total` suffix. The frr-k8s counters are named without it
//! (`frrk8s_bgp_opens_sent`, `frrk8s_bgp_updates_total_received`), so under OpenMetrics they would
//! either change names (breaking dashboards) or have to be typed as gauges (breaking `rate()`
//! semantics for tools that check types). The 0.0.4 format has no such rule.

use std::fmt::Write as _;

/// The `Content-Type` of [`crate::Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's `# TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A sample value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value {
    /// An integer count, written exactly.
    Int(u64),
    /// Anything else.
    Float(f64),
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::Int(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(u64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}

/// Appends families and samples to a string. Writing to a `String` cannot fail, so the
/// `fmt::Result`s are dropped on purpose.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    out: String,
}

impl Writer {
    pub(crate) fn new() -> Writer {
        Writer { out: String::with_capacity(16 * 1024) }
    }

    pub(crate) fn finish(self) -> String {
        self.out
    }

    /// `# HELP` and `# TYPE` lines.
    pub(crate) fn family(&mut self, name: &str, help: &str, kind: Kind) {
        self.out.push_str("# HELP ");
        self.out.push_str(name);
        self.out.push(' ');
        for c in help.chars() {
            match c {
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                c => self.out.push(c),
            }
        }
        self.out.push_str("\n# TYPE ");
        self.out.push_str(name);
        self.out.push(' ');
        self.out.push_str(kind.as_str());
        self.out.push('\n');
    }

    /// One sample line. `labels` are written in the order given.
    pub(crate) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Into<Value>) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                push_label_value(&mut self.out, v);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        push_value(&mut self.out, value.into());
        self.out.push('\n');
    }
}

fn push_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn push_value(out: &mut String, v: Value) {
    match v {
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Float(f) => out.push_str(&format_float(f)),
    }
}

/// A float as Go's `strconv.FormatFloat(f, 'g', -1, 64)` writes it (what client_golang puts in
/// `le` labels and float values): the shortest representation that round-trips, in exponent form
/// when the decimal exponent is below -4 or at least 6, e.g. `2.5e-06`, `0.0001`, `1e+06`, `+Inf`.
pub(crate) fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    // Rust's `{:e}` gives the shortest round-trip digits with the exponent: "2.5e-6", "1e21".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        // Plain decimal: Rust's `{}` is also shortest round-trip, never in exponent form.
        format!("{f}")
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_written_like_client_golang() {
        let cases = [
            (1e-6, "1e-06"),
            (2.5e-6, "2.5e-06"),
            (1e-5, "1e-05"),
            (5e-5, "5e-05"),
            (1e-4, "0.0001"),
            (2.5e-4, "0.00025"),
            (0.5, "0.5"),
            (1.0, "1"),
            (2.0, "2"),
            (0.0, "0"),
            (-3.0, "-3"),
            (1234.5, "1234.5"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1.7638970125e9, "1.7638970125e+09"),
            (1.8446744073709552e19, "1.8446744073709552e+19"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (f, want) in cases {
            assert_eq!(format_float(f), want, "{f:?}");
        }
    }

    #[test]
    fn help_and_label_values_are_escaped() {
        let mut w = Writer::new();
        w.family("m", "a \\ b\nc \"q\"", Kind::Gauge);
        w.sample("m", &[("peer", "a\"b\\c\nd")], 1u64);
        assert_eq!(w.finish(), "# HELP m a \\\\ b\\nc \"q\"\n# TYPE m gauge\nm{peer=\"a\\\"b\\\\c\\nd\"} 1\n");
    }
}
