//! Hot-swap latency with 10k services: from `ferrolb plugin load` reaching the daemon to the new
//! decisions computed (load + contract check, smoke cases, plan with the candidate and its
//! difference, atomic switch, re-plan), for a component already compiled (the plugin cache under
//! the state directory) and for a fresh one. The engines' part (the BGP speaker diffing its
//! Adj-RIB-Out) comes after and is not included; the lab test shows it sends only changed routes.
//!
//! `cargo bench -p ferrolb --bench swap`

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use ferrolb::daemon::{Daemon, Options};
use ferrolb::policy::{PluginSource, World};

const SERVICES: usize = 10_000;
const TRIALS: usize = 10;

fn manifests() -> String {
    let mut y = String::from(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: public, namespace: metallb-system}\n\
         spec: {addresses: [10.0.0.0/16]}\n---\n\
         apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: upstream, namespace: metallb-system}\n\
         spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.2}\n---\n\
         apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: public, namespace: metallb-system}\n\
         spec: {ipAddressPools: [public], communities: [64512:100]}\n---\n\
         apiVersion: v1\nkind: Node\nmetadata: {name: node-a}\nstatus:\n  addresses: [{type: InternalIP, address: 192.0.2.1}]\n  \
         conditions: [{type: Ready, status: \"True\"}]\n",
    );
    for i in 0..SERVICES {
        // Every tenth service opts out of BGP under the example policy.
        let label = if i % 10 == 0 { ", labels: {ferrolb.io/bgp-advertise: \"false\"}" } else { "" };
        let _ = write!(
            y,
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i:05}, namespace: ns-{}{label}}}\n\
             spec: {{type: LoadBalancer, ports: [{{port: 80, protocol: TCP}}]}}\n---\n\
             apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: svc-{i:05}-1, namespace: ns-{}, \
             labels: {{kubernetes.io/service-name: svc-{i:05}}}}}\naddressType: IPv4\n\
             endpoints: [{{addresses: [10.244.{}.{}], nodeName: node-a, conditions: {{ready: true}}}}]\n",
            i % 20,
            i % 20,
            (i >> 8) & 0xff,
            i & 0xff
        );
    }
    y
}

fn wasm(name: &str) -> PluginSource {
    PluginSource::Path(format!("{}/{name}.wasm", ferrolb::policy::builtin::PLUGIN_DIR).into())
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("cluster.yaml");
    std::fs::write(&file, manifests()).expect("write");
    let state = dir.path().join("state");
    let opts = Options {
        files: vec![file],
        node: "node-a".into(),
        state: state.clone(),
        socket: dir.path().join("admin.sock"),
        poll: Duration::from_secs(1),
        plugins: vec![],
        keep_routes: false,
        membership: Default::default(),
        metrics_address: None,
        trust: Default::default(),
        limits: None,
        neighbors: Default::default(),
    };
    let mut d = Daemon::new(opts).expect("daemon");
    let t = Instant::now();
    d.reconcile(true).expect("first plan").expect("a plan");
    println!("swap bench: {SERVICES} services, first plan {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let cache = state.join("plugin-cache");
    for (label, world, plugin, changes) in [
        ("allocator, identical component", World::Allocator, "ferrolb_allocator", false),
        ("advertise, opt-out policy (1k routes go)", World::Advertise, "example_advertise_opt_out", true),
    ] {
        for fresh in [true, false] {
            let mut swap = Vec::new();
            let mut decided = Vec::new();
            let (mut load, mut smoke, mut plan) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..TRIALS {
                if fresh {
                    let _ = std::fs::remove_dir_all(&cache);
                }
                let t = Instant::now();
                let report = d.load_plugin(world, &wasm(plugin), false, true).expect("load");
                let switched = t.elapsed();
                d.reconcile(true).expect("re-plan").expect("plan");
                decided.push(t.elapsed());
                swap.push(switched);
                load.push(Duration::from_secs_f64(report.load_ms / 1e3));
                smoke.push(Duration::from_secs_f64(report.smoke_ms / 1e3));
                plan.push(Duration::from_secs_f64(report.plan_ms / 1e3));
                assert_eq!(report.diff.routes_removed.len(), if changes { SERVICES / 10 } else { 0 });
                assert!(report.diff.moved.is_empty());
                d.rollback_plugin(world).expect("rollback");
                d.reconcile(true).expect("re-plan").expect("plan");
            }
            println!(
                "swap {label:<42} {:<11} decisions applied p50 {:>6.1} ms  p90 {:>6.1} ms  \
                 (switched {:>6.1}: load {:>6.1}, smoke {:>5.1}, plan {:>6.1})",
                if fresh { "fresh" } else { "precompiled" },
                pct(&mut decided, 0.5),
                pct(&mut decided, 0.9),
                pct(&mut swap, 0.5),
                pct(&mut load, 0.5),
                pct(&mut smoke, 0.5),
                pct(&mut plan, 0.5),
            );
        }
    }
}
