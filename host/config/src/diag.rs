//! Diagnostics (errors and warnings) and the `ferrolb check` report, human and JSON.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The configuration is refused.
    Error,
    /// Accepted, but probably not what was meant (unknown field, ignored setting, ...).
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem, naming the object, the field and where it is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The object's kind, e.g. `IPAddressPool` (empty for a problem of a file or document).
    pub kind: String,
    /// The object's namespace (empty for cluster-scoped objects).
    pub namespace: String,
    /// The object's name.
    pub name: String,
    /// The field path, e.g. `spec.addresses[1]` (empty for the object as a whole).
    pub field: String,
    /// The file (`<stdin>` for standard input).
    pub file: String,
    /// The 1-based line (0 when there is none, e.g. an unreadable file).
    pub line: u32,
    /// The explanation.
    pub message: String,
}

impl Diagnostic {
    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line: severity: Kind namespace/name: field: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}: ", self.file, self.line, self.severity)?;
        } else {
            write!(f, "{}: {}: ", self.file, self.severity)?;
        }
        if !self.kind.is_empty() || !self.name.is_empty() {
            f.write_str(if self.kind.is_empty() { "object" } else { &self.kind })?;
            match (self.namespace.is_empty(), self.name.is_empty()) {
                (true, true) => {}
                (true, false) => write!(f, " {}", self.name)?,
                (false, false) => write!(f, " {}/{}", self.namespace, self.name)?,
                (false, true) => write!(f, " in namespace {}", self.namespace)?,
            }
            f.write_str(": ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// An object of a kind ferrolb does not read (listed, then skipped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedObject {
    /// `apiVersion` as written.
    pub api_version: String,
    /// `kind` as written.
    pub kind: String,
    /// `metadata.namespace` (may be empty).
    pub namespace: String,
    /// `metadata.name` (may be empty).
    pub name: String,
    /// The file.
    pub file: String,
    /// The line of the object.
    pub line: u32,
}

impl fmt::Display for SkippedObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {} {}", self.file, self.line, self.api_version, self.kind)?;
        match (self.namespace.is_empty(), self.name.is_empty()) {
            (_, true) => Ok(()),
            (true, false) => write!(f, " {}", self.name),
            (false, false) => write!(f, " {}/{}", self.namespace, self.name),
        }
    }
}

/// The result of `ferrolb check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// No errors.
    pub ok: bool,
    /// Number of errors.
    pub errors: usize,
    /// Number of warnings.
    pub warnings: usize,
    /// Objects read, per kind.
    pub objects: BTreeMap<String, usize>,
    /// Objects of kinds ferrolb does not read.
    pub skipped: Vec<SkippedObject>,
    /// Every error and warning, by file and line.
    pub diagnostics: Vec<Diagnostic>,
}

impl CheckReport {
    /// Build a report from the diagnostics of a load.
    pub fn new(diagnostics: Vec<Diagnostic>, objects: BTreeMap<String, usize>, skipped: Vec<SkippedObject>) -> Self {
        let errors = diagnostics.iter().filter(|d| d.is_error()).count();
        let warnings = diagnostics.len() - errors;
        CheckReport { ok: errors == 0, errors, warnings, objects, skipped, diagnostics }
    }

    /// The report for a person: one line per diagnostic, the skipped objects, a summary line.
    pub fn render_human(&self) -> String {
        let mut out = String::new();
        for d in &self.diagnostics {
            out.push_str(&d.to_string());
            out.push('\n');
        }
        if !self.skipped.is_empty() {
            out.push_str(&format!("skipped {} object(s) of kinds ferrolb does not read:\n", self.skipped.len()));
            for s in &self.skipped {
                out.push_str(&format!("  {s}\n"));
            }
        }
        let total: usize = self.objects.values().sum();
        let kinds: Vec<String> = self.objects.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let plural = |n: usize, w: &str| if n == 1 { format!("{n} {w}") } else { format!("{n} {w}s") };
        out.push_str(&format!(
            "{}: {} read{}, {}, {}\n",
            if self.ok { "ok" } else { "invalid" },
            plural(total, "object"),
            if kinds.is_empty() { String::new() } else { format!(" ({})", kinds.join(", ")) },
            plural(self.errors, "error"),
            plural(self.warnings, "warning"),
        ));
        out
    }

    /// The report as JSON (one object; see the field documentation of [`CheckReport`]).
    pub fn to_json(&self) -> Result<String, crate::ConfigError> {
        serde_json::to_string_pretty(self).map_err(crate::ConfigError::Json)
    }
}
