//! Policy benchmarks at cluster scale, through the host runtime and natively side by side.
//!
//! Run: `cargo bench -p ferrolb --bench policies` (figures go to BENCHMARKS.md).
//!
//! allocator: 100,000 LoadBalancer services over 20 pools (10 IPv4, 10 IPv6; 80 % IPv4
//! single-stack, 10 % IPv6, 10 % PreferDualStack; every seventh service names a pool; two in five
//! share an address with a partner under `allow-shared-ip`), assigned one by one through the
//! default allocator component, then the same assignments with `ferrolb-allocator-core` called
//! natively. Reports the total, and p50 / p99 / max per assign.
//!
//! advertise: 100,000 allocated addresses × 10 BGPAdvertisements × 8 peers through the default
//! advertise component, in two shapes (each advertisement on its own pool: 8 routes per service;
//! every advertisement on every address with its own aggregation length: 80 routes per service).
//! The per-call figures are the incremental cost (one service added or changed).
//!
//! merge: 1,000 FRRConfigurations × 100 neighbors merged for one node through the default merge
//! component (the same 100 neighbors everywhere, then 100,000 distinct ones).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrolb::policy::allocator::exports::ferrolb::policy::allocator_policy as alloc;
use ferrolb::policy::convert::ip_to_wit;
use ferrolb::policy::types as wit;
use ferrolb::policy::{AllocatorInstance, PluginSource, Runtime, RuntimeConfig, World};
use ferrolb_allocator_core as core_alloc;

const SERVICES: usize = 100_000;
const POOLS: usize = 20;

/// One pool of the workload: (name, network address, prefix length).
fn pools() -> Vec<(String, IpAddr, u8)> {
    (0..POOLS)
        .map(|i| {
            if i < POOLS / 2 {
                (format!("pool-v4-{i:02}"), IpAddr::V4(Ipv4Addr::new(10, i as u8, 0, 0)), 16)
            } else {
                (format!("pool-v6-{i:02}"), IpAddr::V6(Ipv6Addr::new(0xfd00, i as u16, 0, 0, 0, 0, 0, 0)), 112)
            }
        })
        .collect()
}

/// One service of the workload.
struct Svc {
    ns: String,
    name: String,
    v6: bool,
    dual: bool,
    pool: Option<String>,
    key: Option<String>,
    port: u16,
}

fn services(pools: &[(String, IpAddr, u8)]) -> Vec<Svc> {
    (0..SERVICES)
        .map(|i| {
            let v6 = i % 10 == 1;
            let dual = i % 10 == 2;
            let pool = (i % 7 == 0).then(|| {
                let offset = if v6 { POOLS / 2 } else { 0 };
                pools[offset + (i / 7) % (POOLS / 2)].0.clone()
            });
            // Services 5k+3 and 5k+4 share one address (different ports).
            let key = matches!(i % 5, 3 | 4).then(|| format!("shared-{}", i / 5));
            Svc {
                ns: format!("ns-{}", i % 50),
                name: format!("svc-{i:06}"),
                v6,
                dual,
                pool: if key.is_some() { None } else { pool },
                key,
                port: if i % 5 == 4 { 443 } else { 80 },
            }
        })
        .collect()
}

fn wit_config(pools: &[(String, IpAddr, u8)]) -> alloc::AllocatorConfig {
    alloc::AllocatorConfig {
        pools: pools
            .iter()
            .map(|(name, net, len)| wit::AddressPool {
                name: name.clone(),
                labels: vec![],
                addresses: vec![wit::AddressBlock::Cidr(wit::IpPrefix { address: ip_to_wit(*net), prefix_len: *len })],
                auto_assign: true,
                avoid_buggy_ips: false,
                service_allocation: None,
            })
            .collect(),
        namespaces: vec![],
    }
}

fn wit_service(s: &Svc) -> alloc::Service {
    alloc::Service {
        id: wit::ObjectRef { namespace: s.ns.clone(), name: s.name.clone() },
        labels: vec![wit::Label { key: "app".into(), value: s.name.clone() }],
        ip_families: if s.dual {
            vec![wit::IpFamily::Ipv4, wit::IpFamily::Ipv6]
        } else if s.v6 {
            vec![wit::IpFamily::Ipv6]
        } else {
            vec![wit::IpFamily::Ipv4]
        },
        ip_family_policy: if s.dual { wit::IpFamilyPolicy::PreferDualStack } else { wit::IpFamilyPolicy::SingleStack },
        requested_pool: s.pool.clone(),
        requested_ips: vec![],
        spec_load_balancer_ip: None,
        sharing_key: s.key.clone(),
        ports: vec![wit::ServicePort { name: "p".into(), protocol: wit::Protocol::Tcp, port: s.port }],
        traffic_policy: wit::TrafficPolicy::Cluster,
        selector: vec![wit::Label { key: "app".into(), value: "shared".into() }],
        current_ips: vec![],
    }
}

fn core_config(pools: &[(String, IpAddr, u8)]) -> core_alloc::Config {
    core_alloc::Config {
        pools: pools
            .iter()
            .map(|(name, net, len)| {
                core_alloc::AddressPool::new(
                    name.clone(),
                    vec![core_alloc::AddressBlock::Cidr { address: *net, prefix_len: *len }],
                )
            })
            .collect(),
        namespaces: vec![],
    }
}

fn core_service(s: &Svc) -> core_alloc::Service {
    let mut c = core_alloc::Service::new(s.ns.clone(), s.name.clone());
    c.labels = vec![core_alloc::Label::new("app", s.name.clone())];
    c.ip_families = if s.dual {
        vec![core_alloc::Family::Ipv4, core_alloc::Family::Ipv6]
    } else if s.v6 {
        vec![core_alloc::Family::Ipv6]
    } else {
        vec![core_alloc::Family::Ipv4]
    };
    if s.dual {
        c.ip_family_policy = core_alloc::IpFamilyPolicy::PreferDualStack;
    }
    c.requested_pool = s.pool.clone();
    c.sharing_key = s.key.clone();
    c.ports = vec![core_alloc::ServicePort::new(core_alloc::Protocol::Tcp, s.port)];
    c.selector = vec![core_alloc::Label::new("app", "shared")];
    c
}

fn report(what: &str, total: Duration, mut per_call: Vec<Duration>) {
    per_call.sort();
    let pct = |p: f64| per_call[((per_call.len() as f64 - 1.0) * p) as usize];
    println!(
        "{what:<44} total {:>8.3} s   p50 {:>7.2} µs   p99 {:>7.2} µs   max {:>8.2} µs",
        total.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e6,
        pct(0.99).as_secs_f64() * 1e6,
        per_call.last().copied().unwrap_or_default().as_secs_f64() * 1e6,
    );
}

fn allocator() {
    let pools = pools();
    let svcs = services(&pools);

    let rt = Arc::new(Runtime::new(RuntimeConfig::default()).expect("runtime"));
    let plugin = rt.load(World::Allocator, &PluginSource::Builtin(World::Allocator)).expect("plugin");
    let inputs: Vec<alloc::Service> = svcs.iter().map(wit_service).collect();
    let mut inst = AllocatorInstance::new(&rt, &plugin).expect("instantiate");
    inst.open(&wit_config(&pools), &[]).expect("open");
    let mut lat = Vec::with_capacity(SERVICES);
    let mut refused = 0;
    let start = Instant::now();
    for s in &inputs {
        let t = Instant::now();
        if inst.assign(s).expect("plugin call").is_err() {
            refused += 1;
        }
        lat.push(t.elapsed());
    }
    let total = start.elapsed();
    assert_eq!(refused, 0, "the workload fits the pools");
    report("allocator: 100k assign through the runtime", total, lat);

    let inputs: Vec<core_alloc::Service> = svcs.iter().map(core_service).collect();
    let (mut a, _) = core_alloc::Allocator::open(&core_config(&pools), &[]).expect("open");
    let mut lat = Vec::with_capacity(SERVICES);
    let start = Instant::now();
    for s in &inputs {
        let t = Instant::now();
        a.assign(s).expect("allocation");
        lat.push(t.elapsed());
    }
    report("allocator: 100k assign natively (core crate)", start.elapsed(), lat);
}

fn label(k: &str, v: &str) -> wit::Label {
    wit::Label { key: k.into(), value: v.into() }
}

/// advertise: 100,000 allocated IPv4 addresses in 10 pools, 8 eBGP/iBGP peers, 10
/// BGPAdvertisements; `spread`: advertisement i covers pool i (8 routes per service), else every
/// advertisement covers every pool with its own aggregation length (80 routes per service).
fn advertise(spread: bool) {
    use ferrolb::policy::AdvertiseInstance;
    use ferrolb::policy::advertise::exports::ferrolb::policy::advertise_policy as adv;

    let rt = Arc::new(Runtime::new(RuntimeConfig::default()).expect("runtime"));
    let plugin = rt.load(World::Advertise, &PluginSource::Builtin(World::Advertise)).expect("plugin");
    let pools: Vec<wit::AddressPool> = (0..10u8)
        .map(|i| wit::AddressPool {
            name: format!("pool-{i}"),
            labels: vec![label("tier", &format!("t{i}"))],
            addresses: vec![wit::AddressBlock::Cidr(wit::IpPrefix {
                address: wit::IpAddress::Ipv4((10, i, 0, 0)),
                prefix_len: 16,
            })],
            auto_assign: true,
            avoid_buggy_ips: false,
            service_allocation: None,
        })
        .collect();
    let nodes: Vec<wit::Node> = (0..10)
        .map(|i| wit::Node {
            name: format!("node-{i}"),
            labels: vec![label("kubernetes.io/hostname", &format!("node-{i}"))],
            addresses: vec![wit::IpAddress::Ipv4((192, 0, 2, i as u8))],
            conditions: wit::NodeConditions { ready: true, network_unavailable: false },
            live: true,
        })
        .collect();
    let config = adv::AdvertiseConfig {
        local_node: "node-0".into(),
        nodes,
        pools: pools.clone(),
        peers: (0..8u8)
            .map(|i| adv::BgpPeer {
                name: format!("peer-{i}"),
                my_asn: 64500,
                peer_asn: Some(if i % 2 == 0 { 64500 } else { 64600 + u32::from(i) }),
                dynamic_asn: None,
                address: Some(wit::IpAddress::Ipv4((198, 51, 100, i + 1))),
                interface: None,
                vrf: String::new(),
                node_selectors: vec![],
            })
            .collect(),
        bgp_advertisements: (0..10u8)
            .map(|i| adv::BgpAdvertisement {
                id: wit::ObjectRef { namespace: "metallb-system".into(), name: format!("adv-{i}") },
                pools: if spread { vec![format!("pool-{i}")] } else { vec![] },
                pool_selectors: vec![],
                aggregation_length: Some(if spread { 32 } else { 32 - i }),
                aggregation_length_v6: None,
                local_pref: Some(100 + u32::from(i)),
                communities: vec![format!("64500:{i}"), "65535:65282".into()],
                peers: vec![],
                node_selectors: vec![],
                service_selectors: vec![],
            })
            .collect(),
        l2_advertisements: vec![],
        communities: vec![],
    };
    let services: Vec<adv::Service> = (0..SERVICES)
        .map(|i| {
            let pool = i % 10;
            let host = i / 10;
            adv::Service {
                id: wit::ObjectRef { namespace: format!("ns-{}", i % 50), name: format!("svc-{i:06}") },
                labels: vec![label("app", "web")],
                pool: format!("pool-{pool}"),
                ips: vec![wit::IpAddress::Ipv4((10, pool as u8, (host >> 8) as u8, host as u8))],
                traffic_policy: wit::TrafficPolicy::Cluster,
                sharing_key: None,
                endpoints: vec![wit::Endpoint {
                    addresses: vec![wit::IpAddress::Ipv4((10, 244, (i >> 8) as u8, i as u8))],
                    node: format!("node-{}", i % 10),
                    ready: true,
                }],
            }
        })
        .collect();
    let mut inst = AdvertiseInstance::new(&rt, &plugin).expect("instantiate");
    let t = Instant::now();
    inst.open(&config).expect("plugin").expect("config");
    let open = t.elapsed();
    let mut lat = Vec::with_capacity(SERVICES);
    let mut routes = 0usize;
    let start = Instant::now();
    for s in &services {
        let t = Instant::now();
        routes += inst.announce(s).expect("announce").bgp.iter().map(|r| r.peers.len()).sum::<usize>();
        lat.push(t.elapsed());
    }
    let total = start.elapsed();
    let what = if spread { "10 ads on 10 pools" } else { "10 ads on every pool" };
    println!("advertise ({what}): open {:.2} ms, {routes} routes", open.as_secs_f64() * 1e3);
    report(
        &format!("advertise: 100k announce, {}", if spread { "8 routes each" } else { "80 routes each" }),
        total,
        lat,
    );
}

/// merge: 1,000 FRRConfigurations × 100 neighbors for one node through the default merge
/// component, and the host's check of the answer; once with the same 100 neighbors in every
/// configuration, once with 100,000 distinct neighbors.
fn merge_scale() {
    use ferrolb::config::Model;
    use ferrolb::controller::merge::{check_merged, merge_input};
    use ferrolb::policy::convert::prefix_to_wit;
    use ferrolb::policy::merge::exports::ferrolb::policy::merge_policy as mrg;
    use ferrolb::policy::{Limits, MergeInstance, Registry};
    use ipnet::IpNet;
    // The merge is a bulk call (`Limits::bulk_deadline`). 100,000 distinct neighbors need
    // ~70 MiB inside the plugin, over the default 64 MiB cap: this run allows 128 MiB.
    let limits = Limits { memory_bytes: 128 << 20, ..Limits::default() };
    let runtime = Arc::new(Runtime::new(RuntimeConfig { limits, ..RuntimeConfig::default() }).expect("runtime"));
    let registry = Registry::with_builtins(runtime).expect("plugins");
    let plugin = registry.active(World::Merge).expect("merge plugin");
    for distinct in [false, true] {
        let sources: Vec<mrg::ConfigSource> = (0..1000u32)
            .map(|i| {
                let own = prefix_to_wit(
                    IpNet::new(IpAddr::from([198, 18 + (i / 250) as u8, (i % 250) as u8, 0]), 24).expect("net"),
                );
                let neighbors = (0..100u32)
                    .map(|j| {
                        let a = if distinct {
                            [10, (i / 250) as u8, (i % 250) as u8, j as u8]
                        } else {
                            [10, 0, 0, j as u8]
                        };
                        mrg::Neighbor {
                            address: Some(ip_to_wit(IpAddr::from(a))),
                            interface: None,
                            asn: Some(64600 + j),
                            dynamic_asn: None,
                            port: None,
                            source_address: None,
                            password: None,
                            password_secret: None,
                            hold_time: Some(90_000),
                            keepalive_time: None,
                            connect_time: None,
                            ebgp_multi_hop: None,
                            bfd_profile: None,
                            enable_graceful_restart: None,
                            disable_mp: None,
                            to_advertise: mrg::AdvertiseFilter {
                                mode: None,
                                prefixes: vec![own],
                                with_community: vec![],
                                with_local_pref: vec![],
                            },
                            to_receive: mrg::ReceiveFilter { mode: None, prefixes: vec![] },
                        }
                    })
                    .collect();
                mrg::ConfigSource {
                    origin: wit::ObjectRef { namespace: "ns".into(), name: format!("c{i:04}") },
                    node_selector: wit::LabelSelector { match_labels: vec![], match_expressions: vec![] },
                    config: mrg::RouterConfig {
                        routers: vec![mrg::Router {
                            asn: 64512,
                            id: None,
                            vrf: String::new(),
                            prefixes: vec![own],
                            neighbors,
                            imports: vec![],
                        }],
                        bfd_profiles: vec![],
                    },
                }
            })
            .collect();
        let mut input = merge_input(&Model::default(), "worker-0", &[]);
        input.sources = sources;
        for _ in 0..3 {
            let start = std::time::Instant::now();
            let mut inst = MergeInstance::new(registry.runtime(), &plugin).expect("instance");
            let m = inst.merge(&input).expect("no failure").expect("no conflict");
            let call = start.elapsed();
            check_merged(&input, &m).expect("valid");
            let checked = start.elapsed();
            println!(
                "distinct neighbors {distinct}: {} merged neighbors; merge call {call:?}, with the host's checks {checked:?}",
                m.config.routers[0].neighbors.len()
            );
        }
    }
}
fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects benchmarks by name.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let run = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    if run("allocator") {
        allocator();
    }
    if run("merge") {
        merge_scale();
    }
    if run("advertise") {
        advertise(true);
        advertise(false);
    }
}
