//! Layer-2 failover time, measured in namespaces (root; run by hand):
//!
//! ```text
//! cargo bench -p ferrolb --bench l2_failover            # 30 trials
//! FERROLB_L2_TRIALS=100 cargo bench -p ferrolb --bench l2_failover
//! ```
//!
//! The lab of `tests/l2_lab.rs` (three nodes, each an `L2Service` + `MembershipService` on its own
//! thread in its own namespace, the real advertise policy; a client on the same bridge). Per trial:
//! the client pings the service address every 10 ms (`ping -D -i 0.01`, replies time-stamped by
//! the wall clock); the node owning it is powered off (its link set down, then its process killed
//! without a word); the failover time is from the moment the link is down (when `ip link set
//! down` returns) to the first echo reply after it, which only the successor can send. The client sends nothing but the
//! pings, so what moves its neighbour cache is the successor's gratuitous ARP. The dead node then
//! comes back and the cluster settles before the next trial.
//!
//! Defaults: heartbeats every 100 ms, dead after 3 missed, gratuitous ARP at once on takeover.
//! Expected: detection 200–300 ms after the death (the last heartbeat came 0–100 ms before it),
//! plus the election, plus ≤ 10 ms of ping spacing. Goal: median ≤ 300 ms, p99 ≤ 1 s.

#[path = "../tests/l2_lab.rs"]
mod l2_lab;

use std::io::Read as _;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use l2_lab::{Cluster, SVC_V4, all_live};

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Time stamps (`ping -D`) of the echo replies in `text`.
fn reply_times(text: &str) -> Vec<f64> {
    text.lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| l.strip_prefix('[').and_then(|r| r.split(']').next()).and_then(|t| t.parse().ok()))
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    if !ferrolb_lab::is_root() {
        eprintln!("l2_failover: needs root (network namespaces); skipped");
        return;
    }
    let trials: usize = std::env::var("FERROLB_L2_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let mut cluster = Cluster::start();
    let mut results_ms = Vec::new();
    let started = Instant::now();
    for trial in 0..trials {
        let owner = cluster.converged(&all_live());
        let file = tempfile::NamedTempFile::new().expect("temp file");
        let mut cmd = cluster.client.command("ping");
        cmd.args(["-D", "-n", "-i", "0.01", "-W", "1", SVC_V4])
            .stdout(file.reopen().expect("reopen"))
            .stderr(Stdio::null());
        let mut ping = cluster.client.spawn(cmd).expect("ping");
        // Steady state: replies flowing from the owner.
        let warm = Instant::now();
        while reply_times(&std::fs::read_to_string(file.path()).unwrap_or_default()).len() < 10 {
            assert!(warm.elapsed() < Duration::from_secs(5), "no echo replies before the kill");
            std::thread::sleep(Duration::from_millis(20));
        }
        // The death is the moment the link is down (when `ip` returns): replies to echoes sent
        // before it may still arrive while `ip` runs.
        cluster.node(&owner).ns.ip(&["link", "set", "eth0", "down"]).expect("link down");
        let t0 = unix_now();
        cluster.node(&owner).kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        let first = loop {
            let mut text = String::new();
            std::fs::File::open(file.path()).and_then(|mut f| f.read_to_string(&mut text)).expect("ping output");
            if let Some(t) = reply_times(&text).into_iter().find(|t| *t > t0) {
                break t;
            }
            assert!(Instant::now() < deadline, "trial {trial}: no reply within 10 s of the kill");
            std::thread::sleep(Duration::from_millis(5));
        };
        ping.kill().expect("stop ping");
        let ms = (first - t0) * 1000.0;
        eprintln!("trial {trial:>3}: {owner} killed, first reply after {ms:7.1} ms");
        results_ms.push(ms);
        // The dead node comes back for the next trial.
        cluster.node(&owner).ns.ip(&["link", "set", "eth0", "up"]).expect("link up");
        cluster.node(&owner).start();
    }
    results_ms.sort_by(f64::total_cmp);
    let n = results_ms.len();
    if n == 0 {
        return;
    }
    println!(
        "l2 failover (death of the announcing node -> first echo reply from its successor), {n} trials in {:.0?}:\n  \
         min {:.1} ms, median {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        started.elapsed(),
        results_ms[0],
        percentile(&results_ms, 50.0),
        percentile(&results_ms, 90.0),
        percentile(&results_ms, 99.0),
        results_ms[n - 1],
    );
}
