//! ferrolb's persistent state: the addresses allocated to services and the last good
//! configuration, in one crash-safe embedded database (`redb`) under `--state DIR`.
//!
//! Every change is one transaction: a process killed at any instant leaves the database as it was
//! after the last committed transaction (redb's copy-on-write B-trees, checksummed, with 2-phase
//! commit and quick repair enabled here), and [`Store::commit`] returns only once the transaction
//! is durable (`fsync`ed). `tests/crash.rs` kills a writer with SIGKILL at random instants to
//! prove it.
//!
//! ```
//! use ferrolb_store::{Allocation, Change, Store};
//!
//! let dir = tempfile::tempdir().expect("temporary directory");
//! let store = Store::open(dir.path()).expect("open");
//! let a = Allocation { service: "shop/web".into(), ips: vec!["192.168.10.5".parse().expect("ip")], pool: "gold".into() };
//! let generation = store.commit(&[Change::Put(a.clone()), Change::SetConfig(b"{...}".to_vec())]).expect("commit");
//! assert_eq!(generation, Some(1));
//! assert_eq!(store.allocation("shop/web").expect("read"), Some(a));
//! ```

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The database file inside the state directory.
pub const FILE_NAME: &str = "ferrolb.redb";

/// The layout version of the database; a store written by another version is refused.
pub const SCHEMA_VERSION: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const ALLOCATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("allocations");
const CONFIG: TableDefinition<&str, &[u8]> = TableDefinition::new("config");

const SCHEMA_KEY: &str = "schema";
const GENERATION_KEY: &str = "config-generation";
const LAST_GOOD_KEY: &str = "last-good";

/// What can go wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The state directory cannot be created or used.
    #[error("state directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The database reported an error (I/O, corruption it detected, another process holding it).
    #[error("state database: {0}")]
    Db(#[source] Box<redb::Error>),
    /// The database was written by another version of ferrolb.
    #[error("state database has schema version {found}, this ferrolb uses {SCHEMA_VERSION}")]
    Schema {
        /// The version found.
        found: u64,
    },
    /// A record could not be decoded.
    #[error("state database: record {key:?} is not readable: {reason}")]
    Corrupt {
        /// The key of the record.
        key: String,
        /// Why.
        reason: String,
    },
    /// A service key is not `namespace/name`.
    #[error("invalid service key {0:?}: expected namespace/name")]
    InvalidKey(String),
}

fn db<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Db(Box::new(e.into()))
}

/// The addresses granted to one service (the WIT `allocation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// The service, `namespace/name`.
    pub service: String,
    /// The addresses, primary family first.
    pub ips: Vec<IpAddr>,
    /// The pool they came from.
    pub pool: String,
}

/// The stored form of an allocation (the key holds the service).
#[derive(Serialize, Deserialize)]
struct AllocationRecord {
    ips: Vec<IpAddr>,
    pool: String,
}

/// The last configuration that passed validation and merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConfig {
    /// Incremented by every [`Change::SetConfig`], starting at 1.
    pub generation: u64,
    /// The serialised configuration (the caller chooses the format).
    pub data: Vec<u8>,
}

/// One change of a [`Store::commit`] transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Create or replace the allocation of a service.
    Put(Allocation),
    /// Remove the allocation of a service (`namespace/name`), if any.
    Remove(String),
    /// Replace the last good configuration (its generation becomes the previous one plus 1).
    SetConfig(Vec<u8>),
}

/// The state store.
#[derive(Debug)]
pub struct Store {
    db: Database,
    path: PathBuf,
}

fn check_key(service: &str) -> Result<(), StoreError> {
    match service.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => Ok(()),
        _ => Err(StoreError::InvalidKey(service.to_string())),
    }
}

fn decode(key: &str, bytes: &[u8]) -> Result<Allocation, StoreError> {
    let r: AllocationRecord = serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt { key: key.to_string(), reason: e.to_string() })?;
    Ok(Allocation { service: key.to_string(), ips: r.ips, pool: r.pool })
}

impl Store {
    /// Open (or create) the store in `dir`, creating the directory if needed. A database left by a
    /// killed process is recovered to its last committed transaction.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store, StoreError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir { path: dir.to_path_buf(), source })?;
        let path = dir.join(FILE_NAME);
        if !path.exists() {
            Self::create_atomically(dir, &path)?;
        }
        let db = Database::create(&path).map_err(db)?;
        let store = Store { db, path };
        store.init()?;
        Ok(store)
    }

    /// Create and initialise a new database under a temporary name, then rename it into place: a
    /// process killed while redb writes a new file's header would otherwise leave a file that is
    /// not a database, and the store could never be opened again. The final name only ever holds
    /// a complete, initialised database. A temporary file left by such a crash held nothing
    /// committed and is replaced.
    fn create_atomically(dir: &Path, path: &Path) -> Result<(), StoreError> {
        let tmp = dir.join(format!("{FILE_NAME}.creating"));
        let io = |source| StoreError::Dir { path: dir.to_path_buf(), source };
        match std::fs::remove_file(&tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            _ => {}
        }
        {
            let db = Database::create(&tmp).map_err(db)?;
            Store { db, path: tmp.clone() }.init()?;
        }
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)
    }

    /// Create the tables and the schema version, or check the version.
    fn init(&self) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(db)?;
        txn.set_quick_repair(true);
        let found = {
            let mut meta = txn.open_table(META).map_err(db)?;
            let found = meta.get(SCHEMA_KEY).map_err(db)?.map(|v| v.value());
            if found.is_none() {
                meta.insert(SCHEMA_KEY, SCHEMA_VERSION).map_err(db)?;
            }
            txn.open_table(ALLOCATIONS).map_err(db)?;
            txn.open_table(CONFIG).map_err(db)?;
            found
        };
        match found {
            Some(v) if v != SCHEMA_VERSION => {
                txn.abort().map_err(db)?;
                Err(StoreError::Schema { found: v })
            }
            Some(_) => txn.abort().map_err(db),
            None => txn.commit().map_err(db),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Apply `changes` in one transaction, durable when this returns. Returns the new
    /// configuration generation if the changes set one.
    pub fn commit(&self, changes: &[Change]) -> Result<Option<u64>, StoreError> {
        for c in changes {
            match c {
                Change::Put(a) => check_key(&a.service)?,
                Change::Remove(s) => check_key(s)?,
                Change::SetConfig(_) => {}
            }
        }
        let mut txn = self.db.begin_write().map_err(db)?;
        txn.set_quick_repair(true);
        let mut generation = None;
        {
            let mut allocations = txn.open_table(ALLOCATIONS).map_err(db)?;
            let mut config = txn.open_table(CONFIG).map_err(db)?;
            let mut meta = txn.open_table(META).map_err(db)?;
            for c in changes {
                match c {
                    Change::Put(a) => {
                        let record = AllocationRecord { ips: a.ips.clone(), pool: a.pool.clone() };
                        let bytes = serde_json::to_vec(&record)
                            .map_err(|e| StoreError::Corrupt { key: a.service.clone(), reason: e.to_string() })?;
                        allocations.insert(a.service.as_str(), bytes.as_slice()).map_err(db)?;
                    }
                    Change::Remove(s) => {
                        allocations.remove(s.as_str()).map_err(db)?;
                    }
                    Change::SetConfig(data) => {
                        let current = meta.get(GENERATION_KEY).map_err(db)?.map_or(0, |v| v.value());
                        let next = current + 1;
                        meta.insert(GENERATION_KEY, next).map_err(db)?;
                        config.insert(LAST_GOOD_KEY, data.as_slice()).map_err(db)?;
                        generation = Some(next);
                    }
                }
            }
        }
        txn.commit().map_err(db)?;
        Ok(generation)
    }

    /// Create or replace the allocation of a service.
    pub fn put_allocation(&self, a: &Allocation) -> Result<(), StoreError> {
        self.commit(&[Change::Put(a.clone())]).map(|_| ())
    }

    /// Remove the allocation of a service; whether there was one.
    pub fn remove_allocation(&self, service: &str) -> Result<bool, StoreError> {
        let existed = self.allocation(service)?.is_some();
        self.commit(&[Change::Remove(service.to_string())])?;
        Ok(existed)
    }

    /// Replace every allocation by `all`, in one transaction.
    pub fn replace_allocations(&self, all: &[Allocation]) -> Result<(), StoreError> {
        let mut changes: Vec<Change> = self
            .allocations()?
            .into_iter()
            .filter(|old| !all.iter().any(|a| a.service == old.service))
            .map(|old| Change::Remove(old.service))
            .collect();
        changes.extend(all.iter().cloned().map(Change::Put));
        self.commit(&changes).map(|_| ())
    }

    /// Save the last good configuration; returns its generation.
    pub fn save_good_config(&self, data: &[u8]) -> Result<u64, StoreError> {
        self.commit(&[Change::SetConfig(data.to_vec())]).map(|g| g.unwrap_or_default())
    }

    /// The allocation of one service (`namespace/name`).
    pub fn allocation(&self, service: &str) -> Result<Option<Allocation>, StoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let table = txn.open_table(ALLOCATIONS).map_err(db)?;
        let value = table.get(service).map_err(db)?;
        value.map(|v| decode(service, v.value())).transpose()
    }

    /// Every allocation, sorted by service.
    pub fn allocations(&self) -> Result<Vec<Allocation>, StoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let table = txn.open_table(ALLOCATIONS).map_err(db)?;
        let mut out = Vec::with_capacity(usize::try_from(table.len().map_err(db)?).unwrap_or(0));
        for entry in table.iter().map_err(db)? {
            let (k, v) = entry.map_err(db)?;
            out.push(decode(k.value(), v.value())?);
        }
        Ok(out)
    }

    /// The last good configuration, if one was saved.
    pub fn last_good_config(&self) -> Result<Option<StoredConfig>, StoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let meta = txn.open_table(META).map_err(db)?;
        let config = txn.open_table(CONFIG).map_err(db)?;
        let generation = meta.get(GENERATION_KEY).map_err(db)?.map(|v| v.value());
        let data = config.get(LAST_GOOD_KEY).map_err(db)?.map(|v| v.value().to_vec());
        match (generation, data) {
            (Some(generation), Some(data)) => Ok(Some(StoredConfig { generation, data })),
            (None, None) => Ok(None),
            _ => Err(StoreError::Corrupt {
                key: LAST_GOOD_KEY.to_string(),
                reason: "configuration and generation out of step".to_string(),
            }),
        }
    }

    /// Walk the whole database verifying its checksums (slow on large stores; for tests and
    /// `ferrolb doctor`-style tools).
    pub fn check_integrity(&mut self) -> Result<bool, StoreError> {
        self.db.check_integrity().map_err(db)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(service: &str, ip: &str, pool: &str) -> Allocation {
        Allocation { service: service.into(), ips: vec![ip.parse().expect("ip")], pool: pool.into() }
    }

    #[test]
    fn allocations_round_trip_and_persist() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path()).expect("open");
            store.put_allocation(&alloc("shop/web", "192.168.10.5", "gold")).expect("put");
            store.put_allocation(&alloc("shop/api", "fc00::5", "gold-v6")).expect("put");
            assert!(store.remove_allocation("shop/api").expect("remove"));
            assert!(!store.remove_allocation("shop/api").expect("remove again"));
            assert_eq!(store.save_good_config(b"one").expect("save"), 1);
            assert_eq!(store.save_good_config(b"two").expect("save"), 2);
        }
        let store = Store::open(dir.path()).expect("reopen");
        assert_eq!(store.allocations().expect("list"), vec![alloc("shop/web", "192.168.10.5", "gold")]);
        assert_eq!(
            store.last_good_config().expect("config"),
            Some(StoredConfig { generation: 2, data: b"two".to_vec() })
        );
    }

    #[test]
    fn replace_is_one_transaction() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        store.put_allocation(&alloc("a/x", "10.0.0.1", "p")).expect("put");
        store.put_allocation(&alloc("a/y", "10.0.0.2", "p")).expect("put");
        store.replace_allocations(&[alloc("a/y", "10.0.0.3", "q"), alloc("b/z", "10.0.0.4", "q")]).expect("replace");
        assert_eq!(
            store.allocations().expect("list"),
            vec![alloc("a/y", "10.0.0.3", "q"), alloc("b/z", "10.0.0.4", "q")]
        );
        assert_eq!(store.last_good_config().expect("config"), None);
    }

    #[test]
    fn bad_keys_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        for key in ["web", "/web", "shop/", "a/b/c"] {
            assert!(matches!(store.put_allocation(&alloc(key, "10.0.0.1", "p")), Err(StoreError::InvalidKey(_))));
        }
    }

    #[test]
    fn another_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path()).expect("open");
            let txn = store.db.begin_write().expect("txn");
            txn.open_table(META).expect("meta").insert(SCHEMA_KEY, 99).expect("insert");
            txn.commit().expect("commit");
        }
        assert!(matches!(Store::open(dir.path()), Err(StoreError::Schema { found: 99 })));
    }
}
