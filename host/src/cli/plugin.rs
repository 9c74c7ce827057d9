//! `ferrolb plugin ...`: inspect a component (the first thing a plugin author runs), sign and
//! verify components (`keygen`, `sign`, `verify`; see [`crate::trust`]), and load, list and roll
//! back the plugins of a running daemon ([`super::plugin_admin`]). Also the plugin options
//! `plan` and `run` share: `--plugin WORLD=PATH`, `--require-signed --trusted-keys PATH`, and the
//! per-plugin limits.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};

use crate::policy::{ImportProfile, Limits, PluginSource, Runtime, RuntimeConfig, World};
use crate::trust::{Password, SigningKey, TrustPolicy};

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    Human,
    /// For programs: `{"world","name","version","contract","imports","exports","bytes",...}`.
    Json,
}

/// `ferrolb plugin` subcommands.
#[derive(Subcommand, Debug)]
pub enum PluginCommand {
    /// Show a component's world, name, version, contract version, imports, exports and size.
    Inspect {
        /// A component file, or `builtin:WORLD` for a default plugin.
        plugin: String,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value = "human")]
        output: Output,
    },
    /// Hot swap: load a component into a running daemon (smoke cases, then an atomic switch).
    Load(super::plugin_admin::LoadArgs),
    /// The plugins a running daemon uses, and what `rollback` would restore.
    List(super::plugin_admin::AdminArgs),
    /// Make a running daemon's previous plugin of WORLD active again.
    Rollback(super::plugin_admin::RollbackArgs),
    /// Make a signing key pair: PREFIX.pub (give it to the routers) and PREFIX.key (keep it).
    Keygen {
        /// Path prefix of the two files.
        #[arg(long, value_name = "PREFIX")]
        out: PathBuf,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Sign a component: writes PATH.minisig (minisign format). A password-protected key (from
    /// `minisign -G`) is unlocked with $FERROLB_SIGNING_PASSWORD or a prompt.
    Sign {
        /// The secret key (`ferrolb plugin keygen`'s PREFIX.key, or a minisign secret key).
        #[arg(long, value_name = "SECRET")]
        key: PathBuf,
        /// The component file.
        path: PathBuf,
        /// One-line trusted comment, covered by the signature (default: timestamp and file name).
        #[arg(long)]
        comment: Option<String>,
        /// Write the signature here instead of PATH.minisig.
        #[arg(long, value_name = "SIG")]
        out: Option<PathBuf>,
    },
    /// Check a component's signature against allowed keys; exit 0 if good, 1 if refused.
    Verify {
        /// Allowed public keys: a file of minisign public keys or a directory of *.pub (repeatable).
        #[arg(long, value_name = "KEYS", required = true)]
        keys: Vec<PathBuf>,
        /// The component file.
        path: PathBuf,
        /// The signature (default: PATH.minisig).
        #[arg(long, value_name = "SIG")]
        signature: Option<PathBuf>,
    },
}

/// Plugin trust options of `plan` and `run`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TrustArgs {
    /// Refuse plugin files (`--plugin WORLD=PATH`) without a good signature PATH.minisig made by
    /// one of the --trusted-keys (builtin plugins are part of the binary and always load).
    #[arg(long, requires = "trusted_keys")]
    pub require_signed: bool,
    /// Allowed public keys: a file of minisign public keys (`cat a.pub b.pub` works) or a
    /// directory of *.pub files; repeatable.
    #[arg(long = "trusted-keys", value_name = "PATH", requires = "require_signed")]
    pub trusted_keys: Vec<PathBuf>,
}

/// Per-plugin limits of `--plugin` files (the default plugins keep the defaults).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LimitArgs {
    /// Deadline of one per-object call of a --plugin, in milliseconds (default 50).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub plugin_deadline_ms: Option<u64>,
    /// Deadline of a whole-configuration call of a --plugin, in milliseconds (default 2000).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub plugin_bulk_deadline_ms: Option<u64>,
    /// Linear memory cap of a --plugin instance, in MiB (default 64).
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub plugin_memory_mib: Option<u64>,
    /// Fuel budget of one call of a --plugin, for deterministic runs (default: unmetered).
    #[arg(long, value_name = "UNITS", value_parser = clap::value_parser!(u64).range(1..))]
    pub plugin_fuel: Option<u64>,
}

impl LimitArgs {
    /// The limits given, on top of the defaults; `None` if none was given.
    pub fn limits(&self) -> Option<Limits> {
        if self.plugin_deadline_ms.is_none()
            && self.plugin_bulk_deadline_ms.is_none()
            && self.plugin_memory_mib.is_none()
            && self.plugin_fuel.is_none()
        {
            return None;
        }
        let d = Limits::default();
        Some(Limits {
            deadline: self.plugin_deadline_ms.map(Duration::from_millis).unwrap_or(d.deadline),
            bulk_deadline: self.plugin_bulk_deadline_ms.map(Duration::from_millis).unwrap_or(d.bulk_deadline),
            memory_bytes: self.plugin_memory_mib.and_then(|m| usize::try_from(m << 20).ok()).unwrap_or(d.memory_bytes),
            fuel: self.plugin_fuel.or(d.fuel),
        })
    }
}

/// `--plugin WORLD=PATH` specs → sources, each plugin file checked against the trust options
/// (in require mode the checked bytes are what gets loaded).
pub(super) fn plugin_sources(specs: &[String], trust: &TrustArgs) -> anyhow::Result<Vec<(World, PluginSource)>> {
    let policy = TrustPolicy::from_paths(trust.require_signed, &trust.trusted_keys).context("--trusted-keys")?;
    let mut out = Vec::new();
    for spec in specs {
        let (world, path) = spec.split_once('=').with_context(|| format!("--plugin {spec:?}: expected WORLD=PATH"))?;
        let world = World::parse(world).with_context(|| format!("--plugin {spec:?}: unknown world {world:?}"))?;
        let source = PluginSource::parse(path).map_err(anyhow::Error::msg)?;
        let (source, verified) = source.trusted(&policy).with_context(|| format!("--plugin {spec}: refused"))?;
        if let Some(v) = verified {
            tracing::info!(plugin = %path, key = %v.key_id, key_source = %v.key_source, trusted_comment = %v.trusted_comment, "plugin signature verified");
        }
        out.push((world, source));
    }
    Ok(out)
}

/// Run a `plugin` subcommand.
pub fn run(cmd: &PluginCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PluginCommand::Inspect { plugin, output } => inspect(plugin, *output),
        PluginCommand::Load(a) => super::plugin_admin::load(a),
        PluginCommand::List(a) => super::plugin_admin::list(a),
        PluginCommand::Rollback(a) => super::plugin_admin::rollback(a),
        PluginCommand::Keygen { out, force } => keygen(out, *force),
        PluginCommand::Sign { key, path, comment, out } => sign(key, path, comment.as_deref(), out.as_deref()),
        PluginCommand::Verify { keys, path, signature } => verify(keys, path, signature.as_deref()),
    }
}

fn keygen(prefix: &Path, force: bool) -> anyhow::Result<ExitCode> {
    let pair = crate::trust::generate_keypair()?;
    let (public, secret) = match pair.write(prefix, force) {
        Err(crate::trust::TrustError::Write { path, error }) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            anyhow::bail!("{} exists; not overwriting a key (--force to replace it)", path.display())
        }
        other => other?,
    };
    super::emit(&format!(
        "key ID:      {}\npublic key:  {}  (allow it on the routers: --require-signed --trusted-keys {})\n\
         secret key:  {}  (unencrypted, mode 0600: keep it where plugins are signed, not on routers)\n",
        pair.id,
        public.display(),
        public.display(),
        secret.display()
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn sign(key: &Path, path: &Path, comment: Option<&str>, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let password = match std::env::var("FERROLB_SIGNING_PASSWORD") {
        Ok(p) => Password::Given(p),
        Err(_) if std::io::stdin().is_terminal() => Password::Prompt,
        Err(_) => Password::None,
    };
    let key = SigningKey::read(key, password)?;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let default_comment;
    let comment = match comment {
        Some(c) => c,
        None => {
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            default_comment = format!("timestamp:{now}\tfile:{file}");
            &default_comment
        }
    };
    let sig = key.sign(&bytes, Some(comment))?;
    let written = crate::trust::write_signature(path, out, &sig)?;
    super::emit(&format!("signed {} with key {} -> {}\n", path.display(), key.id, written.display()))?;
    Ok(ExitCode::SUCCESS)
}

fn verify(keys: &[PathBuf], path: &Path, signature: Option<&Path>) -> anyhow::Result<ExitCode> {
    let policy = TrustPolicy::from_paths(true, keys).context("--keys")?;
    let sig_path = signature.map(Path::to_path_buf).unwrap_or_else(|| crate::trust::signature_path(path));
    let checked = std::fs::read(path)
        .map_err(|source| crate::trust::TrustError::Read { path: path.to_path_buf(), error: source })
        .and_then(|bytes| match std::fs::read(&sig_path) {
            Ok(sig) => policy.verify_named(path, &sig_path, &bytes, &sig),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(crate::trust::TrustError::Unsigned { plugin: path.to_path_buf(), expected: sig_path.clone() })
            }
            Err(source) => Err(crate::trust::TrustError::Read { path: sig_path.clone(), error: source }),
        });
    match checked {
        Ok(v) => {
            super::emit(&format!(
                "{}: good signature by key {} ({})\ntrusted comment: {}\n",
                path.display(),
                v.key_id,
                v.key_source,
                v.trusted_comment
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{}: refused: {e}", path.display());
            Ok(ExitCode::from(1))
        }
    }
}

fn inspect(plugin: &str, output: Output) -> anyhow::Result<ExitCode> {
    let source = PluginSource::parse(plugin).map_err(anyhow::Error::msg)?;
    let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).context("starting the plugin runtime")?);
    let i = runtime.inspect(&source);
    match output {
        Output::Json => super::emit(&format!("{}\n", serde_json::to_string_pretty(&i)?))?,
        Output::Human => {
            use std::fmt::Write as _;
            let mut o = String::new();
            let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
            let _ = writeln!(o, "plugin:    {}", source.describe());
            let _ = writeln!(o, "world:     {}", i.world.map(|w| w.to_string()).unwrap_or_else(|| "-".into()));
            let _ = writeln!(o, "name:      {}", opt(&i.name));
            let _ = writeln!(o, "version:   {}", opt(&i.version));
            let _ = writeln!(o, "contract:  {}", opt(&i.contract));
            let _ = writeln!(o, "bytes:     {}", i.bytes);
            let _ = writeln!(o, "sha256:    {}", if i.sha256.is_empty() { "-" } else { &i.sha256 });
            let _ = writeln!(
                o,
                "profile:   {}",
                match i.profile {
                    Some(ImportProfile::Pure) => "pure (imports nothing)",
                    Some(ImportProfile::WasiRestricted) => "wasi-restricted",
                    None => "-",
                }
            );
            let _ = writeln!(
                o,
                "imports:   {}",
                if i.imports.is_empty() { "(none)".to_string() } else { i.imports.join("\n           ") }
            );
            let _ = writeln!(
                o,
                "exports:   {}",
                if i.exports.is_empty() { "(none)".to_string() } else { i.exports.join("\n           ") }
            );
            for p in &i.problems {
                let _ = writeln!(o, "problem:   {p}");
            }
            super::emit(&o)?;
        }
    }
    Ok(if i.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
