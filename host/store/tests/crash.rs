//! Crash safety: a writer process commits numbered transactions as fast as it can and prints
//! `ACK <n>` after each commit returns; the test kills it with SIGKILL at random instants (a
//! deterministic seed), reopens the store and checks that every acknowledged transaction is
//! there, whole, and that nothing else is (at most the one transaction that committed but was not
//! yet acknowledged when the signal hit).
//!
//! The writer is this test binary itself, re-executed with `FERROLB_STORE_WRITER_DIR` set, running
//! only the `writer_child` test. `FERROLB_CRASH_SEED` and `FERROLB_CRASH_KILLS` override the seed
//! (default 0x5eed) and the number of kills (default 50).

use ferrolb_store::{Allocation, Change, Store};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DIR_VAR: &str = "FERROLB_STORE_WRITER_DIR";

/// The allocation transaction `n` writes.
fn allocation(n: u64) -> Allocation {
    let b = n.to_be_bytes();
    Allocation {
        service: format!("ns-{}/svc-{n}", n % 13),
        ips: vec![IpAddr::V4(Ipv4Addr::new(10, b[5], b[6], b[7]))],
        pool: format!("pool-{}", n % 7),
    }
}

/// The configuration transaction `n` saves: its number, then a length and a pattern that depend
/// on it (up to ~20 KiB, so that commits span several pages), then a checksum.
fn config(n: u64) -> Vec<u8> {
    let len = usize::try_from((n * 7919) % 20_000).unwrap_or(0);
    let mut data = n.to_le_bytes().to_vec();
    data.extend((0..len).map(|i| u8::try_from((i as u64 * 31 + n) % 251).unwrap_or(0)));
    let sum: u64 = data.iter().map(|b| u64::from(*b)).sum();
    data.extend(sum.to_le_bytes());
    data
}

/// Not a test by itself: the writer process (does nothing unless started by the crash test).
#[test]
fn writer_child() {
    let Some(dir) = std::env::var_os(DIR_VAR) else { return };
    let store = Store::open(&dir).expect("writer opens the store");
    let mut n = store.last_good_config().expect("read generation").map_or(0, |c| c.generation);
    let stdout = std::io::stdout();
    loop {
        store.commit(&[Change::Put(allocation(n)), Change::SetConfig(config(n))]).expect("commit");
        let mut out = stdout.lock();
        writeln!(out, "ACK {n}").expect("stdout");
        out.flush().expect("stdout");
        n += 1;
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Check the store holds exactly the transactions `0..committed`, whole, with `committed` in
/// `bounds`; returns `committed`.
fn verify(store: &mut Store, bounds: (u64, u64)) -> u64 {
    assert!(store.check_integrity().expect("integrity check runs"), "redb integrity check failed");
    let committed = store.last_good_config().expect("config readable").map_or(0, |c| {
        let n = c.generation - 1;
        assert_eq!(c.data, config(n), "configuration {n} is whole");
        c.generation
    });
    assert!(
        committed >= bounds.0,
        "acknowledged transactions are lost: {committed} committed, {} acknowledged",
        bounds.0
    );
    assert!(committed <= bounds.1, "{committed} transactions found, at most {} could have committed", bounds.1);
    let mut expected: Vec<Allocation> = (0..committed).map(allocation).collect();
    expected.sort_by(|a, b| a.service.cmp(&b.service));
    let found = store.allocations().expect("allocations readable");
    assert_eq!(found.len(), expected.len(), "one allocation per committed transaction");
    assert!(found == expected, "allocations are exactly those of the committed transactions");
    committed
}

#[test]
fn sigkill_at_random_points_loses_nothing_committed() {
    let kills = env_u64("FERROLB_CRASH_KILLS", 50);
    let mut rng = Rng(env_u64("FERROLB_CRASH_SEED", 0x5eed) | 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary path");
    let started = Instant::now();
    let mut total_acked = 0u64;
    let mut committed = 0u64;

    for round in 0..kills {
        let mut child = Command::new(&exe)
            .args(["writer_child", "--exact", "--nocapture", "--test-threads=1", "--quiet"])
            .env(DIR_VAR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn writer");
        let stdout = child.stdout.take().expect("piped stdout");
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| l.strip_prefix("ACK ").and_then(|n| n.parse::<u64>().ok()))
                .collect::<Vec<u64>>()
        });
        // Between 0 and 60 ms: sometimes before the store is even open, mostly mid-stream.
        std::thread::sleep(Duration::from_micros(rng.next() % 60_000));
        child.kill().expect("SIGKILL the writer");
        let status = child.wait().expect("reap the writer");
        assert!(!status.success(), "round {round}: the writer was killed, not finished");
        let acks = reader.join().expect("reader thread");

        // The acknowledgements of a round continue the previous ones, without gaps.
        for (i, n) in acks.iter().enumerate() {
            assert_eq!(*n, committed + i as u64, "round {round}: acknowledgements are consecutive");
        }
        total_acked += acks.len() as u64;
        // Every acknowledged transaction is committed; at most one more (committed, then killed
        // before its acknowledgement was written).
        let acked = committed + acks.len() as u64;
        let mut store = Store::open(dir.path()).expect("the store reopens after SIGKILL");
        committed = verify(&mut store, (acked, acked + 1));
    }
    eprintln!(
        "{kills} SIGKILLs, {total_acked} acknowledged and {committed} committed transactions, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(total_acked >= kills, "the writer made progress (only {total_acked} transactions)");
}

/// A writer killed while the database file was being created leaves only the temporary file: the
/// store opens (empty) and the leftover is replaced, never mistaken for the store.
#[test]
fn a_kill_during_creation_leaves_an_openable_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(format!("{}.creating", ferrolb_store::FILE_NAME)), b"half a header")
        .expect("leftover");
    let store = ferrolb_store::Store::open(dir.path()).expect("opens despite the leftover");
    assert!(store.allocations().expect("read").is_empty());
    assert!(!dir.path().join(format!("{}.creating", ferrolb_store::FILE_NAME)).exists());
    drop(store);
    ferrolb_store::Store::open(dir.path()).expect("reopens");
}
