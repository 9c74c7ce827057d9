//! On-disk cache of compiled components, keyed by content hash.
//!
//! **The host's one `unsafe` corner.** `Component::deserialize` is `unsafe` because wasmtime
//! trusts the bytes to be machine code it produced. The invariants we keep so that this holds:
//! - artifacts are only ever written by [`Cache::store`], from `Component::serialize` of a component
//!   this process compiled, into a directory the operator gave us (created 0700);
//! - a file is named after the SHA-256 of the component's source bytes *and* the engine's
//!   compatibility hash (wasmtime version + compilation settings), so a changed plugin or engine
//!   never matches an old artifact;
//! - a file carries a CRC32 of the artifact in its first 4 bytes and is written to a temporary name,
//!   synced, then renamed, so a torn write or a corrupted file is detected and recompiled, never
//!   deserialized; wasmtime additionally checks its own header for engine compatibility. (A CRC,
//!   not a cryptographic hash: it guards against accidents at memory speed — a cached load must
//!   stay under a millisecond — while the directory's permissions guard against people: whoever
//!   can write there can also replace the binary.)

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// A directory of compiled artifacts.
#[derive(Debug, Clone)]
pub(crate) struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub(crate) fn new(dir: &Path) -> Cache {
        Cache { dir: dir.to_path_buf() }
    }

    fn path(&self, engine: &Engine, digest: &str) -> PathBuf {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        self.dir.join(format!("{digest}-{:016x}.cwasm", h.finish()))
    }

    /// The cached compilation of the component whose source has `digest`, if there is a valid one.
    pub(crate) fn load(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.path(engine, digest);
        let data = std::fs::read(&path).ok()?;
        if data.len() < 4 {
            return None;
        }
        let (sum, artifact) = data.split_at(4);
        if crc32fast::hash(artifact).to_le_bytes() != sum {
            tracing::warn!(path = %path.display(), "corrupt compiled-plugin cache entry ignored");
            return None;
        }
        // SAFETY: see the module documentation — the artifact was produced by `Component::serialize`
        // in this cache (CRC verified above) for this engine configuration (file name), and
        // wasmtime re-checks engine compatibility in its header.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(engine, artifact) };
        match component {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unusable compiled-plugin cache entry ignored");
                None
            }
        }
    }

    /// Remember the compilation of `component` (best effort: a cache that cannot be written only
    /// costs a recompilation next time).
    pub(crate) fn store(&self, engine: &Engine, digest: &str, component: &Component) {
        if let Err(e) = self.try_store(engine, digest, component) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot write the compiled-plugin cache");
        }
    }

    fn try_store(&self, engine: &Engine, digest: &str, component: &Component) -> std::io::Result<()> {
        let artifact = component.serialize().map_err(std::io::Error::other)?;
        create_private_dir(&self.dir)?;
        let path = self.path(engine, digest);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&crc32fast::hash(&artifact).to_le_bytes())?;
        f.write_all(&artifact)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}
