//! The conformance kit: data-driven cases (manifests and state in, expected decisions out) run
//! against any component of a policy world through the host runtime, so a plugin author — in
//! Rust, Python or JavaScript — can prove a plugin behaves before it is trusted on a router.
//!
//! The case format and the runner arrive with the allocator issue; this crate holds the place in
//! the workspace so that the layout is stable.
