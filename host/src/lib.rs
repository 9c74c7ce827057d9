//! ferrolb: a router host for bare-metal Kubernetes whose policies are sandboxed WebAssembly
//! components.
//!
//! - [`config`]: manifests → validated model (crate `ferrolb-config`).
//! - [`store`]: crash-safe persistent state (crate `ferrolb-store`).
//! - [`policy`]: the wasmtime runtime that hosts the policy plugins, and the registry that swaps them.
//! - [`controller`]: model + policies → decisions (`ferrolb plan`).
//! - [`cli`]: the `ferrolb` command line.

pub use ferrolb_config as config;
pub use ferrolb_store as store;
pub use ferrolb_trust as trust;

pub mod bfd;
pub mod bgp;
pub mod cli;
pub mod controller;
pub mod daemon;
pub mod kit;
pub mod l2;
pub mod logging;
pub mod policy;
