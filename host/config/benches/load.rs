//! Load + validate benchmark: 10 000 IPAddressPools and 100 000 LoadBalancer Services (with
//! peers, advertisements, communities, nodes and EndpointSlices around them), generated in memory
//! as one multi-document YAML text, then read by `ferrolb_config::load` exactly as
//! `ferrolb check -f` reads a file. Target: at most 2 s.
//!
//! `cargo bench -p ferrolb-config --bench load`

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use ferrolb_config::{Source, load};
use std::fmt::Write;
use std::time::Duration;

/// The generated manifests.
fn manifests(pools: usize, services: usize) -> String {
    let mut s = String::with_capacity(services * 600 + pools * 400);
    for i in 0..pools {
        let (a, b) = (i / 256, i % 256);
        let _ = write!(
            s,
            "---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: pool-{i}\n  namespace: metallb-system\n  labels:\n    zone: zone-{}\nspec:\n  addresses:\n  - 10.{a}.{b}.0/24\n",
            i % 4
        );
        if i % 10 == 0 {
            let _ = writeln!(s, "  - fc00:{a:x}:{b:x}::1-fc00:{a:x}:{b:x}::ff");
        }
        if i % 3 == 0 {
            let _ = write!(s, "  autoAssign: false\n  avoidBuggyIPs: true\n");
        }
    }
    for p in 0..4 {
        let _ = write!(
            s,
            "---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata:\n  name: tor-{p}\n  namespace: metallb-system\nspec:\n  myASN: 64500\n  peerASN: 6450{}\n  peerAddress: 192.0.2.{}\n  holdTime: 90s\n  keepaliveTime: 30s\n  bfdProfile: fast\n",
            p + 1,
            p + 1
        );
    }
    s.push_str("---\napiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata:\n  name: fast\n  namespace: metallb-system\nspec:\n  receiveInterval: 50\n  transmitInterval: 50\n  detectMultiplier: 3\n");
    s.push_str("---\napiVersion: metallb.io/v1beta1\nkind: Community\nmetadata:\n  name: aliases\n  namespace: metallb-system\nspec:\n  communities:\n  - name: NO_ADVERTISE\n    value: \"65535:65282\"\n");
    for z in 0..4 {
        let _ = write!(
            s,
            "---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata:\n  name: adv-{z}\n  namespace: metallb-system\nspec:\n  ipAddressPoolSelectors:\n  - matchLabels:\n      zone: zone-{z}\n  peers: [tor-{z}]\n  communities: [NO_ADVERTISE, \"64500:{z}\"]\n  localPref: {}\n",
            100 + z
        );
    }
    s.push_str("---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n  name: l2\n  namespace: metallb-system\nspec:\n  ipAddressPools: [pool-1, pool-2]\n  interfaces: [eth0]\n");
    for n in 0..100 {
        let _ = write!(
            s,
            "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: worker-{n}\n  labels:\n    kubernetes.io/hostname: worker-{n}\n    rack: r{}\nstatus:\n  addresses:\n  - type: InternalIP\n    address: 192.168.{}.{}\n  conditions:\n  - type: Ready\n    status: \"True\"\n",
            n % 8,
            n / 200,
            n % 200 + 1
        );
    }
    for i in 0..services {
        let pool = i % pools;
        let (a, b) = (pool / 256, pool % 256);
        let _ = write!(
            s,
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  namespace: ns-{}\n  labels:\n    app: app-{}\n  annotations:\n    metallb.io/address-pool: pool-{pool}\nspec:\n  type: LoadBalancer\n  externalTrafficPolicy: {}\n  selector:\n    app: app-{}\n  ports:\n  - name: http\n    port: 80\n    protocol: TCP\n    targetPort: 8080\n  - name: https\n    port: 443\n    protocol: TCP\n    targetPort: 8443\n",
            i % 100,
            i % 1000,
            if i % 2 == 0 { "Cluster" } else { "Local" },
            i % 1000
        );
        if i % 10 == 0 {
            let _ = writeln!(s, "  loadBalancerIP: 10.{a}.{b}.{}", i / pools % 250 + 1);
        }
        if i % 4 == 0 {
            let _ = write!(s, "status:\n  loadBalancer:\n    ingress:\n    - ip: 10.{a}.{b}.{}\n", i / pools % 250 + 1);
        }
    }
    for i in (0..services).step_by(10) {
        let _ = write!(
            s,
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: svc-{i}-abcde\n  namespace: ns-{}\n  labels:\n    kubernetes.io/service-name: svc-{i}\naddressType: IPv4\nendpoints:\n- addresses: [10.244.{}.{}]\n  nodeName: worker-{}\n  conditions:\n    ready: true\n",
            i % 100,
            i / 250 % 250,
            i % 250,
            i % 100
        );
    }
    s
}

fn bench(c: &mut Criterion) {
    let text = manifests(10_000, 100_000);
    let source = [Source::Text { name: "bench.yaml".into(), text }];
    // The input must be valid: a benchmark of error paths would measure something else.
    let result = load(&source);
    assert!(!result.has_errors(), "{:?}", result.errors().take(5).collect::<Vec<_>>());
    let model = result.model.as_ref().map(|m| (m.pools.len(), m.services.len()));
    assert_eq!(model, Some((10_000, 100_000)));
    let mut group = c.benchmark_group("config");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("load_validate_10k_pools_100k_services", |b| b.iter(|| load(&source)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
