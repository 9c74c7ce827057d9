//! The default plugins, embedded in the binary at build time (see `host/build.rs`), so that
//! `ferrolb` works with no plugin files at all.

use super::World;

static ALLOCATOR: &[u8] = include_bytes!(concat!(env!("FERROLB_PLUGIN_DIR"), "/ferrolb_allocator.wasm"));
static ADVERTISE: &[u8] = include_bytes!(concat!(env!("FERROLB_PLUGIN_DIR"), "/ferrolb_advertise.wasm"));
static MERGE: &[u8] = include_bytes!(concat!(env!("FERROLB_PLUGIN_DIR"), "/ferrolb_merge.wasm"));
static EGRESS: &[u8] = include_bytes!(concat!(env!("FERROLB_PLUGIN_DIR"), "/ferrolb_egress.wasm"));

/// The bytes of the default plugin of a world.
pub fn bytes(world: World) -> &'static [u8] {
    match world {
        World::Allocator => ALLOCATOR,
        World::Advertise => ADVERTISE,
        World::Merge => MERGE,
        World::Egress => EGRESS,
    }
}

/// Where the build put the plugin components (the default plugins and, after `cargo xtask test`
/// or a test build, the hostile corpus).
pub const PLUGIN_DIR: &str = env!("FERROLB_PLUGIN_DIR");
