//! Crash-safe persistent state (being written).
