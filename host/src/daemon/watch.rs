//! Notices when the manifest files change: a fingerprint (path, length, modification time, and
//! a hash of the content) of every file the `-f` arguments name, directories expanded the way
//! the configuration loader reads them. Polling keeps it simple and robust: editors that
//! replace a file by renaming, ConfigMaps that swap a symlink, and files on any file system all
//! show up as a changed fingerprint.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

/// The fingerprint of a set of manifest paths.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint(Vec<(PathBuf, u64)>);

/// Reads the files' fingerprint. Unreadable paths count as a distinct state (so they are
/// noticed when they come back), never as an error here: the loader reports them.
pub fn fingerprint(paths: &[PathBuf]) -> Fingerprint {
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            continue;
        }
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map(|d| {
                    d.filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|f| matches!(f.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")))
                        .collect()
                })
                .unwrap_or_default();
            files.sort();
            out.push((p.clone(), files.len() as u64));
            for f in files {
                out.push((f.clone(), file_hash(&f)));
            }
        } else {
            out.push((p.clone(), file_hash(p)));
        }
    }
    Fingerprint(out)
}

fn file_hash(p: &Path) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match std::fs::read(p) {
        Ok(bytes) => bytes.hash(&mut h),
        Err(e) => e.kind().to_string().hash(&mut h),
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_added_or_removed_file_changes_the_fingerprint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.yaml");
        std::fs::write(&a, "x: 1\n").expect("write");
        let paths = vec![dir.path().to_path_buf()];
        let first = fingerprint(&paths);
        assert_eq!(first, fingerprint(&paths), "stable while nothing changes");
        std::fs::write(&a, "x: 2\n").expect("write");
        let second = fingerprint(&paths);
        assert_ne!(first, second, "content change");
        std::fs::write(dir.path().join("b.yml"), "y: 1\n").expect("write");
        let third = fingerprint(&paths);
        assert_ne!(second, third, "file added");
        std::fs::write(dir.path().join("notes.txt"), "ignored").expect("write");
        assert_eq!(third, fingerprint(&paths), "files the loader ignores are ignored");
        std::fs::remove_file(&a).expect("rm");
        assert_ne!(third, fingerprint(&paths), "file removed");
        let missing = vec![dir.path().join("nope.yaml")];
        assert_eq!(fingerprint(&missing), fingerprint(&missing));
    }
}
