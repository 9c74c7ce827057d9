//! BFD measurements, run by hand as root (`cargo bench -p ferrolb --bench bfd [-- WHAT...]`):
//!
//! - `latency`: detection latency of the daemon's driver at 50 ms × 3 and 10 ms × 3, against
//!   FRR's bfdd and against another ferrolb driver, over `--trials N` (default 50) trials. Each
//!   trial: session Up at the configured timers, traffic silently dropped with nftables (input
//!   and output on the link, in our namespace) after a random phase, time until our Down event.
//!   Reported from the drop (nft started) and from the last packet received (what the RFC's
//!   detection time measures: theoretical value = multiplier × interval).
//! - `cpu`: two drivers in two namespaces with 1,000 sessions between 32 + 32 addresses on a
//!   veth pair at 50 ms × 3; CPU time of each driver thread (it runs everything: a
//!   current-thread runtime) over 10 s, from `/proc/self/task/<tid>/schedstat`, as % of one core.
//!
//! Each driver runs on a thread that entered its namespace (`setns`), so all its sockets live
//! there.
#![allow(clippy::unwrap_used, missing_docs)]

use std::net::IpAddr;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use ferrolb::bfd::{BfdEvent, BfdHandle, BfdOptions, BfdProfile, BfdService, HopMode, PeerKey, PeerStatus, Profile};
use ferrolb_lab::frr::{Daemon, Frr};
use ferrolb_lab::{Netns, is_root};
use tokio::sync::mpsc::UnboundedReceiver;

struct Ferro {
    handle: Option<BfdHandle>,
    events: UnboundedReceiver<BfdEvent>,
    rt: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    tid: String,
}

impl Ferro {
    fn start(ns: &Netns, seed: u64) -> Ferro {
        let path = format!("/run/netns/{}", ns.name());
        let (tx, rx) = std_mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let f = std::fs::File::open(&path).expect("namespace file");
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let me = std::fs::read_link("/proc/thread-self").expect("thread-self");
            let tid = me.file_name().expect("tid").to_string_lossy().into_owned();
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let started = BfdService::start(BfdOptions { seed: Some(seed), echo: false, ..Default::default() });
                let ok = started.is_ok();
                tx.send(started.map(|s| (s, tid)).map_err(|e| e.to_string())).expect("report");
                if ok {
                    let _ = stopped.await;
                }
            });
        });
        let ((handle, events), tid) = rx.recv().expect("driver thread").expect("start");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        Ferro { handle: Some(handle), events, rt, stop: Some(stop), thread: Some(thread), tid }
    }

    fn h(&self) -> &BfdHandle {
        self.handle.as_ref().expect("running")
    }

    fn peers(&self) -> Vec<PeerStatus> {
        self.rt.block_on(self.h().peers()).expect("peers")
    }

    fn wait_event(&mut self, timeout: Duration, want: impl Fn(&BfdEvent) -> bool) -> Option<BfdEvent> {
        let end = Instant::now() + timeout;
        loop {
            let left = end.checked_duration_since(Instant::now())?;
            let ev = &mut self.events;
            match self.rt.block_on(async { tokio::time::timeout(left, ev.recv()).await.ok().flatten() }) {
                Some(e) if want(&e) => return Some(e),
                Some(_) => {}
                None => return None,
            }
        }
    }

    fn drain_events(&mut self) {
        while self.events.try_recv().is_ok() {}
    }

    /// CPU time of the driver thread (ns).
    fn cpu_ns(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/self/task/{}/schedstat", self.tid)).unwrap_or_default();
        s.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0)
    }
}

impl Drop for Ferro {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = self.rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), h.shutdown()).await });
        }
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn profile(ms: u32, mult: u32) -> Profile {
    BfdProfile {
        receive_interval: Some(ms),
        transmit_interval: Some(ms),
        detect_multiplier: Some(mult),
        ..Default::default()
    }
    .resolve()
    .expect("profile")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

const DROP: &str = "table inet bfdcut {\n chain in { type filter hook input priority -300; iifname \"eth0\" drop; }\n \
                    chain out { type filter hook output priority -300; oifname \"eth0\" drop; }\n}";

/// A small xorshift for the random phase (no dependency needed).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(name: &str, v: &mut [f64]) -> String {
    v.sort_by(f64::total_cmp);
    format!(
        "{name}: n={} min {:.1} median {:.1} p99 {:.1} max {:.1} ms",
        v.len(),
        pct(v, 0.0),
        pct(v, 0.5),
        pct(v, 0.99),
        pct(v, 1.0)
    )
}

/// Runs `trials` drop/detect/recover cycles of the session `key` on `f` (in `ours`).
fn trials(f: &mut Ferro, ours: &Netns, ms: u32, mult: u32, trials: usize, label: &str) {
    let nominal = Duration::from_millis(u64::from(ms));
    let detect = nominal * mult;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(ms));
    let (mut from_drop, mut from_last, mut nft_ms) = (Vec::new(), Vec::new(), Vec::new());
    let mut failures = 0;
    for t in 0..trials {
        // Up and settled at the fast timers (after each recovery the session restarts slow).
        let settled = Instant::now();
        loop {
            let ps = f.peers();
            if ps.first().is_some_and(|p| {
                p.state == ferrolb_bfd::wire::State::Up
                    && p.transmit_interval == nominal
                    && p.detection_time == Some(detect)
            }) {
                break;
            }
            if settled.elapsed() > Duration::from_secs(20) {
                panic!("{label}: trial {t}: session not settled: {ps:#?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200 + rng.below(u64::from(ms))));
        f.drain_events();
        let cut = Instant::now();
        ours.nft(DROP).expect("drop");
        nft_ms.push(cut.elapsed().as_secs_f64() * 1e3);
        match f.wait_event(Duration::from_secs(3), |e| matches!(e, BfdEvent::Down { .. })) {
            Some(BfdEvent::Down { at, silent_for, .. }) => {
                from_drop.push(at.duration_since(cut).as_secs_f64() * 1e3);
                if let Some(s) = silent_for {
                    from_last.push(s.as_secs_f64() * 1e3);
                }
            }
            _ => failures += 1,
        }
        ours.nft("delete table inet bfdcut").expect("undrop");
        if f.wait_event(Duration::from_secs(15), |e| matches!(e, BfdEvent::Up { .. })).is_none() {
            panic!("{label}: trial {t}: no Up after the drop was lifted");
        }
    }
    println!("{label} ({ms} ms x {mult}, theoretical detection {} ms):", detect.as_millis());
    println!("  {}", summary("from the drop      ", &mut from_drop));
    println!("  {}", summary("from the last packet", &mut from_last));
    println!("  {}", summary("nft -f duration     ", &mut nft_ms));
    if failures > 0 {
        println!("  {failures} trials without a Down event within 3 s");
    }
}

fn latency_vs_frr(ms: u32, mult: u32, n: usize) {
    let theirs = Netns::new("bfrr").expect("ns");
    let ours = Netns::new("bflb").expect("ns");
    theirs.veth("eth0", &ours, "eth0").expect("veth");
    theirs.add_addr("eth0", "10.0.90.1/24").expect("addr");
    ours.add_addr("eth0", "10.0.90.2/24").expect("addr");
    let conf = format!(
        "bfd\n peer 10.0.90.2 local-address 10.0.90.1\n  receive-interval {ms}\n  transmit-interval {ms}\n  \
         detect-multiplier {mult}\n exit\nexit\n"
    );
    let _frr = Frr::start(&theirs, &[Daemon::Zebra, Daemon::Bfdd], &conf).expect("FRR");
    let mut f = Ferro::start(&ours, 11);
    let key =
        PeerKey { peer: ip("10.0.90.1"), local: ip("10.0.90.2"), interface: None, vrf: None, hop: HopMode::SingleHop };
    f.rt.block_on(f.h().add_peer(key, profile(ms, mult))).expect("add");
    trials(&mut f, &ours, ms, mult, n, "ferrolb vs FRR bfdd");
}

fn latency_vs_ferrolb(ms: u32, mult: u32, n: usize) {
    let theirs = Netns::new("bflb").expect("ns");
    let ours = Netns::new("bflb").expect("ns");
    theirs.veth("eth0", &ours, "eth0").expect("veth");
    theirs.add_addr("eth0", "10.0.91.1/24").expect("addr");
    ours.add_addr("eth0", "10.0.91.2/24").expect("addr");
    let other = Ferro::start(&theirs, 12);
    let mut f = Ferro::start(&ours, 13);
    let k =
        |p: &str, l: &str| PeerKey { peer: ip(p), local: ip(l), interface: None, vrf: None, hop: HopMode::SingleHop };
    other.rt.block_on(other.h().add_peer(k("10.0.91.2", "10.0.91.1"), profile(ms, mult))).expect("add");
    f.rt.block_on(f.h().add_peer(k("10.0.91.1", "10.0.91.2"), profile(ms, mult))).expect("add");
    trials(&mut f, &ours, ms, mult, n, "ferrolb vs ferrolb");
    drop(other);
}

fn cpu_1000() {
    const N: usize = 1000;
    const ADDRS: usize = 32;
    let a_ns = Netns::new("cpua").expect("ns");
    let b_ns = Netns::new("cpub").expect("ns");
    a_ns.veth("eth0", &b_ns, "eth0").expect("veth");
    let a_addr = |i: usize| format!("10.3.0.{}", i + 1);
    let b_addr = |i: usize| format!("10.3.1.{}", i + 1);
    for i in 0..ADDRS {
        a_ns.add_addr("eth0", &format!("{}/16", a_addr(i))).expect("addr");
        b_ns.add_addr("eth0", &format!("{}/16", b_addr(i))).expect("addr");
    }
    let a = Ferro::start(&a_ns, 21);
    let b = Ferro::start(&b_ns, 22);
    let p = profile(50, 3);
    let added = Instant::now();
    for n in 0..N {
        let (i, j) = (n / ADDRS, n % ADDRS);
        let ka = PeerKey {
            peer: ip(&b_addr(j)),
            local: ip(&a_addr(i)),
            interface: None,
            vrf: None,
            hop: HopMode::SingleHop,
        };
        let kb = PeerKey {
            peer: ip(&a_addr(i)),
            local: ip(&b_addr(j)),
            interface: None,
            vrf: None,
            hop: HopMode::SingleHop,
        };
        a.rt.block_on(a.h().add_peer(ka, p.clone())).expect("add a");
        b.rt.block_on(b.h().add_peer(kb, p.clone())).expect("add b");
    }
    let fast = Duration::from_millis(50);
    loop {
        let pa = a.peers();
        let up = pa.iter().filter(|s| s.state == ferrolb_bfd::wire::State::Up && s.transmit_interval == fast).count();
        if up == N {
            break;
        }
        if added.elapsed() > Duration::from_secs(60) {
            panic!("only {up} of {N} sessions Up at 50 ms after 60 s");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    println!("cpu: {N} sessions Up at 50 ms x 3 after {:?}", added.elapsed());
    std::thread::sleep(Duration::from_secs(2));
    let ca0 = a.rt.block_on(a.h().counters()).expect("counters");
    let (ta0, tb0) = (a.cpu_ns(), b.cpu_ns());
    let proc0 = proc_cpu_ticks();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let (ta1, tb1) = (a.cpu_ns(), b.cpu_ns());
    let proc1 = proc_cpu_ticks();
    let wall = t0.elapsed().as_secs_f64();
    let ca1 = a.rt.block_on(a.h().counters()).expect("counters");
    let pct = |d: u64| d as f64 / 1e9 / wall * 100.0;
    println!("cpu: driver A thread {:.2} % of one core, driver B thread {:.2} %", pct(ta1 - ta0), pct(tb1 - tb0));
    println!(
        "cpu: whole bench process (both drivers + this thread) {:.2} % (utime+stime ticks at 100 Hz)",
        (proc1 - proc0) as f64 / 100.0 / wall * 100.0
    );
    println!(
        "cpu: A sent {:.0} and received {:.0} control packets/s; down events during the window: {}",
        (ca1.bfd.control_out - ca0.bfd.control_out) as f64 / wall,
        (ca1.bfd.control_in - ca0.bfd.control_in) as f64 / wall,
        ca1.bfd.down_events - ca0.bfd.down_events
    );
}

fn proc_cpu_ticks() -> u64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces): utime is field 14, stime 15.
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if !is_root() {
        eprintln!("bfd bench: needs root (namespaces, FRR, nftables); skipped");
        return;
    }
    let mut n = 50;
    let mut what: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--trials" {
            n = it.next().and_then(|v| v.parse().ok()).unwrap_or(n);
        } else {
            what.push(a.clone());
        }
    }
    let all = what.is_empty();
    let want = |w: &str| all || what.iter().any(|x| x == w);
    if want("latency") || want("latency-frr") {
        latency_vs_frr(50, 3, n);
        latency_vs_frr(10, 3, n);
    }
    if want("latency") || want("latency-ferrolb") {
        latency_vs_ferrolb(50, 3, n);
        latency_vs_ferrolb(10, 3, n);
    }
    if want("cpu") {
        cpu_1000();
    }
}
