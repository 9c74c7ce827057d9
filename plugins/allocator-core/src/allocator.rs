//! The allocator: which addresses each service holds, who shares which address, and the
//! decisions of `assign` / `release` / `reconfigure` (MetalLB's `controller/service.go`
//! `convergeBalancer` + `allocateIPs`, and `internal/allocator/allocator.go`).
//!
//! State, and what each operation costs (N = services holding addresses, B = address blocks,
//! P = pools, s = services sharing one address, p = ports of one service):
//!
//! | structure | what | cost per access |
//! |---|---|---|
//! | `services: BTreeMap<Key, u32>` | service key (`ns\0name`) → slot | `O(log N)` |
//! | `slots: Vec<Option<Record>>` | slot → addresses, pool, sharing info, labels (dense; freed slots are reused) | `O(1)` |
//! | `used: [BTreeMap<u128, Users>; 2]` | per family: address → the slots of the services using it | `O(log N)` |
//! | `Pools` (see `pools.rs`) | per pool and family: blocks in order, each a free-interval set | `O(log B + log k)` for the lowest free address |
//! | `groups: BTreeMap<GroupKey, Group>` | per (pool, family, sharing key, backend key): the shareable addresses in allocation order and how many of them use each port | `O(log)` |
//!
//! So `assign` is `O(P · (log B + log k) + log N + s·p)`: it never scans the allocations. The
//! one search that is not logarithmic is the choice of an address to *share* (MetalLB's
//! allocation takes the first address, in order, that is free **or** already used by services
//! with the same sharing key and no common port): it walks the addresses of the service's own
//! sharing group that lie *before* the lowest free address, and is skipped entirely when one of
//! the service's ports is already used on every address of the group (the common case of many
//! services with the same key and port). It is bounded by the size of that sharing group, not by
//! the number of allocations.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::addr::Ip;
use crate::bytes::{self, Key};
use crate::pools::{Located, Pools};
use crate::selector::{CompactLabels, LabelSlice, Labels};
use crate::types::{
    Allocation, Config, Family, InvalidInput, IpFamilyPolicy, Label, Protocol, ReconfigureOutcome, Refusal, Service,
    ServiceId, TrafficPolicy,
};

/// The field a requested address came from, for messages.
const LB_IPS: &str = "metallb.io/loadBalancerIPs";
/// The deprecated field.
const SPEC_LB_IP: &str = "spec.loadBalancerIP";

/// The addresses of one service, packed (one or two, at most one per family): 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Held {
    /// The IPv6 address, high and low halves.
    v6: [u64; 2],
    /// The IPv4 address.
    v4: u32,
    /// bit 0: has IPv4; bit 1: has IPv6; bit 2: the IPv6 address comes first.
    flags: u8,
}

impl Held {
    /// From one or two addresses of distinct families (callers check), in order.
    fn new(ips: &[Ip]) -> Held {
        let mut h = Held { v6: [0; 2], v4: 0, flags: 0 };
        for (i, ip) in ips.iter().take(2).enumerate() {
            match ip.fam {
                Family::Ipv4 => {
                    h.v4 = u32::try_from(ip.v).unwrap_or(u32::MAX);
                    h.flags |= 1;
                }
                Family::Ipv6 => {
                    h.v6 = [(ip.v >> 64) as u64, ip.v as u64];
                    h.flags |= 2 | if i == 0 { 4 } else { 0 };
                }
            }
        }
        h
    }

    /// The addresses in order.
    fn iter(self) -> impl Iterator<Item = Ip> {
        let v4 = (self.flags & 1 != 0).then_some(Ip { fam: Family::Ipv4, v: u128::from(self.v4) });
        let v6 = (self.flags & 2 != 0)
            .then_some(Ip { fam: Family::Ipv6, v: (u128::from(self.v6[0]) << 64) | u128::from(self.v6[1]) });
        let (first, second) = if self.flags & 4 != 0 { (v6, v4) } else { (v4, v6) };
        first.into_iter().chain(second)
    }

    fn to_vec(self) -> Vec<Ip> {
        self.iter().collect()
    }
}

/// The (protocol, port) codes of a service, sorted; up to two inline.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ports {
    Few(u8, [u32; 2]),
    Many(Box<[u32]>),
}

impl Ports {
    fn new(sorted: Vec<u32>) -> Ports {
        match sorted.as_slice() {
            [] => Ports::Few(0, [0; 2]),
            [a] => Ports::Few(1, [*a, 0]),
            [a, b] => Ports::Few(2, [*a, *b]),
            _ => Ports::Many(sorted.into_boxed_slice()),
        }
    }

    fn as_slice(&self) -> &[u32] {
        match self {
            Ports::Few(n, p) => p.get(..usize::from(*n)).unwrap_or_default(),
            Ports::Many(p) => p,
        }
    }
}

/// A sharing key and the backend key that must go with it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ShareKey {
    /// `metallb.io/allow-shared-ip`.
    sharing: Box<str>,
    /// With `externalTrafficPolicy: Local`, the pod selector (`k=v,k=v`); else empty.
    backend: Box<str>,
}

/// What decides whether a service may share an address.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Share {
    /// False for allocations restored from the host's store (`open`'s `existing`): their sharing
    /// key and ports are unknown until the service is assigned again.
    known: bool,
    /// (protocol, port) pairs as `protocol << 16 | port`, sorted, deduplicated.
    ports: Ports,
    /// The sharing key; `None`: the service does not allow sharing.
    key: Option<Box<ShareKey>>,
}

impl Share {
    fn unknown() -> Share {
        Share { known: false, ports: Ports::Few(0, [0; 2]), key: None }
    }

    fn of(svc: &Service) -> Share {
        let mut ports: Vec<u32> = svc.ports.iter().map(|p| port_code(p.protocol, p.port)).collect();
        ports.sort_unstable();
        ports.dedup();
        let key = svc
            .sharing_key
            .as_deref()
            .filter(|k| !k.is_empty())
            .map(|k| Box::new(ShareKey { sharing: k.into(), backend: backend_key(svc).into_boxed_str() }));
        Share { known: true, ports: Ports::new(ports), key }
    }
}

/// MetalLB's backend key: the pod selector with `externalTrafficPolicy: Local` (services sharing
/// an address must then select the same pods), empty with `Cluster`.
fn backend_key(svc: &Service) -> String {
    if svc.traffic_policy != TrafficPolicy::Local {
        return String::new();
    }
    let mut sel: Vec<&Label> = svc.selector.iter().collect();
    sel.sort_by(|a, b| bytes::cmp(&a.key, &b.key).then_with(|| bytes::cmp(&a.value, &b.value)));
    let mut s = String::new();
    for l in sel {
        if !s.is_empty() {
            s.push(',');
        }
        s.push_str(&l.key);
        s.push('=');
        s.push_str(&l.value);
    }
    s
}

fn port_code(p: Protocol, port: u16) -> u32 {
    let proto = match p {
        Protocol::Tcp => 0,
        Protocol::Udp => 1,
        Protocol::Sctp => 2,
    };
    (proto << 16) | u32::from(port)
}

/// `TCP/80` from a port code.
struct PortName(u32);

impl fmt::Display for PortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = match self.0 >> 16 {
            0 => Protocol::Tcp,
            1 => Protocol::Udp,
            _ => Protocol::Sctp,
        };
        write!(f, "{proto}/{}", self.0 & 0xffff)
    }
}

/// The first value in both sorted slices.
fn common(a: &[u32], b: &[u32]) -> Option<u32> {
    let (mut i, mut j) = (0, 0);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.cmp(y) {
            core::cmp::Ordering::Less => i += 1,
            core::cmp::Ordering::Greater => j += 1,
            core::cmp::Ordering::Equal => return Some(*x),
        }
    }
    None
}

/// One service's allocation.
#[derive(Clone, Debug)]
struct Record {
    key: Key,
    ips: Held,
    pool: u16,
    share: Share,
    /// The service's labels at its last `assign` (`None`: unknown, e.g. restored).
    labels: Option<CompactLabels>,
}

/// The slots of the services using one address (almost always one).
#[derive(Clone, Debug)]
enum Users {
    One(u32),
    Many(Box<[u32]>),
}

impl Users {
    fn as_slice(&self) -> &[u32] {
        match self {
            Users::One(u) => core::slice::from_ref(u),
            Users::Many(v) => v,
        }
    }

    fn contains(&self, slot: u32) -> bool {
        self.as_slice().contains(&slot)
    }

    fn push(&mut self, slot: u32) {
        let mut v = self.as_slice().to_vec();
        v.push(slot);
        *self = Users::Many(v.into_boxed_slice());
    }

    /// Removes `slot`; true when no user is left.
    fn remove(&mut self, slot: u32) -> bool {
        let v: Vec<u32> = self.as_slice().iter().copied().filter(|u| *u != slot).collect();
        match v.as_slice() {
            [] => true,
            [only] => {
                *self = Users::One(*only);
                false
            }
            _ => {
                *self = Users::Many(v.into_boxed_slice());
                false
            }
        }
    }
}

/// Identifies the addresses a service with a given sharing key could share.
#[derive(Clone, Debug)]
struct GroupKey {
    pool: u16,
    fam: Family,
    sharing: Box<str>,
    backend: Box<str>,
}

impl PartialEq for GroupKey {
    fn eq(&self, other: &GroupKey) -> bool {
        self.cmp(other) == core::cmp::Ordering::Equal
    }
}

impl Eq for GroupKey {}

impl PartialOrd for GroupKey {
    fn partial_cmp(&self, other: &GroupKey) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for GroupKey {
    fn cmp(&self, other: &GroupKey) -> core::cmp::Ordering {
        (self.pool, self.fam)
            .cmp(&(other.pool, other.fam))
            .then_with(|| bytes::cmp(&self.sharing, &other.sharing))
            .then_with(|| bytes::cmp(&self.backend, &other.backend))
    }
}

/// The shareable addresses of one sharing key in one pool and family.
#[derive(Clone, Debug, Default)]
struct Group {
    /// (block index, address): allocation order.
    addrs: BTreeSet<(u32, u128)>,
    /// Port code → on how many of `addrs` it is in use.
    port_users: BTreeMap<u32, u32>,
}

/// `ns/name` from an internal key `ns\0name`.
struct Who<'a>(&'a str);

impl fmt::Display for Who<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // (No `Some(("", name))` pattern: matching a string literal calls `memcmp`.)
        match bytes::split_nul(self.0) {
            Some((ns, name)) => {
                if ns.is_empty() {
                    f.write_str(name)
                } else {
                    write!(f, "{ns}/{name}")
                }
            }
            None => f.write_str(self.0),
        }
    }
}

/// The internal key of a service: `namespace\0name` (orders exactly like (namespace, name)).
fn service_key(id: &ServiceId) -> Result<Key, String> {
    if bytes::has_nul(&id.namespace) || bytes::has_nul(&id.name) {
        return Err("the service's namespace or name contains a NUL character".into());
    }
    let mut k = String::with_capacity(id.namespace.len() + id.name.len() + 1);
    k.push_str(&id.namespace);
    k.push('\0');
    k.push_str(&id.name);
    Ok(Key::new(&k))
}

fn id_of(key: &str) -> ServiceId {
    match bytes::split_nul(key) {
        Some((ns, name)) => ServiceId::new(ns, name),
        None => ServiceId::new("", key),
    }
}

fn namespace_of(key: &str) -> &str {
    bytes::split_nul(key).map_or("", |(ns, _)| ns)
}

/// What the service's family settings ask for.
#[derive(Clone, Copy, Debug)]
struct Want {
    primary: Family,
    policy: IpFamilyPolicy,
    /// How many families `spec.ipFamilies` lists (0, 1 or 2).
    listed: usize,
}

impl Want {
    fn of(svc: &Service, req: &[Ip]) -> Result<Want, String> {
        let fams = &svc.ip_families;
        if fams.len() > 2 || (fams.len() == 2 && fams[0] == fams[1]) {
            return Err("spec.ipFamilies must list IPv4 and IPv6 at most once each".into());
        }
        if svc.ip_family_policy == IpFamilyPolicy::SingleStack && fams.len() == 2 {
            return Err("spec.ipFamilies lists two families but spec.ipFamilyPolicy is SingleStack".into());
        }
        let primary = fams.first().copied().or(req.first().map(|i| i.fam)).unwrap_or(Family::Ipv4);
        Ok(Want { primary, policy: svc.ip_family_policy, listed: fams.len() })
    }

    fn secondary(self) -> Family {
        self.primary.other()
    }

    /// Primary family first.
    fn order(self, mut ips: Vec<Ip>) -> Vec<Ip> {
        ips.sort_by_key(|i| i.fam != self.primary);
        ips
    }

    /// Whether addresses the service already holds still fit its family settings
    /// (MetalLB's `serviceFamilyChanged`, with PreferDualStack accepting one or two).
    fn held_fits(self, held: &[Ip]) -> bool {
        let distinct = match held {
            [_] => true,
            [a, b] => a.fam != b.fam,
            _ => false,
        };
        distinct
            && match self.policy {
                IpFamilyPolicy::SingleStack => held.len() == 1 && held[0].fam == self.primary,
                IpFamilyPolicy::RequireDualStack => held.len() == 2,
                IpFamilyPolicy::PreferDualStack => true,
            }
    }

    /// MetalLB: "requested loadBalancer IP(s) does not match the ipFamily of the service".
    fn check_request(self, req: &[Ip], field: &str) -> Result<(), String> {
        match (self.policy, req) {
            (_, []) => Ok(()),
            (IpFamilyPolicy::SingleStack, [ip]) | (IpFamilyPolicy::PreferDualStack, [ip])
                if self.listed == 1 && ip.fam != self.primary =>
            {
                Err(format!("{field}: {ip} is an {} address but the service's IP family is {}", ip.fam, self.primary))
            }
            (IpFamilyPolicy::SingleStack, [_]) => Ok(()),
            (IpFamilyPolicy::SingleStack, _) => {
                Err(format!("{field} gives two addresses but the service is SingleStack: one {} address", self.primary))
            }
            (IpFamilyPolicy::RequireDualStack, [ip]) => Err(format!(
                "the service is RequireDualStack: {field} must give one IPv4 and one IPv6 address, not only {ip}"
            )),
            (IpFamilyPolicy::PreferDualStack, [ip]) if self.listed == 2 => Err(format!(
                "the service is dual-stack (PreferDualStack, ipFamilies IPv4 and IPv6): {field} must give one IPv4 \
                 and one IPv6 address, not only {ip}"
            )),
            (IpFamilyPolicy::PreferDualStack, [_, _]) if self.listed == 1 => Err(format!(
                "{field} gives two addresses but the service's only IP family (spec.ipFamilies) is {}",
                self.primary
            )),
            _ => Ok(()),
        }
    }
}

/// `metallb.io/address-pool`, resolved.
#[derive(Clone, Copy, Debug)]
enum ReqPool<'a> {
    None,
    Existing(u16),
    Missing(&'a str),
}

/// The requested addresses (annotation or deprecated field) and the field's name.
fn requested(svc: &Service) -> Result<(Vec<Ip>, &'static str), String> {
    let (list, field): (Vec<Ip>, &'static str) = match (svc.requested_ips.is_empty(), svc.spec_load_balancer_ip) {
        (false, Some(_)) => return Err("both spec.loadBalancerIP and metallb.io/loadBalancerIPs are set".into()),
        (false, None) => (svc.requested_ips.iter().map(|a| Ip::from_addr(*a)).collect(), LB_IPS),
        (true, Some(a)) => (vec![Ip::from_addr(a)], SPEC_LB_IP),
        (true, None) => (Vec::new(), LB_IPS),
    };
    match list.as_slice() {
        [a, b] if a.fam == b.fam => {
            Err(format!("{field} lists two {} addresses ({a}, {b}): at most one address per family", a.fam))
        }
        l if l.len() > 2 => Err(format!("{field} lists {} addresses: at most one IPv4 and one IPv6 address", l.len())),
        _ => Ok((list, field)),
    }
}

fn same_set(a: &[Ip], b: &[Ip]) -> bool {
    let mut x = a.to_vec();
    let mut y = b.to_vec();
    x.sort_unstable();
    y.sort_unstable();
    x == y
}

/// MetalLB's `sharingOK`, with the reason in words.
fn sharing_ok(existing: &Share, new: &Share) -> Result<(), &'static str> {
    match (existing.key.as_deref(), new.key.as_deref()) {
        (None, _) => Err("it does not allow sharing: no metallb.io/allow-shared-ip"),
        (_, None) => Err("this service does not allow sharing: no metallb.io/allow-shared-ip"),
        (Some(a), Some(b)) if !bytes::eq(&a.sharing, &b.sharing) => Err("sharing key differs"),
        (Some(a), Some(b)) if !bytes::eq(&a.backend, &b.backend) => {
            Err("externalTrafficPolicy Local needs the same pod selector on services sharing an address")
        }
        _ => Ok(()),
    }
}

/// ferrolb's default allocator: MetalLB's allocation semantics over per-pool ordered
/// structures. See the crate documentation for the rules and the choices made.
#[derive(Clone, Debug, Default)]
pub struct Allocator {
    pools: Pools,
    services: BTreeMap<Key, u32>,
    slots: Vec<Option<Record>>,
    free_slots: Vec<u32>,
    used: [BTreeMap<u128, Users>; 2],
    groups: BTreeMap<GroupKey, Group>,
}

impl Allocator {
    /// Starts from a configuration and the allocations the host holds. Allocations that no
    /// longer fit are released (never silently dropped); allocations whose pool was renamed or
    /// split are re-homed. Several services may hold the same address (they shared it); their
    /// sharing keys and ports are unknown until each is assigned again, and until then no new
    /// service may join that address.
    ///
    /// Fails with [`InvalidInput`] for a malformed configuration or a service listed twice.
    pub fn open(config: &Config, existing: &[Allocation]) -> Result<(Allocator, ReconfigureOutcome), InvalidInput> {
        let pools = Pools::build(config)?;
        let mut a = Allocator { pools, ..Allocator::default() };
        let mut sorted: Vec<&Allocation> = existing.iter().collect();
        let same = |x: &ServiceId, y: &ServiceId| {
            bytes::cmp(&x.namespace, &y.namespace).then_with(|| bytes::cmp(&x.name, &y.name))
        };
        sorted.sort_by(|x, y| same(&x.service, &y.service));
        if let Some(w) = sorted.windows(2).find(|w| same(&w[0].service, &w[1].service).is_eq()) {
            return Err(InvalidInput(format!("service {} appears twice in the existing allocations", w[0].service)));
        }
        let mut out = ReconfigureOutcome::default();
        let mut keys: Vec<(Key, u32)> = Vec::with_capacity(sorted.len());
        for al in sorted {
            let checked = service_key(&al.service).and_then(|key| {
                let ips: Vec<Ip> = al.ips.iter().map(|i| Ip::from_addr(*i)).collect();
                let well_formed = match ips.as_slice() {
                    [_] => true,
                    [x, y] => x.fam != y.fam,
                    _ => false,
                };
                if !well_formed {
                    return Err(format!(
                        "the stored allocation lists {} addresses: one, or one IPv4 and one IPv6",
                        ips.len()
                    ));
                }
                let pool = a.fit(&key, &ips, None)?;
                Ok((key, ips, pool))
            });
            match checked {
                Ok((key, ips, pool)) => {
                    if !bytes::eq(a.pools.name(pool), &al.pool) {
                        out.rehomed.push(Allocation {
                            service: al.service.clone(),
                            ips: al.ips.clone(),
                            pool: a.pools.name(pool).to_string(),
                        });
                    }
                    let Ok(slot) = u32::try_from(a.slots.len()) else { break };
                    let rec =
                        Record { key: key.clone(), ips: Held::new(&ips), pool, share: Share::unknown(), labels: None };
                    a.slots.push(Some(rec));
                    keys.push((key, slot));
                }
                Err(reason) => out.released.push(Refusal { service: al.service.clone(), reason }),
            }
        }
        // Sorted input: the maps are bulk-built in linear time.
        a.services = keys.into_iter().collect();
        a.rebuild_usage();
        Ok((a, out))
    }

    /// Replaces the configuration. Every allocation stays if one pool still contains all its
    /// addresses (re-homed when that pool has another name) and that pool still admits the
    /// service; otherwise it is released. On [`InvalidInput`] nothing changes.
    pub fn reconfigure(&mut self, config: &Config) -> Result<ReconfigureOutcome, InvalidInput> {
        let pools = Pools::build(config)?;
        let old_pools = core::mem::replace(&mut self.pools, pools);
        let mut out = ReconfigureOutcome::default();
        let mut decisions: Vec<(u32, Result<u16, String>)> = Vec::with_capacity(self.services.len());
        for (key, &slot) in &self.services {
            let Some(rec) = self.rec(slot) else { continue };
            let labels = rec.labels.as_ref().map(|l| l as &dyn Labels);
            let fit = self.fit(key, &rec.ips.to_vec(), labels);
            match &fit {
                Ok(pool) if !bytes::eq(self.pools.name(*pool), old_pools.name(rec.pool)) => {
                    out.rehomed.push(Allocation {
                        service: id_of(key),
                        ips: rec.ips.iter().map(|i| i.to_addr()).collect(),
                        pool: self.pools.name(*pool).to_string(),
                    });
                }
                Ok(_) => {}
                Err(reason) => out.released.push(Refusal { service: id_of(key), reason: reason.clone() }),
            }
            decisions.push((slot, fit));
        }
        for (slot, fit) in decisions {
            match fit {
                Ok(pool) => {
                    if let Some(Some(rec)) = self.slots.get_mut(slot as usize) {
                        rec.pool = pool;
                    }
                }
                Err(_) => {
                    if let Some(rec) = self.slots.get_mut(slot as usize).and_then(Option::take) {
                        self.services.remove(&rec.key);
                        self.free_slots.push(slot);
                    }
                }
            }
        }
        self.rebuild_usage();
        Ok(out)
    }

    /// Rebuilds what follows from the records and the configuration — the users of every
    /// address, the free sets, the sharing groups — in `O(N log N)` with a single sort, rather
    /// than one insertion per allocation (`open` and `reconfigure` of 100k services).
    fn rebuild_usage(&mut self) {
        let mut all: Vec<(Ip, u32)> = Vec::with_capacity(self.services.len() + self.services.len() / 8);
        for (slot, rec) in self.slots.iter().enumerate() {
            let (Some(rec), Ok(slot)) = (rec, u32::try_from(slot)) else { continue };
            all.extend(rec.ips.iter().map(|ip| (ip, slot)));
        }
        all.sort_unstable();
        let mut used: [Vec<(u128, Users)>; 2] = Default::default();
        for &(ip, slot) in &all {
            let list = &mut used[ip.fam.index()];
            match list.last_mut() {
                Some((v, users)) if *v == ip.v => users.push(slot),
                _ => {
                    list.push((ip.v, Users::One(slot)));
                    self.pools.take(ip);
                }
            }
        }
        let [u4, u6] = used;
        self.used = [u4.into_iter().collect(), u6.into_iter().collect()];
        self.groups.clear();
        let mut keyed: Vec<Ip> = Vec::new();
        for (f, map) in self.used.iter().enumerate() {
            let fam = if f == 0 { Family::Ipv4 } else { Family::Ipv6 };
            for (v, users) in map {
                let any_keyed = users.as_slice().iter().any(|u| self.rec(*u).is_some_and(|r| r.share.key.is_some()));
                if any_keyed {
                    keyed.push(Ip { fam, v: *v });
                }
            }
        }
        for ip in keyed {
            self.group_update(ip, true, None);
        }
    }

    /// Decides the addresses of one service (new or changed), replacing its previous allocation
    /// and keeping its addresses when they still satisfy the request. On a refusal the service
    /// holds nothing afterwards (MetalLB clears the status of a service it cannot serve).
    pub fn assign(&mut self, svc: &Service) -> Result<Allocation, Refusal> {
        let refuse = |reason: String| Refusal { service: svc.id.clone(), reason };
        let key = service_key(&svc.id).map_err(refuse)?;
        let (pool, ips) = match self.decide(&key, svc) {
            Ok(x) => x,
            Err(reason) => {
                self.unassign(&key);
                return Err(refuse(reason));
            }
        };
        Ok(Allocation {
            service: svc.id.clone(),
            ips: ips.iter().map(|i| i.to_addr()).collect(),
            pool: self.pools.name(pool).to_string(),
        })
    }

    /// The service is gone: frees its addresses (a no-op for an unknown service).
    pub fn release(&mut self, id: &ServiceId) {
        if let Ok(key) = service_key(id) {
            self.unassign(&key);
        }
    }

    /// Every allocation, sorted by service (namespace, then name).
    pub fn allocations(&self) -> Vec<Allocation> {
        let mut out = Vec::with_capacity(self.services.len());
        for (k, s) in &self.services {
            if let Some(r) = self.rec(*s) {
                out.push(self.allocation_of(k, r));
            }
        }
        out
    }

    /// The allocation of one service.
    pub fn allocation(&self, id: &ServiceId) -> Option<Allocation> {
        let key = service_key(id).ok()?;
        let (k, s) = self.services.get_key_value(&key)?;
        self.rec(*s).map(|r| self.allocation_of(k, r))
    }

    /// How many services hold addresses.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// No service holds an address.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    fn rec(&self, slot: u32) -> Option<&Record> {
        self.slots.get(slot as usize).and_then(Option::as_ref)
    }

    fn allocation_of(&self, key: &Key, r: &Record) -> Allocation {
        Allocation {
            service: id_of(key),
            ips: r.ips.iter().map(|i| i.to_addr()).collect(),
            pool: self.pools.name(r.pool).to_string(),
        }
    }

    // ---- decisions --------------------------------------------------------------------------

    fn decide(&mut self, key: &Key, svc: &Service) -> Result<(u16, Vec<Ip>), String> {
        let (req, field) = requested(svc)?;
        let want = Want::of(svc, &req)?;
        let share = Share::of(svc);
        let labels = CompactLabels::pack(&svc.labels);
        let req_pool = match svc.requested_pool.as_deref().filter(|p| !p.is_empty()) {
            None => ReqPool::None,
            Some(name) => match self.pools.by_name(name) {
                Some(p) => ReqPool::Existing(p),
                None => ReqPool::Missing(name),
            },
        };

        // 1. What the service holds: the allocator's record, else its status (after a restart
        //    without a store), kept if it still satisfies the request.
        let slot = self.services.get(key).copied();
        let recorded = slot.and_then(|s| self.rec(s)).map(|r| r.ips.to_vec());
        let had_record = slot.is_some();
        let held: Vec<Ip> = match recorded {
            Some(ips) => ips,
            None => {
                let mut v: Vec<Ip> = Vec::new();
                for ip in svc.current_ips.iter().map(|a| Ip::from_addr(*a)) {
                    if !v.contains(&ip) {
                        v.push(ip);
                    }
                }
                v
            }
        };
        if !held.is_empty()
            && let Ok(pool) = self.check_held(key, slot, svc, want, &req, req_pool, &held, &share)
        {
            if had_record {
                self.unassign(key);
            }
            let mut ips = want.order(held);
            // PreferDualStack holding one family: add the other from the same pool when it has
            // one free (MetalLB's AllocateFromPoolForAdditionalFamily).
            if want.policy == IpFamilyPolicy::PreferDualStack
                && ips.len() == 1
                && req.is_empty()
                && let Some(extra) = self.candidate(pool, ips[0].fam.other(), &share)
            {
                ips.push(extra);
                ips = want.order(ips);
            }
            self.register(key, &ips, pool, share, labels);
            return Ok((pool, ips));
        }

        // 2. A new allocation (what held no longer fits is released first, as MetalLB clears it).
        if had_record {
            self.unassign(key);
        }
        let labels_view: &[Label] = &svc.labels;
        let (pool, ips) = if !req.is_empty() {
            self.grant_requested(key, labels_view, want, &req, field, req_pool, &share)?
        } else if let ReqPool::Existing(p) = req_pool {
            self.serve_from_pool(p, key, labels_view, want, &share)?
        } else {
            self.auto(key, labels_view, want, &share, req_pool)?
        };
        self.register(key, &ips, pool, share, labels);
        Ok((pool, ips))
    }

    #[allow(clippy::too_many_arguments)]
    fn check_held(
        &self,
        key: &Key,
        slot: Option<u32>,
        svc: &Service,
        want: Want,
        req: &[Ip],
        req_pool: ReqPool<'_>,
        held: &[Ip],
        share: &Share,
    ) -> Result<u16, String> {
        if !want.held_fits(held) {
            return Err("the held addresses do not fit the service's IP families".into());
        }
        let pool = self.fit(key, held, Some(&LabelSlice(&svc.labels)))?;
        if let ReqPool::Existing(p) = req_pool
            && p != pool
        {
            return Err(format!("another pool ({}) is requested", self.pools.name(p)));
        }
        if !req.is_empty() && !same_set(req, held) {
            return Err("other addresses are requested".into());
        }
        for &ip in held {
            self.check_share(ip, slot, share)?;
        }
        Ok(pool)
    }

    /// The pool that contains every one of `ips` and admits the service.
    fn fit(&self, key: &Key, ips: &[Ip], labels: Option<&dyn Labels>) -> Result<u16, String> {
        let mut found: Option<(u16, Ip)> = None;
        for &ip in ips {
            match self.pools.locate(ip) {
                Located::In { pool, .. } => match found {
                    Some((q, first)) if q != pool => {
                        return Err(format!(
                            "{first} and {ip} are not in the same pool any more ({} and {})",
                            self.pools.name(q),
                            self.pools.name(pool)
                        ));
                    }
                    _ => found = Some((pool, ip)),
                },
                Located::Avoided { pool } => {
                    return Err(format!(
                        "{ip} is not usable any more: pool {} has avoidBuggyIPs (no .0 or .255 addresses)",
                        self.pools.name(pool)
                    ));
                }
                Located::Nowhere => return Err(format!("{ip} is not in any pool any more")),
            }
        }
        let Some((pool, _)) = found else { return Err("no address".into()) };
        if !self.pools.admits(pool, namespace_of(key), labels) {
            return Err(format!("pool {} does not admit {} any more", self.pools.name(pool), Who(key)));
        }
        Ok(pool)
    }

    /// Rule 1: the requested addresses, from whichever pool contains them (autoAssign
    /// notwithstanding), if that pool admits the service and the sharing rules allow it.
    #[allow(clippy::too_many_arguments)]
    fn grant_requested(
        &mut self,
        key: &Key,
        labels: &[Label],
        want: Want,
        req: &[Ip],
        field: &str,
        req_pool: ReqPool<'_>,
        share: &Share,
    ) -> Result<(u16, Vec<Ip>), String> {
        want.check_request(req, field)?;
        let mut found: Option<(u16, Ip)> = None;
        for &ip in req {
            let loc = self.pools.locate(ip);
            if let ReqPool::Existing(rp) = req_pool {
                let inside = match loc {
                    Located::In { pool, .. } | Located::Avoided { pool } => pool == rp,
                    Located::Nowhere => false,
                };
                if !inside {
                    return Err(format!("{ip} is not in pool {}", self.pools.name(rp)));
                }
            }
            match loc {
                Located::In { pool, .. } => match found {
                    Some((q, first)) if q != pool => {
                        return Err(format!(
                            "{first} and {ip} are not in the same pool ({} and {}): a service's addresses come from one pool",
                            self.pools.name(q),
                            self.pools.name(pool)
                        ));
                    }
                    _ => found = Some((pool, ip)),
                },
                Located::Avoided { pool } => {
                    return Err(format!(
                        "{ip} is not usable: pool {} has avoidBuggyIPs (no .0 or .255 addresses)",
                        self.pools.name(pool)
                    ));
                }
                Located::Nowhere => return Err(format!("{ip} is not in any pool")),
            }
        }
        let Some((pool, _)) = found else { return Err(format!("{field} is empty")) };
        if !self.pools.admits(pool, namespace_of(key), Some(&LabelSlice(labels))) {
            return Err(format!(
                "pool {} does not admit {} (its serviceAllocation excludes it)",
                self.pools.name(pool),
                Who(key)
            ));
        }
        for &ip in req {
            self.check_share(ip, None, share)?;
        }
        Ok((pool, want.order(req.to_vec())))
    }

    /// Rule 2: any address of the requested pool (autoAssign notwithstanding).
    fn serve_from_pool(
        &mut self,
        pool: u16,
        key: &Key,
        labels: &[Label],
        want: Want,
        share: &Share,
    ) -> Result<(u16, Vec<Ip>), String> {
        if !self.pools.admits(pool, namespace_of(key), Some(&LabelSlice(labels))) {
            return Err(format!(
                "pool {} does not admit {} (its serviceAllocation excludes it)",
                self.pools.name(pool),
                Who(key)
            ));
        }
        let ips = self.pick_in_pool(pool, want, share)?;
        Ok((pool, ips))
    }

    /// Rule 3: the autoAssign pools whose serviceAllocation admits the service (priority, then
    /// name), then the autoAssign pools without serviceAllocation (name).
    fn auto(
        &mut self,
        key: &Key,
        labels: &[Label],
        want: Want,
        share: &Share,
        req_pool: ReqPool<'_>,
    ) -> Result<(u16, Vec<Ip>), String> {
        let prefix = match req_pool {
            ReqPool::Missing(name) => format!(
                "pool {name} (metallb.io/address-pool) does not exist, so any autoAssign pool may serve {} \
                 (MetalLB's documented fallback): ",
                Who(key)
            ),
            _ => String::new(),
        };
        let ns = namespace_of(key);
        let pinned: Vec<u16> = self
            .pools
            .auto_sa
            .iter()
            .copied()
            .filter(|p| self.pools.admits(*p, ns, Some(&LabelSlice(labels))))
            .collect();
        let plain = self.pools.auto_plain.clone();
        if pinned.is_empty() && plain.is_empty() {
            let detail = if self.pools.list.is_empty() {
                ": no IPAddressPool is configured"
            } else if self.pools.auto_sa.is_empty() {
                ": every pool has autoAssign false (request one with metallb.io/address-pool or metallb.io/loadBalancerIPs)"
            } else {
                ": the serviceAllocation of every autoAssign pool excludes it"
            };
            return Err(format!("{prefix}no pool admits {}{detail}", Who(key)));
        }
        for tier in [&pinned, &plain] {
            if let Some(found) = self.choose(tier, want, share) {
                return Ok(found);
            }
        }
        let mut reasons: Vec<String> = Vec::new();
        for &p in pinned.iter().chain(plain.iter()) {
            let r = self.pool_reason(p, want, share);
            reasons.push(r);
        }
        Err(format!("{prefix}no address available for {}: {}", Who(key), reasons.join("; ")))
    }

    /// The first pool of `tier` that serves the family policy (MetalLB's
    /// `findBestPoolForService`): SingleStack — the first with a free primary address;
    /// RequireDualStack — the first with both; PreferDualStack — the first with both, else the
    /// first with the primary family, else the first with the secondary.
    fn choose(&mut self, tier: &[u16], want: Want, share: &Share) -> Option<(u16, Vec<Ip>)> {
        let mut first_primary: Option<(u16, Ip)> = None;
        let mut first_secondary: Option<(u16, Ip)> = None;
        for &p in tier {
            let a = self.candidate(p, want.primary, share);
            match want.policy {
                IpFamilyPolicy::SingleStack => {
                    if let Some(a) = a {
                        return Some((p, vec![a]));
                    }
                }
                IpFamilyPolicy::RequireDualStack => {
                    if let Some(a) = a
                        && let Some(b) = self.candidate(p, want.secondary(), share)
                    {
                        return Some((p, vec![a, b]));
                    }
                }
                IpFamilyPolicy::PreferDualStack => {
                    let b = self.candidate(p, want.secondary(), share);
                    match (a, b) {
                        (Some(a), Some(b)) => return Some((p, vec![a, b])),
                        (Some(a), None) => {
                            first_primary.get_or_insert((p, a));
                        }
                        (None, Some(b)) => {
                            first_secondary.get_or_insert((p, b));
                        }
                        (None, None) => {}
                    }
                }
            }
        }
        first_primary.or(first_secondary).map(|(p, ip)| (p, vec![ip]))
    }

    fn pick_in_pool(&mut self, pool: u16, want: Want, share: &Share) -> Result<Vec<Ip>, String> {
        let a = self.candidate(pool, want.primary, share);
        match want.policy {
            IpFamilyPolicy::SingleStack => a.map(|a| vec![a]).ok_or_else(|| self.full(pool, want.primary)),
            IpFamilyPolicy::RequireDualStack => {
                let a = a.ok_or_else(|| self.full(pool, want.primary))?;
                let b =
                    self.candidate(pool, want.secondary(), share).ok_or_else(|| self.full(pool, want.secondary()))?;
                Ok(vec![a, b])
            }
            IpFamilyPolicy::PreferDualStack => match (a, self.candidate(pool, want.secondary(), share)) {
                (Some(a), Some(b)) => Ok(vec![a, b]),
                (Some(x), None) | (None, Some(x)) => Ok(vec![x]),
                (None, None) => Err(self.full_any(pool)),
            },
        }
    }

    /// Why pool `p` could not serve the service.
    fn pool_reason(&mut self, p: u16, want: Want, share: &Share) -> String {
        match want.policy {
            IpFamilyPolicy::SingleStack => self.full(p, want.primary),
            IpFamilyPolicy::RequireDualStack => {
                if self.candidate(p, want.primary, share).is_none() {
                    self.full(p, want.primary)
                } else {
                    self.full(p, want.secondary())
                }
            }
            IpFamilyPolicy::PreferDualStack => self.full_any(p),
        }
    }

    fn full(&self, p: u16, fam: Family) -> String {
        let name = self.pools.name(p);
        if self.pools.pool(p).is_some_and(|x| x.has_family(fam)) {
            format!("pool {name} is full (no free {fam} address)")
        } else {
            format!("pool {name} has no {fam} addresses")
        }
    }

    fn full_any(&self, p: u16) -> String {
        let name = self.pools.name(p);
        match self.pools.pool(p) {
            Some(x) if x.has_family(Family::Ipv4) || x.has_family(Family::Ipv6) => format!("pool {name} is full"),
            _ => format!("pool {name} has no addresses"),
        }
    }

    /// MetalLB's `getIPFromCIDR` over a pool's blocks of one family: the first address, in
    /// allocation order, that is free or shareable by this service. Nothing is reserved.
    fn candidate(&mut self, pool: u16, fam: Family, share: &Share) -> Option<Ip> {
        let free = self.pools.lowest_free(pool, fam);
        if let Some(k) = share.key.as_deref() {
            let ports = share.ports.as_slice();
            let gk = GroupKey { pool, fam, sharing: k.sharing.clone(), backend: k.backend.clone() };
            if let Some(g) = self.groups.get(&gk) {
                let n = g.addrs.len();
                let saturated =
                    ports.iter().any(|p| g.port_users.get(p).is_some_and(|c| usize::try_from(*c).unwrap_or(0) >= n));
                if !saturated {
                    for &(b, a) in &g.addrs {
                        if free.is_some_and(|f| (b, a) >= f) {
                            break;
                        }
                        let ip = Ip { fam, v: a };
                        if self.ports_free_at(ip, ports) {
                            return Some(ip);
                        }
                    }
                }
            }
        }
        free.map(|(_, a)| Ip { fam, v: a })
    }

    /// No user of `ip` uses any of `ports`.
    fn ports_free_at(&self, ip: Ip, ports: &[u32]) -> bool {
        let Some(users) = self.used[ip.fam.index()].get(&ip.v) else { return true };
        users.as_slice().iter().all(|u| self.rec(*u).is_none_or(|r| common(r.share.ports.as_slice(), ports).is_none()))
    }

    /// MetalLB's `checkSharing`: may the service in slot `me` (`None`: a service without an
    /// allocation) use `ip` besides its current users?
    fn check_share(&self, ip: Ip, me: Option<u32>, share: &Share) -> Result<(), String> {
        let Some(users) = self.used[ip.fam.index()].get(&ip.v) else { return Ok(()) };
        let is_user = me.is_some_and(|m| users.contains(m));
        for &u in users.as_slice() {
            if Some(u) == me {
                continue;
            }
            let Some(rec) = self.rec(u) else { continue };
            let who = Who(&rec.key);
            if !rec.share.known {
                if is_user {
                    // Restored together from the store: trusted until `who` is assigned again.
                    continue;
                }
                return Err(format!(
                    "{ip} is already in use by {who} (restored from the host's store: it can be shared once {who} \
                     has been assigned again)"
                ));
            }
            sharing_ok(&rec.share, share).map_err(|why| format!("{ip} is already in use by {who} ({why})"))?;
            if let Some(p) = common(rec.share.ports.as_slice(), share.ports.as_slice()) {
                return Err(format!("{ip} is already in use by {who} (both use port {})", PortName(p)));
            }
        }
        Ok(())
    }

    // ---- bookkeeping ------------------------------------------------------------------------

    fn register(&mut self, key: &Key, ips: &[Ip], pool: u16, share: Share, labels: Option<CompactLabels>) {
        // A service without a sharing key (or a restored one, whose key is unknown) makes every
        // address it uses a non-member of the sharing groups, before and after: no group update.
        let keyed = share.key.is_some();
        let rec = Record { key: key.clone(), ips: Held::new(ips), pool, share, labels };
        let slot = match self.free_slots.pop() {
            Some(s) if (s as usize) < self.slots.len() => {
                self.slots[s as usize] = Some(rec);
                s
            }
            _ => {
                let Ok(s) = u32::try_from(self.slots.len()) else { return };
                self.slots.push(Some(rec));
                s
            }
        };
        self.services.insert(key.clone(), slot);
        for &ip in ips {
            if keyed {
                self.group_update(ip, false, None);
            }
            let users = &mut self.used[ip.fam.index()];
            match users.get_mut(&ip.v) {
                Some(u) => u.push(slot),
                None => {
                    users.insert(ip.v, Users::One(slot));
                    self.pools.take(ip);
                }
            }
            if keyed {
                self.group_update(ip, true, None);
            }
        }
    }

    fn unassign(&mut self, key: &Key) {
        let Some(slot) = self.services.remove(key) else { return };
        let Some(rec) = self.slots.get_mut(slot as usize).and_then(Option::take) else { return };
        self.free_slots.push(slot);
        let keyed = rec.share.key.is_some();
        for ip in rec.ips.iter() {
            if keyed {
                self.group_update(ip, false, Some((slot, &rec)));
            }
            let users = &mut self.used[ip.fam.index()];
            let now_empty = users.get_mut(&ip.v).is_some_and(|u| u.remove(slot));
            if now_empty {
                users.remove(&ip.v);
                self.pools.give_back(ip);
            } else {
                self.group_update(ip, true, None);
            }
        }
    }

    /// The sharing group `ip` belongs to, with its position and the ports used on it: only when
    /// every user is known and has a sharing key.
    ///
    /// `gone` is a service whose record was just taken out of its slot but which still uses `ip`.
    fn membership(&self, ip: Ip, gone: Option<(u32, &Record)>) -> Option<(GroupKey, (u32, u128), Vec<u32>)> {
        let users = self.used[ip.fam.index()].get(&ip.v)?;
        let Located::In { pool, block } = self.pools.locate(ip) else { return None };
        let mut key: Option<&ShareKey> = None;
        let mut ports = Vec::new();
        for &u in users.as_slice() {
            let rec = match gone {
                Some((s, r)) if s == u => r,
                _ => self.rec(u)?,
            };
            if !rec.share.known {
                return None;
            }
            let k = rec.share.key.as_deref()?;
            key.get_or_insert(k);
            ports.extend_from_slice(rec.share.ports.as_slice());
        }
        let k = key?;
        Some((
            GroupKey { pool, fam: ip.fam, sharing: k.sharing.clone(), backend: k.backend.clone() },
            (block, ip.v),
            ports,
        ))
    }

    /// Leaves (`enter == false`) or enters the sharing group of `ip` as its users are now.
    fn group_update(&mut self, ip: Ip, enter: bool, gone: Option<(u32, &Record)>) {
        let Some((gk, pos, ports)) = self.membership(ip, gone) else { return };
        if enter {
            let g = self.groups.entry(gk).or_default();
            g.addrs.insert(pos);
            for p in ports {
                *g.port_users.entry(p).or_insert(0) += 1;
            }
        } else if let Some(g) = self.groups.get_mut(&gk) {
            g.addrs.remove(&pos);
            for p in ports {
                if let Some(c) = g.port_users.get_mut(&p) {
                    *c = c.saturating_sub(1);
                    if *c == 0 {
                        g.port_users.remove(&p);
                    }
                }
            }
            if g.addrs.is_empty() {
                self.groups.remove(&gk);
            }
        }
    }

    /// Internal consistency (tests): every user has a record, every record's addresses list it,
    /// used addresses are not free, and the sharing groups match a rebuild.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        for (key, &slot) in &self.services {
            let rec = self.rec(slot).expect("a mapped slot holds a record");
            assert!(rec.key == *key);
            assert!(!self.free_slots.contains(&slot));
            for ip in rec.ips.iter() {
                let users = self.used[ip.fam.index()].get(&ip.v).expect("record address is used");
                assert!(users.contains(slot), "{} not a user of {ip}", Who(key));
                assert!(matches!(self.pools.locate(ip), Located::In { pool, .. } if pool == rec.pool));
            }
        }
        assert_eq!(self.services.len() + self.free_slots.len(), self.slots.len());
        type Rebuilt = BTreeMap<GroupKey, (BTreeSet<(u32, u128)>, BTreeMap<u32, u32>)>;
        let mut rebuilt: Rebuilt = BTreeMap::new();
        for (f, map) in self.used.iter().enumerate() {
            for (v, users) in map {
                let fam = if f == 0 { Family::Ipv4 } else { Family::Ipv6 };
                for &u in users.as_slice() {
                    let rec = self.rec(u).expect("user has a record");
                    assert!(rec.ips.iter().any(|i| i == Ip { fam, v: *v }));
                }
                if let Some((gk, pos, ports)) = self.membership(Ip { fam, v: *v }, None) {
                    let e = rebuilt.entry(gk).or_default();
                    e.0.insert(pos);
                    for p in ports {
                        *e.1.entry(p).or_insert(0) += 1;
                    }
                }
            }
        }
        assert_eq!(rebuilt.len(), self.groups.len(), "group count");
        for (gk, (addrs, ports)) in rebuilt {
            let g = self.groups.get(&gk).expect("group present");
            assert_eq!(g.addrs, addrs);
            assert_eq!(g.port_users, ports);
        }
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    fn ip(s: &str) -> Ip {
        Ip::from_addr(s.parse().expect("address"))
    }

    #[test]
    fn held_packs_both_orders() {
        for list in
            [vec!["192.0.2.1"], vec!["2001:db8::1"], vec!["192.0.2.1", "2001:db8::1"], vec!["2001:db8::1", "192.0.2.1"]]
        {
            let ips: Vec<Ip> = list.iter().map(|s| ip(s)).collect();
            assert_eq!(Held::new(&ips).to_vec(), ips);
        }
        let max = [ip("255.255.255.255"), ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")];
        assert_eq!(Held::new(&max).to_vec(), max);
    }

    #[test]
    fn ports_inline_and_boxed() {
        for n in 0..5u32 {
            let v: Vec<u32> = (0..n).collect();
            assert_eq!(Ports::new(v.clone()).as_slice(), v.as_slice());
        }
    }

    #[test]
    fn users_grow_and_shrink() {
        let mut u = Users::One(3);
        u.push(7);
        u.push(9);
        assert_eq!(u.as_slice(), [3, 7, 9]);
        assert!(!u.remove(7));
        assert!(!u.remove(3));
        assert!(matches!(u, Users::One(9)));
        assert!(!u.remove(4));
        assert!(u.remove(9));
    }

    #[test]
    fn common_ports() {
        assert_eq!(common(&[1, 3, 5], &[2, 4, 5]), Some(5));
        assert_eq!(common(&[1, 3], &[2, 4]), None);
        assert_eq!(common(&[], &[1]), None);
        assert_eq!(PortName(port_code(Protocol::Udp, 53)).to_string(), "UDP/53");
        assert_eq!(PortName(port_code(Protocol::Sctp, 9)).to_string(), "SCTP/9");
    }

    #[test]
    fn backend_key_is_the_sorted_selector_only_with_local() {
        let mut s = Service::new("a", "b");
        s.selector = vec![Label::new("z", "1"), Label::new("a", "2")];
        assert_eq!(backend_key(&s), "");
        s.traffic_policy = TrafficPolicy::Local;
        assert_eq!(backend_key(&s), "a=2,z=1");
    }

    #[test]
    fn service_keys_order_like_namespace_then_name() {
        let k = |ns: &str, n: &str| service_key(&ServiceId::new(ns, n)).expect("no NUL");
        assert!(k("a", "z") < k("a-b", "a"));
        assert!(k("a", "b") < k("a", "c"));
        assert!(k("", "x") < k("a", "a"));
        assert_eq!(id_of(&k("ns", "name")), ServiceId::new("ns", "name"));
        assert_eq!(Who(&k("", "x")).to_string(), "x");
        assert_eq!(Who(&k("ns", "x")).to_string(), "ns/x");
        assert!(service_key(&ServiceId::new("a\0b", "c")).is_err());
    }
}
