//! Loading and verifying plugins: bytes → checked, compiled, world-typed [`Plugin`].
//!
//! The order of checks gives the most useful message first: readable → WebAssembly at all →
//! a component (not a core module) → compiles → imports allowed by the profile → exports the
//! world's interface at our contract version → instantiates within its limits → `metadata()`
//! answers within its deadline with a compatible contract version.

use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use super::bindings::PluginInfo;
use super::builtin;
use super::cache::Cache;
use super::error::{Cause, PluginError};
use super::instance::Session;
use super::runtime::{ImportProfile, Limits, Plugin, Runtime, WorldPre};
use super::{CONTRACT_VERSION, World};

/// Where a plugin's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginSource {
    /// One of the default plugins embedded in the binary.
    Builtin(World),
    /// A component file.
    Path(PathBuf),
    /// Bytes already in memory, with a name for messages.
    Bytes {
        /// How to call it in messages.
        name: String,
        /// The component.
        bytes: Arc<[u8]>,
    },
}

impl PluginSource {
    /// Parse a command-line plugin reference: `builtin:WORLD` or a path.
    pub fn parse(s: &str) -> Result<PluginSource, String> {
        match s.strip_prefix("builtin:") {
            Some(w) => World::parse(w).map(PluginSource::Builtin).ok_or_else(|| {
                format!("unknown world {w:?} in {s:?}: expected builtin:allocator, builtin:advertise, builtin:merge or builtin:egress")
            }),
            None => Ok(PluginSource::Path(PathBuf::from(s))),
        }
    }

    /// How the source is named in messages.
    pub fn describe(&self) -> String {
        match self {
            PluginSource::Builtin(w) => format!("builtin:{w}"),
            PluginSource::Path(p) => p.display().to_string(),
            PluginSource::Bytes { name, .. } => name.clone(),
        }
    }

    /// Apply the plugin trust policy before loading: in require mode a component file is read
    /// once, its signature (`PATH.minisig`) checked, and the checked bytes are what gets compiled
    /// (a file replaced after the check is never loaded). Builtins are part of the binary and pass;
    /// in-memory bytes have no signature and are refused in require mode. Off mode reads nothing.
    pub fn trusted(
        self,
        policy: &ferrolb_trust::TrustPolicy,
    ) -> Result<(PluginSource, Option<ferrolb_trust::Verified>), ferrolb_trust::TrustError> {
        if policy.mode == ferrolb_trust::Mode::Off {
            return Ok((self, None));
        }
        match self {
            PluginSource::Builtin(_) => Ok((self, None)),
            PluginSource::Path(p) => {
                let checked = policy.check_file(&p)?;
                let name = p.display().to_string();
                Ok((PluginSource::Bytes { name, bytes: Arc::from(checked.bytes) }, checked.verified))
            }
            PluginSource::Bytes { ref name, ref bytes } => {
                let verified = policy.check(std::path::Path::new(name), bytes, None)?;
                Ok((self, verified))
            }
        }
    }

    fn read(&self) -> Result<Arc<[u8]>, Cause> {
        match self {
            PluginSource::Builtin(w) => Ok(Arc::from(builtin::bytes(*w))),
            PluginSource::Path(p) => std::fs::read(p)
                .map(Arc::from)
                .map_err(|e| Cause::Read { path: p.display().to_string(), message: e.to_string() }),
            PluginSource::Bytes { bytes, .. } => Ok(bytes.clone()),
        }
    }
}

/// What `ferrolb plugin inspect` shows. Fields a broken component cannot tell are `None`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Inspection {
    /// The world the component implements, if any.
    pub world: Option<World>,
    /// `metadata().name`.
    pub name: Option<String>,
    /// `metadata().version`.
    pub version: Option<String>,
    /// `metadata().contract`.
    pub contract: Option<String>,
    /// Imported interfaces and functions.
    pub imports: Vec<String>,
    /// Exported interfaces and functions.
    pub exports: Vec<String>,
    /// Size in bytes.
    pub bytes: usize,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    /// The import profile that admits it (`pure` or `wasi-restricted`), if any.
    pub profile: Option<ImportProfile>,
    /// Why it could not be fully inspected or would be refused.
    pub problems: Vec<String>,
}

/// The result of the checks that do not need a world.
struct Compiled {
    component: Component,
    digest: String,
    bytes: usize,
    imports: Vec<String>,
    exports: Vec<String>,
}

/// Tell a component from a core module or garbage by the preamble, for a clear message.
fn check_preamble(bytes: &[u8]) -> Result<(), Cause> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(Cause::NotAComponent(
            "no WebAssembly magic number (\\0asm): this file is not WebAssembly at all".into(),
        ));
    }
    match [bytes[4], bytes[5], bytes[6], bytes[7]] {
        [1, 0, 0, 0] => Err(Cause::NotAComponent(
            "this is a core WebAssembly module; ferrolb loads components (build for wasm32-wasip2, \
             or wrap the module with `wasm-tools component new`)"
                .into(),
        )),
        [_, _, 1, 0] => Ok(()),
        [a, b, c, d] => {
            Err(Cause::NotAComponent(format!("unknown WebAssembly version/layer {a:#04x} {b:#04x} {c:#04x} {d:#04x}")))
        }
    }
}

impl Runtime {
    fn compile(&self, bytes: &[u8]) -> Result<Compiled, Cause> {
        check_preamble(bytes)?;
        let digest = hex::encode(Sha256::digest(bytes));
        let cache = self.config.cache_dir.as_deref().map(Cache::new);
        let component = match cache.as_ref().and_then(|c| c.load(&self.engine, &digest)) {
            Some(c) => c,
            None => {
                let c = Component::new(&self.engine, bytes).map_err(|e| Cause::Compile(format!("{e:#}")))?;
                if let Some(cache) = &cache {
                    cache.store(&self.engine, &digest, &c);
                }
                c
            }
        };
        let ty = component.component_type();
        let imports = ty.imports(&self.engine).map(|(n, _)| n.to_string()).collect();
        let exports = ty.exports(&self.engine).map(|(n, _)| n.to_string()).collect();
        Ok(Compiled { component, digest, bytes: bytes.len(), imports, exports })
    }

    /// The narrowest profile that admits these imports.
    fn profile_for(imports: &[String]) -> Option<ImportProfile> {
        if imports.is_empty() {
            Some(ImportProfile::Pure)
        } else if imports.iter().all(|i| i.starts_with("wasi:")) {
            Some(ImportProfile::WasiRestricted)
        } else {
            None
        }
    }

    fn check_imports(&self, imports: &[String]) -> Result<(), Cause> {
        let needed = Self::profile_for(imports);
        let ok = match self.config.profile {
            ImportProfile::Pure => needed == Some(ImportProfile::Pure),
            ImportProfile::WasiRestricted => needed.is_some(),
        };
        if ok {
            return Ok(());
        }
        let (allowed, offending): (&str, Vec<String>) = match self.config.profile {
            ImportProfile::Pure => ("no imports", imports.to_vec()),
            ImportProfile::WasiRestricted => {
                ("only wasi:* imports", imports.iter().filter(|i| !i.starts_with("wasi:")).cloned().collect())
            }
        };
        Err(Cause::ForbiddenImports {
            profile: self.config.profile.name().to_string(),
            allowed: allowed.to_string(),
            imports: offending,
        })
    }

    /// Which world the exports implement, or why none / another contract version.
    fn world_of(exports: &[String]) -> Result<World, Cause> {
        for w in World::ALL {
            let prefix = format!("ferrolb:policy/{}-policy@", w.name());
            if let Some(e) = exports.iter().find(|e| e.starts_with(&prefix)) {
                let version = &e[prefix.len()..];
                if !contract_compatible(version, CONTRACT_VERSION) {
                    return Err(Cause::Incompatible { found: version.to_string(), expected: CONTRACT_VERSION.into() });
                }
                return Ok(w);
            }
        }
        Err(Cause::WrongWorld {
            expected: World::Allocator,
            reason: format!("it exports none of the ferrolb policy interfaces (exports: {})", exports.join(", ")),
        })
    }

    /// Load a plugin for `world` with the runtime's default limits.
    pub fn load(self: &Arc<Self>, world: World, source: &PluginSource) -> Result<Arc<Plugin>, PluginError> {
        self.load_with(world, source, self.config.limits)
    }

    /// Load a plugin for `world` with the given limits: every check of the module documentation.
    pub fn load_with(
        self: &Arc<Self>,
        world: World,
        source: &PluginSource,
        limits: Limits,
    ) -> Result<Arc<Plugin>, PluginError> {
        let err = |cause| PluginError { world, plugin: source.describe(), cause };
        let bytes = source.read().map_err(err)?;
        let c = self.compile(&bytes).map_err(err)?;
        self.check_imports(&c.imports).map_err(err)?;
        match Self::world_of(&c.exports) {
            Ok(w) if w == world => {}
            Ok(other) => {
                return Err(err(Cause::WrongWorld { expected: world, reason: format!("it implements world {other}") }));
            }
            Err(Cause::WrongWorld { reason, .. }) => return Err(err(Cause::WrongWorld { expected: world, reason })),
            Err(cause) => return Err(err(cause)),
        }
        let profile = Self::profile_for(&c.imports).unwrap_or(self.config.profile);
        let pre = self
            .linker(profile)
            .instantiate_pre(&c.component)
            .map_err(|e| err(Cause::Instantiate(format!("{e:#}"))))?;
        let pre = WorldPre::new(world, pre)
            .map_err(|e| err(Cause::WrongWorld { expected: world, reason: format!("{e:#}") }))?;
        let mut plugin = Plugin {
            world,
            info: PluginInfo { name: source.describe(), version: String::new(), contract: String::new() },
            source: source.describe(),
            digest: c.digest,
            bytes: c.bytes,
            imports: c.imports,
            exports: c.exports,
            limits,
            profile,
            component: c.component,
            pre,
        };
        // Ask the plugin who it is, under its limits (a plugin that loops here never loads).
        let info = Session::new(self, &plugin)
            .and_then(|mut s| s.metadata())
            .map_err(|e| PluginError { plugin: source.describe(), ..e })?;
        if !contract_compatible(&info.contract, CONTRACT_VERSION) {
            return Err(err(Cause::Incompatible { found: info.contract, expected: CONTRACT_VERSION.into() }));
        }
        if info.name.trim().is_empty() {
            return Err(err(Cause::InvalidAnswer("metadata() returned an empty name".into())));
        }
        plugin.info = info;
        tracing::info!(world = %world, plugin = %plugin.label(), source = %plugin.source, digest = %&plugin.digest[..12], "plugin loaded");
        Ok(Arc::new(plugin))
    }

    /// Everything `ferrolb plugin inspect` shows, for any bytes (never fails: problems are listed).
    pub fn inspect(self: &Arc<Self>, source: &PluginSource) -> Inspection {
        let mut out = Inspection {
            world: None,
            name: None,
            version: None,
            contract: None,
            imports: vec![],
            exports: vec![],
            bytes: 0,
            sha256: String::new(),
            profile: None,
            problems: vec![],
        };
        let bytes = match source.read() {
            Ok(b) => b,
            Err(c) => {
                out.problems.push(c.to_string());
                return out;
            }
        };
        out.bytes = bytes.len();
        out.sha256 = hex::encode(Sha256::digest(&bytes));
        let c = match self.compile(&bytes) {
            Ok(c) => c,
            Err(cause) => {
                out.problems.push(cause.to_string());
                return out;
            }
        };
        out.imports = c.imports.clone();
        out.exports = c.exports.clone();
        out.profile = Self::profile_for(&c.imports);
        if out.profile.is_none() {
            out.problems.push(format!(
                "imports outside WASI ({}): no import profile admits it",
                c.imports.iter().filter(|i| !i.starts_with("wasi:")).cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        let world = match Self::world_of(&c.exports) {
            Ok(w) => w,
            Err(cause) => {
                out.problems.push(cause.to_string());
                return out;
            }
        };
        out.world = Some(world);
        // Load it for real (under a runtime view that admits its profile) to ask metadata().
        let rt = if out.profile == Some(ImportProfile::WasiRestricted) && self.config.profile == ImportProfile::Pure {
            let mut cfg = self.config.clone();
            cfg.profile = ImportProfile::WasiRestricted;
            match Runtime::new(cfg) {
                Ok(r) => Arc::new(r),
                Err(e) => {
                    out.problems.push(e.to_string());
                    return out;
                }
            }
        } else {
            self.clone()
        };
        match rt.load(world, source) {
            Ok(p) => {
                out.name = Some(p.info.name.clone());
                out.version = Some(p.info.version.clone());
                out.contract = Some(p.info.contract.clone());
            }
            Err(e) => out.problems.push(e.cause.to_string()),
        }
        if out.profile == Some(ImportProfile::WasiRestricted) && self.config.profile == ImportProfile::Pure {
            out.problems
                .push("needs the wasi-restricted import profile (the default profile, pure, refuses it)".into());
        }
        out
    }
}

/// Whether a plugin implementing contract `found` can serve a host implementing `expected`:
/// same major, and (while the major is 0) same minor; a plugin may be older in minor/patch.
pub(crate) fn contract_compatible(found: &str, expected: &str) -> bool {
    let parse = |s: &str| -> Option<(u64, u64, u64)> {
        let mut it = s.trim().split('.').map(|p| p.parse::<u64>().ok());
        let v = (it.next()??, it.next()??, it.next()??);
        it.next().is_none().then_some(v)
    };
    match (parse(found), parse(expected)) {
        (Some((fa, fb, _)), Some((ea, eb, _))) => {
            if ea == 0 {
                fa == 0 && fb == eb
            } else {
                fa == ea && fb <= eb
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_versions() {
        assert!(contract_compatible("0.1.0", "0.1.0"));
        assert!(contract_compatible("0.1.3", "0.1.0"));
        assert!(!contract_compatible("0.2.0", "0.1.0"));
        assert!(!contract_compatible("0.0.1", "0.1.0"));
        assert!(!contract_compatible("1.0.0", "0.1.0"));
        assert!(contract_compatible("1.0.0", "1.2.0"));
        assert!(!contract_compatible("1.3.0", "1.2.0"));
        assert!(!contract_compatible("", "0.1.0"));
        assert!(!contract_compatible("0.1", "0.1.0"));
        assert!(!contract_compatible("0.1.0.1", "0.1.0"));
    }

    #[test]
    fn preamble() {
        assert!(matches!(check_preamble(b"hello world"), Err(Cause::NotAComponent(m)) if m.contains("magic")));
        assert!(matches!(check_preamble(b"\0asm\x01\0\0\0"), Err(Cause::NotAComponent(m)) if m.contains("core")));
        assert!(check_preamble(b"\0asm\x0d\0\x01\0").is_ok());
        assert!(check_preamble(b"\0asm").is_err());
    }
}
