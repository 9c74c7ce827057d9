//! 100k routes into one table of a fresh network namespace: ferrolb-netlink (whole-state apply and
//! the incremental install path) beside `ip -batch` doing the same, in the same run; then the
//! re-apply of the unchanged state, which must send zero change requests.
//!
//! Run: `cargo bench -p ferrolb-netlink --bench routes` (root; `FERROLB_BENCH_ROUTES=N` to change N).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use ferrolb_netlink::{DesiredState, Netlink, Netns, NextHop, Route, RouteOrigin};

struct Ns(String);

impl Ns {
    fn new(tag: &str) -> Self {
        let name = format!("fnl-bench-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).stderr(std::process::Stdio::null()).status();
        sh(&["ip", "netns", "add", &name]);
        sh(&["ip", "-n", &name, "link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
        sh(&["ip", "-n", &name, "addr", "add", "192.0.2.1/24", "dev", "v0"]);
        sh(&["ip", "-n", &name, "link", "set", "v0", "up"]);
        sh(&["ip", "-n", &name, "link", "set", "v1", "up"]);
        Ns(name)
    }

    fn count(&self) -> usize {
        let out = Command::new("ip").args(["-n", &self.0, "route", "show", "table", "100"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).stderr(std::process::Stdio::null()).status();
    }
}

fn sh(args: &[&str]) {
    let st = Command::new(args[0]).args(&args[1..]).status().unwrap();
    assert!(st.success(), "{args:?}");
}

fn prefix(i: u32) -> String {
    format!("{}.{}.{}.0/24", 16 + (i >> 16), (i >> 8) & 255, i & 255)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a listing
    }
    let n: u32 = std::env::var("FERROLB_BENCH_ROUTES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let routes: Vec<Route> = (0..n)
        .map(|i| Route {
            dst: prefix(i).parse().unwrap(),
            table: 100,
            next_hop: NextHop::Gateway { address: "192.0.2.2".parse().unwrap(), interface: None },
            metric: 0,
        })
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    // ip -batch
    let ip_ns = Ns::new("ip");
    let mut batch = tempfile();
    for i in 0..n {
        writeln!(batch.1, "route add {} via 192.0.2.2 table 100", prefix(i)).unwrap();
    }
    batch.1.flush().unwrap();
    let t = Instant::now();
    sh(&["ip", "-n", &ip_ns.0, "-batch", &batch.0]);
    let ip_time = t.elapsed();
    assert_eq!(ip_ns.count(), n as usize);
    drop(ip_ns);
    let _ = std::fs::remove_file(&batch.0);

    // ferrolb-netlink, whole-state apply
    let ours_ns = Ns::new("apply");
    let (apply_time, reapply_time, reapply_requests, requests) = rt.block_on(async {
        let nl = Netlink::connect(Netns::named(&ours_ns.0)).await.unwrap();
        let desired = DesiredState { routes: routes.clone(), ..Default::default() };
        let t = Instant::now();
        let report = nl.apply(&desired).await.unwrap();
        let apply_time = t.elapsed();
        assert!(report.errors.is_empty(), "{:?}", &report.errors[..report.errors.len().min(3)]);
        let t = Instant::now();
        let again = nl.apply(&desired).await.unwrap();
        (apply_time, t.elapsed(), again.requests, report.requests)
    });
    assert_eq!(ours_ns.count(), n as usize);
    drop(ours_ns);

    // ferrolb-netlink, incremental install (the BGP daemon's path: no read of kernel state)
    let inc_ns = Ns::new("inc");
    let install_time = rt.block_on(async {
        let nl = Netlink::connect(Netns::named(&inc_ns.0)).await.unwrap();
        let t = Instant::now();
        let report = nl.install_routes(RouteOrigin::Bgp, &routes).await;
        let d = t.elapsed();
        assert!(report.errors.is_empty(), "{:?}", &report.errors[..report.errors.len().min(3)]);
        d
    });
    assert_eq!(inc_ns.count(), n as usize);
    drop(inc_ns);

    println!("routes: {n} into table 100 of a fresh namespace (IPv4 /24 via a gateway)");
    println!("ip -batch                          : {:9.1} ms", ms(ip_time));
    println!(
        "ferrolb apply (dump+diff+install)  : {:9.1} ms  ({:.2}x ip -batch, {requests} change requests)",
        ms(apply_time),
        apply_time.as_secs_f64() / ip_time.as_secs_f64()
    );
    println!(
        "ferrolb install_routes (no read)   : {:9.1} ms  ({:.2}x ip -batch)",
        ms(install_time),
        install_time.as_secs_f64() / ip_time.as_secs_f64()
    );
    println!("ferrolb re-apply unchanged         : {:9.1} ms  ({reapply_requests} change requests)", ms(reapply_time));
    assert_eq!(reapply_requests, 0, "re-applying an unchanged state must send no change request");
}

fn tempfile() -> (String, std::fs::File) {
    let path = std::env::temp_dir().join(format!("fnl-bench-{}.batch", std::process::id()));
    let f = std::fs::File::create(&path).unwrap();
    (path.to_string_lossy().into_owned(), f)
}
