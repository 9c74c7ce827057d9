//! Configuration: manifests loaded, validated, explained (being written).
