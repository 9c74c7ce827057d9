//! The WIT glue of the allocator policy: the `pool-state` resource over the core allocator, and
//! the conversions between the WIT records and the core's types.
//!
//! Kept apart from `lib.rs` so that a test plugin (`plugins/hostile/sloppy-allocator`) can reuse it
//! verbatim with its own configuration hook (`crate::adjust`) and metadata.

use alloc::string::ToString;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::Plugin;
use crate::bindings::exports::ferrolb::policy::allocator_policy::{
    Allocation, AllocationError, AllocatorConfig, Guest as Policy, GuestPoolState, ObjectRef, PolicyError, PoolState,
    ReconfigureOutcome, Service,
};
use crate::bindings::exports::ferrolb::policy::types as wit;
use ferrolb_allocator_core as core_alloc;

impl Policy for Plugin {
    type PoolState = State;
}

/// The `pool-state` resource: the core allocator behind a `RefCell` (resource methods take
/// `&self`; calls into one instance never overlap).
pub(crate) struct State {
    inner: RefCell<core_alloc::Allocator>,
}

/// The message for the (impossible) case of a re-entrant call.
const BUSY: &str = "the allocator state is already in use by another call";

impl GuestPoolState for State {
    fn open(
        config: AllocatorConfig,
        existing: Vec<Allocation>,
    ) -> Result<(PoolState, ReconfigureOutcome), PolicyError> {
        let config = config_in(config);
        let existing: Vec<core_alloc::Allocation> = existing.into_iter().map(allocation_in).collect();
        let (a, outcome) = core_alloc::Allocator::open(&config, &existing).map_err(invalid)?;
        Ok((PoolState::new(State { inner: RefCell::new(a) }), outcome_out(outcome)))
    }

    fn assign(&self, svc: Service) -> Result<Allocation, AllocationError> {
        let id = svc.id.clone();
        let Ok(mut a) = self.inner.try_borrow_mut() else {
            return Err(AllocationError { service: id, reason: BUSY.to_string() });
        };
        a.assign(&service_in(svc))
            .map(allocation_out)
            .map_err(|r| AllocationError { service: object_ref_out(r.service), reason: r.reason })
    }

    fn release(&self, svc: ObjectRef) {
        if let Ok(mut a) = self.inner.try_borrow_mut() {
            a.release(&object_ref_in(svc));
        }
    }

    fn reconfigure(&self, config: AllocatorConfig) -> Result<ReconfigureOutcome, PolicyError> {
        let Ok(mut a) = self.inner.try_borrow_mut() else { return Err(PolicyError::Failed(BUSY.to_string())) };
        a.reconfigure(&config_in(config)).map(outcome_out).map_err(invalid)
    }

    fn allocations(&self) -> Vec<Allocation> {
        match self.inner.try_borrow() {
            Ok(a) => a.allocations().into_iter().map(allocation_out).collect(),
            Err(_) => Vec::new(),
        }
    }
}

fn invalid(e: core_alloc::InvalidInput) -> PolicyError {
    PolicyError::InvalidInput(e.0)
}

// ---- WIT → core --------------------------------------------------------------------------------

fn ip_in(a: wit::IpAddress) -> IpAddr {
    match a {
        wit::IpAddress::Ipv4((a, b, c, d)) => IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        wit::IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
    }
}

fn family_in(f: wit::IpFamily) -> core_alloc::Family {
    match f {
        wit::IpFamily::Ipv4 => core_alloc::Family::Ipv4,
        wit::IpFamily::Ipv6 => core_alloc::Family::Ipv6,
    }
}

fn label_in(l: wit::Label) -> core_alloc::Label {
    core_alloc::Label { key: l.key, value: l.value }
}

fn labels_in(l: Vec<wit::Label>) -> Vec<core_alloc::Label> {
    l.into_iter().map(label_in).collect()
}

fn selector_in(s: wit::LabelSelector) -> core_alloc::LabelSelector {
    core_alloc::LabelSelector {
        match_labels: labels_in(s.match_labels),
        match_expressions: s
            .match_expressions
            .into_iter()
            .map(|r| core_alloc::SelectorRequirement {
                key: r.key,
                operator: match r.operator {
                    wit::SelectorOperator::In => core_alloc::SelectorOperator::In,
                    wit::SelectorOperator::NotIn => core_alloc::SelectorOperator::NotIn,
                    wit::SelectorOperator::Exists => core_alloc::SelectorOperator::Exists,
                    wit::SelectorOperator::DoesNotExist => core_alloc::SelectorOperator::DoesNotExist,
                },
                values: r.values,
            })
            .collect(),
    }
}

fn block_in(b: wit::AddressBlock) -> core_alloc::AddressBlock {
    match b {
        wit::AddressBlock::Cidr(p) => {
            core_alloc::AddressBlock::Cidr { address: ip_in(p.address), prefix_len: p.prefix_len }
        }
        wit::AddressBlock::Range(r) => core_alloc::AddressBlock::Range { first: ip_in(r.first), last: ip_in(r.last) },
    }
}

fn pool_in(p: wit::AddressPool) -> core_alloc::AddressPool {
    core_alloc::AddressPool {
        name: p.name,
        labels: labels_in(p.labels),
        addresses: p.addresses.into_iter().map(block_in).collect(),
        auto_assign: p.auto_assign,
        avoid_buggy_ips: p.avoid_buggy_ips,
        service_allocation: p.service_allocation.map(|s| core_alloc::ServiceAllocation {
            priority: s.priority,
            namespaces: s.namespaces,
            namespace_selectors: s.namespace_selectors.into_iter().map(selector_in).collect(),
            service_selectors: s.service_selectors.into_iter().map(selector_in).collect(),
        }),
    }
}

fn config_in(c: AllocatorConfig) -> core_alloc::Config {
    crate::adjust(core_alloc::Config {
        pools: c.pools.into_iter().map(pool_in).collect(),
        namespaces: c
            .namespaces
            .into_iter()
            .map(|n| core_alloc::NamespaceInfo { name: n.name, labels: labels_in(n.labels) })
            .collect(),
    })
}

fn object_ref_in(r: ObjectRef) -> core_alloc::ServiceId {
    core_alloc::ServiceId { namespace: r.namespace, name: r.name }
}

fn allocation_in(a: Allocation) -> core_alloc::Allocation {
    core_alloc::Allocation {
        service: object_ref_in(a.service),
        ips: a.ips.into_iter().map(ip_in).collect(),
        pool: a.pool,
    }
}

fn service_in(s: Service) -> core_alloc::Service {
    core_alloc::Service {
        id: object_ref_in(s.id),
        labels: labels_in(s.labels),
        ip_families: s.ip_families.into_iter().map(family_in).collect(),
        ip_family_policy: match s.ip_family_policy {
            wit::IpFamilyPolicy::SingleStack => core_alloc::IpFamilyPolicy::SingleStack,
            wit::IpFamilyPolicy::PreferDualStack => core_alloc::IpFamilyPolicy::PreferDualStack,
            wit::IpFamilyPolicy::RequireDualStack => core_alloc::IpFamilyPolicy::RequireDualStack,
        },
        requested_pool: s.requested_pool,
        requested_ips: s.requested_ips.into_iter().map(ip_in).collect(),
        spec_load_balancer_ip: s.spec_load_balancer_ip.map(ip_in),
        sharing_key: s.sharing_key,
        ports: s
            .ports
            .into_iter()
            .map(|p| core_alloc::ServicePort {
                name: p.name,
                protocol: match p.protocol {
                    wit::Protocol::Tcp => core_alloc::Protocol::Tcp,
                    wit::Protocol::Udp => core_alloc::Protocol::Udp,
                    wit::Protocol::Sctp => core_alloc::Protocol::Sctp,
                },
                port: p.port,
            })
            .collect(),
        traffic_policy: match s.traffic_policy {
            wit::TrafficPolicy::Cluster => core_alloc::TrafficPolicy::Cluster,
            wit::TrafficPolicy::Local => core_alloc::TrafficPolicy::Local,
        },
        selector: labels_in(s.selector),
        current_ips: s.current_ips.into_iter().map(ip_in).collect(),
    }
}

// ---- core → WIT --------------------------------------------------------------------------------

fn ip_out(a: IpAddr) -> wit::IpAddress {
    match a {
        IpAddr::V4(x) => {
            let [a, b, c, d] = x.octets();
            wit::IpAddress::Ipv4((a, b, c, d))
        }
        IpAddr::V6(x) => {
            let [a, b, c, d, e, f, g, h] = x.segments();
            wit::IpAddress::Ipv6((a, b, c, d, e, f, g, h))
        }
    }
}

fn object_ref_out(id: core_alloc::ServiceId) -> ObjectRef {
    ObjectRef { namespace: id.namespace, name: id.name }
}

fn allocation_out(a: core_alloc::Allocation) -> Allocation {
    Allocation { service: object_ref_out(a.service), ips: a.ips.into_iter().map(ip_out).collect(), pool: a.pool }
}

fn outcome_out(o: core_alloc::ReconfigureOutcome) -> ReconfigureOutcome {
    ReconfigureOutcome {
        rehomed: o.rehomed.into_iter().map(allocation_out).collect(),
        released: o
            .released
            .into_iter()
            .map(|r| AllocationError { service: object_ref_out(r.service), reason: r.reason })
            .collect(),
    }
}
