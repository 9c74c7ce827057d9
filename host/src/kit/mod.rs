//! The conformance kit (the `ferrolb-conformance` binary is a thin wrapper; the daemon runs a
//! few cases of it as smoke checks before a hot swap, [`smoke`]): data-driven cases (manifests and state in, expected decisions out) run
//! against any component of a policy world through the host runtime, so a plugin author — in
//! Rust, Python or JavaScript — can prove a plugin behaves before it is trusted on a router.
//!
//! The case format is documented in `conformance/README.md`. The kit plays the host: it loads the
//! manifests with ferrolb's configuration loader, converts them to the WIT records, keeps the
//! allocations a plugin granted (as ferrolb's store does), and checks every answer.

pub mod advertise;
pub mod allocator;
pub mod egress;
pub mod manifests;
pub mod merge;
pub mod report;
pub mod smoke;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::policy::{Plugin, Runtime, World};

/// Errors of the kit itself (not case failures).
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    /// A case file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A case file is not a valid case.
    #[error("{path}: not a valid case: {message}")]
    Case {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The world has no case format yet.
    #[error("the conformance kit has no cases for world {0} yet")]
    World(World),
}

/// How the kit judges.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Also compare refusal texts (`expect: {error: "..."}`), not only that the plugin refused.
    pub check_messages: bool,
}

/// The result of one case.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// The case file name (without `.yaml`).
    pub name: String,
    /// Its description.
    pub description: String,
    /// `None` when it passed; else what went wrong, naming the step.
    pub failure: Option<String>,
    /// How long it took.
    pub duration: Duration,
}

impl CaseResult {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// The case files of a world in `dir` (`dir/<world>/*.yaml`), sorted by name.
pub fn case_files(dir: &Path, world: World) -> Result<Vec<PathBuf>, KitError> {
    let wdir = dir.join(world.name());
    let rd = std::fs::read_dir(&wdir).map_err(|source| KitError::Read { path: wdir.clone(), source })?;
    let mut files: Vec<PathBuf> =
        rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml")).collect();
    files.sort();
    Ok(files)
}

/// A failure message, with the loader's errors when the case ran on the unchecked model.
pub(crate) fn with_loader_notes(failure: String, notes: &[String]) -> String {
    if notes.is_empty() {
        return failure;
    }
    let mut unique: Vec<&String> = notes.iter().collect();
    unique.sort();
    unique.dedup();
    let list: Vec<&str> = unique.iter().map(|s| s.as_str()).collect();
    format!(
        "{failure}\n      (ferrolb's validator refuses these manifests, so the plugin got them unchecked: {})",
        list.join("; ")
    )
}

/// The directory of the cases shipped with the kit (in the source tree).
pub fn default_cases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../conformance/cases")
}

/// Run every case file against `plugin` (of `world`).
pub fn run_cases(
    runtime: &Arc<Runtime>,
    plugin: &Arc<Plugin>,
    world: World,
    files: &[PathBuf],
    opts: &Options,
) -> Result<Vec<CaseResult>, KitError> {
    let mut results = Vec::with_capacity(files.len());
    for path in files {
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let text = std::fs::read_to_string(path).map_err(|source| KitError::Read { path: path.clone(), source })?;
        results.push(
            run_case_text(runtime, plugin, world, &name, &text, opts)
                .map_err(|message| KitError::Case { path: path.clone(), message })?,
        );
    }
    Ok(results)
}

/// Run one case given as text (`name` is how results name it); `Err` when the case itself is
/// malformed.
pub fn run_case_text(
    runtime: &Arc<Runtime>,
    plugin: &Arc<Plugin>,
    world: World,
    name: &str,
    text: &str,
    opts: &Options,
) -> Result<CaseResult, String> {
    let started = Instant::now();
    let (description, failure) = match world {
        World::Allocator => {
            let case: allocator::Case = serde_norway::from_str(text).map_err(|e| e.to_string())?;
            let failure = allocator::run(runtime, plugin, &case, opts).err();
            (case.description.clone(), failure)
        }
        World::Advertise => {
            let case: advertise::Case = serde_norway::from_str(text).map_err(|e| e.to_string())?;
            let failure = advertise::run(runtime, plugin, &case, opts).err();
            (case.description.clone(), failure)
        }
        World::Merge => {
            let case: merge::Case = serde_norway::from_str(text).map_err(|e| e.to_string())?;
            let failure = merge::run(runtime, plugin, &case, opts).err();
            (case.description.clone(), failure)
        }
        World::Egress => {
            let case: egress::Case = serde_norway::from_str(text).map_err(|e| e.to_string())?;
            let failure = egress::run(runtime, plugin, &case, opts).err();
            (case.description.clone(), failure)
        }
    };
    Ok(CaseResult { name: name.to_string(), description, failure, duration: started.elapsed() })
}
