//! Running code inside a network namespace.
//!
//! Choice: a *scoped helper thread* enters the namespace with `setns(2)` (through `nix`, safe) and runs
//! a closure there. A netlink socket opened in that thread belongs to the namespace for its whole life,
//! wherever it is later polled, and a child process spawned from that thread (`nft`) starts in it,
//! because `fork` copies the calling thread's namespaces. The caller's threads never change namespace,
//! so a multi-threaded tokio runtime is unaffected, and no `unsafe` `pre_exec` hook is needed.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use nix::sched::{CloneFlags, setns};

/// Which network namespace to work in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Netns {
    /// The namespace of the calling process.
    #[default]
    Current,
    /// A namespace file: `/run/netns/NAME` (see [`Netns::named`]) or `/proc/PID/ns/net`.
    Path(PathBuf),
}

impl Netns {
    /// The namespace `ip netns add NAME` created (`/run/netns/NAME`).
    pub fn named(name: &str) -> Self {
        Netns::Path(Path::new("/run/netns").join(name))
    }

    /// Runs `f` with the calling code inside this namespace (in a helper thread for
    /// [`Netns::Path`]; directly for [`Netns::Current`]).
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        match self {
            Netns::Current => Ok(f()),
            Netns::Path(path) => {
                let file =
                    File::open(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
                std::thread::scope(|s| {
                    s.spawn(move || {
                        setns(&file, CloneFlags::CLONE_NEWNET)
                            .map_err(|e| io::Error::other(format!("setns {}: {e}", path.display())))?;
                        Ok(f())
                    })
                    .join()
                    .map_err(|_| io::Error::other("namespace helper thread panicked"))?
                })
            }
        }
    }
}

impl std::fmt::Display for Netns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Netns::Current => f.write_str("current namespace"),
            Netns::Path(p) => write!(f, "namespace {}", p.display()),
        }
    }
}
