//! Plugin runtime benchmarks: compile a component, load it from the on-disk cache, instantiate it,
//! and one call round trip with a realistic input, beside the same logic called natively.
//!
//! Run: `cargo bench -p ferrolb --bench runtime` (figures go to BENCHMARKS.md).
//!
//! The call benchmark uses the `hostile_chaos` allocator in its well-behaved mode (it allocates the
//! first address of the first pool): until the default allocator is written it is the only
//! allocator component that gives real answers, and its logic is small enough that the measured
//! time is the boundary cost (lifting/lowering a realistic service record, the host's answer
//! checks, the epoch deadline), which is what this benchmark is for.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{Criterion, criterion_main};
use ferrolb::policy::allocator::exports::ferrolb::policy::allocator_policy as alloc;
use ferrolb::policy::types::{
    AddressBlock, IpAddress, IpFamily, IpFamilyPolicy, IpPrefix, Label, ObjectRef, Protocol, ServicePort, TrafficPolicy,
};
use ferrolb::policy::{AllocatorInstance, PluginSource, Runtime, RuntimeConfig, World};

fn chaos() -> PluginSource {
    PluginSource::Path(PathBuf::from(ferrolb::policy::builtin::PLUGIN_DIR).join("hostile_chaos.wasm"))
}

fn label(k: &str, v: &str) -> Label {
    Label { key: k.into(), value: v.into() }
}

/// A service as a real cluster has them: labels, two ports, a selector, dual-stack fields.
fn service() -> alloc::Service {
    alloc::Service {
        id: ObjectRef { namespace: "shop-frontend".into(), name: "checkout-api".into() },
        labels: vec![
            label("app.kubernetes.io/name", "checkout"),
            label("app.kubernetes.io/part-of", "shop"),
            label("tier", "frontend"),
        ],
        ip_families: vec![IpFamily::Ipv4],
        ip_family_policy: IpFamilyPolicy::SingleStack,
        requested_pool: None,
        requested_ips: vec![],
        spec_load_balancer_ip: None,
        sharing_key: Some("checkout".into()),
        ports: vec![
            ServicePort { name: "http".into(), protocol: Protocol::Tcp, port: 80 },
            ServicePort { name: "https".into(), protocol: Protocol::Tcp, port: 443 },
        ],
        traffic_policy: TrafficPolicy::Local,
        selector: vec![label("app.kubernetes.io/name", "checkout")],
        current_ips: vec![],
    }
}

fn config() -> alloc::AllocatorConfig {
    let pools = ["behave", "gold", "silver", "bronze"]
        .iter()
        .enumerate()
        .map(|(i, name)| ferrolb::policy::types::AddressPool {
            name: (*name).into(),
            labels: vec![label("zone", "east")],
            addresses: vec![AddressBlock::Cidr(IpPrefix {
                address: IpAddress::Ipv4((192, 0, 2 + i as u8, 0)),
                prefix_len: 24,
            })],
            auto_assign: true,
            avoid_buggy_ips: false,
            service_allocation: None,
        })
        .collect();
    alloc::AllocatorConfig { pools, namespaces: vec![] }
}

/// The same decision as the plugin's, in native code, on the same input.
fn native_assign(config: &alloc::AllocatorConfig, svc: &alloc::Service) -> Result<alloc::Allocation, String> {
    let pool = config.pools.first().ok_or("no pools")?;
    let ip = match pool.addresses.first() {
        Some(AddressBlock::Cidr(p)) => p.address,
        Some(AddressBlock::Range(r)) => r.first,
        None => return Err("empty pool".into()),
    };
    Ok(alloc::Allocation { service: svc.id.clone(), ips: vec![ip], pool: pool.name.clone() })
}

fn runtime(cache: Option<PathBuf>) -> Arc<Runtime> {
    Arc::new(Runtime::new(RuntimeConfig { cache_dir: cache, ..RuntimeConfig::default() }).expect("runtime"))
}

fn benches(c: &mut Criterion) {
    let rt = runtime(None);

    let mut g = c.benchmark_group("runtime");
    g.sample_size(10);
    g.bench_function("compile + check (builtin allocator, no cache)", |b| {
        b.iter(|| black_box(rt.load(World::Allocator, &PluginSource::Builtin(World::Allocator)).expect("load")))
    });
    g.finish();

    let dir = tempfile::tempdir().expect("tempdir");
    let cached = runtime(Some(dir.path().to_path_buf()));
    cached.load(World::Allocator, &PluginSource::Builtin(World::Allocator)).expect("warm the cache");
    c.bench_function("runtime/load from cache + check (builtin allocator)", |b| {
        b.iter(|| black_box(cached.load(World::Allocator, &PluginSource::Builtin(World::Allocator)).expect("load")))
    });

    let plugin = rt.load(World::Allocator, &chaos()).expect("load chaos");
    c.bench_function("runtime/instantiate (pooled InstancePre)", |b| {
        b.iter(|| black_box(AllocatorInstance::new(&rt, &plugin).expect("instantiate")))
    });

    let mut small = AllocatorInstance::new(&rt, &plugin).expect("instantiate");
    c.bench_function("call/metadata round trip (wasm, smallest call)", |b| {
        b.iter(|| black_box(small.metadata().expect("call")))
    });

    let cfg = config();
    let svc = service();
    let mut inst = AllocatorInstance::new(&rt, &plugin).expect("instantiate");
    inst.open(&cfg, &[]).expect("open");
    c.bench_function("call/assign round trip (wasm, realistic service)", |b| {
        b.iter(|| black_box(inst.assign(black_box(&svc)).expect("call").expect("allocation")))
    });
    c.bench_function("call/assign native (same logic, same input)", |b| {
        b.iter(|| black_box(native_assign(black_box(&cfg), black_box(&svc)).expect("allocation")))
    });
}

/// The benchmark group (criterion's macro, in a module so its generated function is documented).
mod group {
    #![allow(missing_docs)]
    criterion::criterion_group!(runtime_benches, super::benches);
}

criterion_main!(group::runtime_benches);
