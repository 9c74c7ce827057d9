//! RIB figures at 1M prefixes: Adj-RIB-Out planning (from empty, and after one change) and
//! Adj-RIB-In receipt.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ferrolb_bgp::filter::{AllowMode, PrefixSelector, ReceiveFilter, ReceivePolicy};
use ferrolb_bgp::rib::{AdjRibIn, AdjRibOut, InUpdate};
use ipnet::{IpNet, Ipv4Net};

/// Attributes shaped like real ones: next hop, AS path, communities.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Attrs {
    next_hop: Ipv4Addr,
    as_path: Vec<u32>,
    local_pref: u32,
    communities: Vec<u32>,
}

fn attrs(group: u32) -> Attrs {
    Attrs {
        next_hop: Ipv4Addr::new(192, 0, 2, 1),
        as_path: vec![64512, 64513],
        local_pref: 100,
        communities: vec![0xFDE8_0000 | group, 0xFDE8_1000],
    }
}

const N: u32 = 1_000_000;
const GROUPS: u32 = 10;

/// The i-th /32 of 10.0.0.0/8 … (1M distinct host routes).
fn prefix(i: u32) -> IpNet {
    IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0A00_0000 + i), 32).unwrap())
}

fn desired() -> Vec<(Attrs, Vec<IpNet>)> {
    (0..GROUPS).map(|g| (attrs(g), (0..N).filter(|i| i % GROUPS == g).map(prefix).collect())).collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("rib");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(8));

    // Context for the figures below on a shared machine: 1M inserts into a std HashMap.
    g.bench_function("baseline_std_hashmap_insert_1M", |b| {
        b.iter(|| {
            let mut m = std::collections::HashMap::new();
            for i in 0..N {
                m.insert(prefix(i), i);
            }
            m
        })
    });

    g.bench_function("out_plan_1M_from_empty", |b| {
        b.iter_batched(
            || {
                let mut rib = AdjRibOut::new();
                rib.replace_desired_grouped(desired());
                rib
            },
            |mut rib| {
                let plan = rib.take_plan();
                assert_eq!(plan.ipv4.announced.len(), GROUPS as usize);
                (rib, plan)
            },
            BatchSize::PerIteration,
        )
    });

    g.bench_function("out_replace_desired_and_plan_1M_from_empty", |b| {
        b.iter_batched(
            desired,
            |d| {
                let mut rib = AdjRibOut::new();
                rib.replace_desired_grouped(d);
                let plan = rib.take_plan();
                (rib, plan)
            },
            BatchSize::PerIteration,
        )
    });

    let mut rib = AdjRibOut::new();
    rib.replace_desired_grouped(desired());
    let _ = rib.take_plan();
    let mut flip = 0u32;
    g.bench_function("out_replan_after_1_change_in_1M", |b| {
        b.iter(|| {
            flip += 1;
            rib.set(prefix(12_345), attrs(flip % 2));
            let plan = rib.take_plan();
            assert_eq!(plan.ipv4.announced_count(), 1);
            black_box(plan)
        })
    });
    drop(rib);

    // 1M prefixes arriving as 1000 UPDATEs of 1000 NLRI (a 4 KiB UPDATE holds ~800 /32s).
    let updates = || -> Vec<InUpdate<Attrs>> {
        (0..1000u32)
            .map(|u| InUpdate::announce(attrs(u % GROUPS), (u * 1000..(u + 1) * 1000).map(prefix).collect()))
            .collect()
    };
    let all = ReceivePolicy::new(ReceiveFilter::accept_all());
    g.bench_function("in_apply_1M_announced_mode_all", |b| {
        b.iter_batched(
            updates,
            |ups| {
                let mut rib = AdjRibIn::new();
                let mut deltas = Vec::with_capacity(ups.len());
                for u in ups {
                    deltas.push(rib.apply(u, &all).delta);
                }
                (rib, deltas)
            },
            BatchSize::PerIteration,
        )
    });

    // The same through a filtered policy: 100 selectors with ge/le, plus 2 blocked ranges.
    let selectors: Vec<PrefixSelector> = (0..100u32)
        .map(|i| {
            PrefixSelector::new(
                IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0A00_0000 + (i << 16)), 16).unwrap()),
                Some(24),
                Some(32),
            )
            .unwrap()
        })
        .collect();
    let filtered = ReceivePolicy::new(
        ReceiveFilter::new(
            AllowMode::Filtered,
            &selectors,
            &["10.96.0.0/12".parse().unwrap(), "fd00::/8".parse().unwrap()],
        )
        .unwrap(),
    );
    g.bench_function("in_apply_1M_announced_100_selectors", |b| {
        b.iter_batched(
            updates,
            |ups| {
                let mut rib = AdjRibIn::new();
                let mut deltas = Vec::with_capacity(ups.len());
                for u in ups {
                    deltas.push(rib.apply(u, &filtered).delta);
                }
                (rib, deltas)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
