//! One configuration, validated and indexed: pools sorted by name, their blocks split by family
//! in manifest order with a [`FreeSet`] each, an index from address to (pool, block), the
//! auto-assignment candidate lists in their fixed order, and the namespaces' labels.
//!
//! Per-call costs: locating an address is `O(log B)` (B = blocks of all pools); the lowest free
//! address of a pool and family is `O(log b + log k)` (the first block with free addresses, then
//! its first free interval) — independent of how many addresses are allocated.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::addr::{Ip, bits, host_mask};
use crate::bytes;
use crate::freeset::FreeSet;
#[cfg(test)]
use crate::selector::LabelSlice;
use crate::selector::{Labels, NamespaceLabels, matches};
use crate::types::{AddressBlock, Config, Family, InvalidInput, Label, ServiceAllocation};

/// The most pools one configuration may hold (pool indices are `u16`).
const MAX_POOLS: usize = u16::MAX as usize;

/// One address block of a pool.
#[derive(Clone, Debug)]
pub(crate) struct BlockRt {
    /// The free addresses of the block.
    pub free: FreeSet,
}

/// The blocks of one family of one pool, in manifest order.
#[derive(Clone, Debug, Default)]
pub(crate) struct FamRt {
    /// The blocks; the index is the block's rank in allocation order.
    pub blocks: Vec<BlockRt>,
    /// Indices of blocks that may still have a free address (exact except for IPv4 blocks of an
    /// `avoidBuggyIPs` pool, whose .0/.255 addresses are pruned lazily).
    pub nonfull: BTreeSet<u32>,
}

impl FamRt {
    /// The first free, usable address in allocation order: (block index, address).
    ///
    /// `.0`/`.255` addresses of an `avoidBuggyIPs` pool are dropped from the free set the first
    /// time they come up (amortised O(1): each is dropped once), so this never scans.
    pub fn lowest_free(&mut self, fam: Family, avoid_buggy: bool) -> Option<(u32, u128)> {
        loop {
            let b = *self.nonfull.first()?;
            let Some(block) = self.blocks.get_mut(b as usize) else {
                self.nonfull.remove(&b);
                continue;
            };
            match block.free.first() {
                None => {
                    self.nonfull.remove(&b);
                }
                Some(a) if avoid_buggy && (Ip { fam, v: a }).is_buggy() => {
                    block.free.remove(a);
                    if block.free.is_empty() {
                        self.nonfull.remove(&b);
                    }
                }
                Some(a) => return Some((b, a)),
            }
        }
    }

    /// Marks `a` of block `b` used.
    pub fn take(&mut self, b: u32, a: u128) {
        if let Some(block) = self.blocks.get_mut(b as usize) {
            block.free.remove(a);
            if block.free.is_empty() {
                self.nonfull.remove(&b);
            }
        }
    }

    /// Marks `a` of block `b` free again.
    pub fn give_back(&mut self, b: u32, a: u128) {
        if let Some(block) = self.blocks.get_mut(b as usize) {
            block.free.insert(a);
            self.nonfull.insert(b);
        }
    }
}

/// A pool with its runtime structures.
#[derive(Clone, Debug)]
pub(crate) struct PoolRt {
    /// `metadata.name`.
    pub name: String,
    /// `spec.autoAssign`.
    pub auto_assign: bool,
    /// `spec.avoidBuggyIPs`.
    pub avoid_buggy: bool,
    /// `spec.serviceAllocation`.
    pub sa: Option<ServiceAllocation>,
    /// IPv4 and IPv6 blocks.
    pub fams: [FamRt; 2],
}

impl PoolRt {
    /// Whether the pool has any address of `fam`.
    pub fn has_family(&self, fam: Family) -> bool {
        !self.fams[fam.index()].blocks.is_empty()
    }
}

/// Where an address is in the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Located {
    /// In block `block` of pool `pool`, and usable.
    In {
        /// Pool index.
        pool: u16,
        /// Block index within the pool's family.
        block: u32,
    },
    /// In a block of `pool`, but a .0/.255 address the pool avoids.
    Avoided {
        /// Pool index.
        pool: u16,
    },
    /// In no pool.
    Nowhere,
}

/// A validated, indexed configuration.
#[derive(Clone, Debug, Default)]
pub(crate) struct Pools {
    /// Pools sorted by name.
    pub list: Vec<PoolRt>,
    /// (name, index into `list`), sorted by name.
    by_name: Vec<(String, u16)>,
    /// Per family: first address of a block → (last address, pool, block index).
    index: [BTreeMap<u128, (u128, u16, u32)>; 2],
    /// autoAssign pools with a serviceAllocation that selects namespaces or services, by
    /// priority (unset/0 last) then name.
    pub auto_sa: Vec<u16>,
    /// autoAssign pools without a serviceAllocation, by name.
    pub auto_plain: Vec<u16>,
    /// (namespace name, labels), sorted by name.
    namespaces: Vec<(String, Vec<Label>)>,
}

/// The bounds of a block, checked.
fn bounds(pool: &str, block: &AddressBlock) -> Result<(Family, u128, u128), InvalidInput> {
    match *block {
        AddressBlock::Cidr { address, prefix_len } => {
            let ip = Ip::from_addr(address);
            if prefix_len > bits(ip.fam) {
                return Err(InvalidInput(format!(
                    "pool {pool}: prefix {address}/{prefix_len} is longer than {} bits",
                    bits(ip.fam)
                )));
            }
            let mask = host_mask(ip.fam, prefix_len);
            if ip.v & mask != 0 {
                return Err(InvalidInput(format!("pool {pool}: {address}/{prefix_len} has host bits set")));
            }
            Ok((ip.fam, ip.v, ip.v | mask))
        }
        AddressBlock::Range { first, last } => {
            let (a, b) = (Ip::from_addr(first), Ip::from_addr(last));
            if a.fam != b.fam {
                return Err(InvalidInput(format!("pool {pool}: range {first}-{last} mixes IPv4 and IPv6")));
            }
            if a.v > b.v {
                return Err(InvalidInput(format!("pool {pool}: range {first}-{last} ends before it starts")));
            }
            Ok((a.fam, a.v, b.v))
        }
    }
}

/// MetalLB's priority order: a positive or negative number ranks by value; unset and `0` (which
/// MetalLB cannot tell apart from unset) rank after every number.
fn priority_rank(sa: Option<&ServiceAllocation>) -> (u8, i32) {
    match sa.and_then(|s| s.priority) {
        Some(p) if p != 0 => (0, p),
        _ => (1, 0),
    }
}

impl Pools {
    /// Validates and indexes a configuration.
    pub fn build(config: &Config) -> Result<Pools, InvalidInput> {
        if config.pools.len() > MAX_POOLS {
            return Err(InvalidInput(format!("{} pools: at most {MAX_POOLS} are supported", config.pools.len())));
        }
        let mut order: Vec<usize> = (0..config.pools.len()).collect();
        order.sort_by(|a, b| bytes::cmp(&config.pools[*a].name, &config.pools[*b].name));
        let mut p = Pools::default();
        // (family, first, last, pool index) of every block, for the overlap check.
        let mut all: Vec<(Family, u128, u128, u16)> = Vec::new();
        for (pi, &ci) in order.iter().enumerate() {
            let def = &config.pools[ci];
            let pi = u16::try_from(pi).map_err(|_| InvalidInput("too many pools".into()))?;
            if p.by_name.last().is_some_and(|(prev, _)| bytes::eq(prev, &def.name)) {
                return Err(InvalidInput(format!("pool {} is defined twice", def.name)));
            }
            p.by_name.push((def.name.clone(), pi));
            let mut fams: [FamRt; 2] = Default::default();
            for block in &def.addresses {
                let (fam, first, last) = bounds(&def.name, block)?;
                let fr = &mut fams[fam.index()];
                let bi = u32::try_from(fr.blocks.len()).map_err(|_| InvalidInput("too many blocks".into()))?;
                fr.blocks.push(BlockRt { free: FreeSet::full(first, last) });
                fr.nonfull.insert(bi);
                p.index[fam.index()].insert(first, (last, pi, bi));
                all.push((fam, first, last, pi));
            }
            p.list.push(PoolRt {
                name: def.name.clone(),
                auto_assign: def.auto_assign,
                avoid_buggy: def.avoid_buggy_ips,
                sa: def.service_allocation.clone(),
                fams,
            });
        }
        all.sort_unstable();
        for w in all.windows(2) {
            let (fam, _, last, pa) = w[0];
            let (fam2, first, _, pb) = w[1];
            if fam == fam2 && first <= last {
                let at = Ip { fam, v: first };
                let (a, b) = (&p.list[usize::from(pa)].name, &p.list[usize::from(pb)].name);
                return Err(InvalidInput(if pa == pb {
                    format!("pool {a} lists {at} twice (its address blocks overlap)")
                } else {
                    format!("pools {a} and {b} overlap at {at}")
                }));
            }
        }
        let mut sa_pools: Vec<u16> = Vec::new();
        for (i, pool) in p.list.iter().enumerate() {
            let Ok(i) = u16::try_from(i) else { continue };
            if !pool.auto_assign {
                continue;
            }
            match &pool.sa {
                None => p.auto_plain.push(i),
                // MetalLB's `pinnedPoolsForService` only finds pools through their namespaces
                // (listed or selected) or their service selectors; a serviceAllocation with
                // neither (only a priority) is never used for automatic assignment.
                Some(sa)
                    if !sa.namespaces.is_empty()
                        || !sa.namespace_selectors.is_empty()
                        || !sa.service_selectors.is_empty() =>
                {
                    sa_pools.push(i)
                }
                Some(_) => {}
            }
        }
        // Stable sort: equal priorities keep name order.
        sa_pools.sort_by_key(|i| priority_rank(p.list[usize::from(*i)].sa.as_ref()));
        p.auto_sa = sa_pools;
        // A namespace listed twice: the last entry wins.
        for ns in &config.namespaces {
            match p.namespaces.binary_search_by(|(n, _)| bytes::cmp(n, &ns.name)) {
                Ok(i) => p.namespaces[i].1 = ns.labels.clone(),
                Err(i) => p.namespaces.insert(i, (ns.name.clone(), ns.labels.clone())),
            }
        }
        Ok(p)
    }

    /// The index of the pool called `name`.
    pub fn by_name(&self, name: &str) -> Option<u16> {
        self.by_name
            .binary_search_by(|(n, _)| bytes::cmp(n, name))
            .ok()
            .and_then(|i| self.by_name.get(i))
            .map(|(_, p)| *p)
    }

    /// The labels of namespace `ns` (`None` if the configuration does not list it).
    fn namespace_labels(&self, ns: &str) -> Option<&[Label]> {
        let i = self.namespaces.binary_search_by(|(n, _)| bytes::cmp(n, ns)).ok()?;
        self.namespaces.get(i).map(|(_, l)| l.as_slice())
    }

    /// The pool at `i` (always valid for indices this configuration handed out).
    pub fn pool(&self, i: u16) -> Option<&PoolRt> {
        self.list.get(usize::from(i))
    }

    /// The name of pool `i` (empty if out of range).
    pub fn name(&self, i: u16) -> &str {
        self.pool(i).map_or("", |p| p.name.as_str())
    }

    /// Where `ip` is.
    pub fn locate(&self, ip: Ip) -> Located {
        let Some((_, &(last, pool, block))) = self.index[ip.fam.index()].range(..=ip.v).next_back() else {
            return Located::Nowhere;
        };
        if ip.v > last {
            return Located::Nowhere;
        }
        if self.pool(pool).is_some_and(|p| p.avoid_buggy) && ip.is_buggy() {
            return Located::Avoided { pool };
        }
        Located::In { pool, block }
    }

    /// Whether pool `i`'s serviceAllocation admits a service of namespace `ns` with `labels`
    /// (`None`: labels unknown, only the namespace is checked).
    ///
    /// The namespace must be listed in `namespaces` or matched by one of `namespaceSelectors`
    /// (when either is set; selectors match only namespaces the configuration lists, as MetalLB
    /// matches them against the existing Namespace objects), and one of `serviceSelectors` must
    /// match (when any is set).
    pub fn admits(&self, i: u16, ns: &str, labels: Option<&dyn Labels>) -> bool {
        let Some(pool) = self.pool(i) else { return false };
        let Some(sa) = &pool.sa else { return true };
        let ns_ok = (sa.namespaces.is_empty() && sa.namespace_selectors.is_empty())
            || sa.namespaces.iter().any(|n| bytes::eq(n, ns))
            || self.namespace_labels(ns).is_some_and(|labels| {
                let view = NamespaceLabels { name: ns, labels };
                sa.namespace_selectors.iter().any(|s| matches(s, &view))
            });
        let svc_ok = sa.service_selectors.is_empty()
            || labels.is_none_or(|l| sa.service_selectors.iter().any(|s| matches(s, l)));
        ns_ok && svc_ok
    }

    /// The lowest free usable address of pool `i`, family `fam`: (block, address).
    pub fn lowest_free(&mut self, i: u16, fam: Family) -> Option<(u32, u128)> {
        let pool = self.list.get_mut(usize::from(i))?;
        let avoid = pool.avoid_buggy;
        pool.fams[fam.index()].lowest_free(fam, avoid)
    }

    /// Marks `ip` used (it must be `Located::In`).
    pub fn take(&mut self, ip: Ip) {
        if let Located::In { pool, block } = self.locate(ip)
            && let Some(p) = self.list.get_mut(usize::from(pool))
        {
            p.fams[ip.fam.index()].take(block, ip.v);
        }
    }

    /// Marks `ip` free again.
    pub fn give_back(&mut self, ip: Ip) {
        if let Located::In { pool, block } = self.locate(ip)
            && let Some(p) = self.list.get_mut(usize::from(pool))
        {
            p.fams[ip.fam.index()].give_back(block, ip.v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{AddressPool, LabelSelector, NamespaceInfo};
    use alloc::vec;

    fn cidr(s: &str) -> AddressBlock {
        let (a, l) = s.split_once('/').expect("cidr");
        AddressBlock::Cidr { address: a.parse().expect("addr"), prefix_len: l.parse().expect("len") }
    }

    fn ip(s: &str) -> Ip {
        Ip::from_addr(s.parse().expect("addr"))
    }

    #[test]
    fn invalid_blocks_are_refused() {
        let bad = |b: AddressBlock| {
            Pools::build(&Config { pools: vec![AddressPool::new("p", vec![b])], ..Default::default() })
        };
        assert!(bad(cidr("192.0.2.0/33")).is_err());
        assert!(bad(cidr("192.0.2.1/24")).is_err());
        assert!(bad(cidr("2001:db8::/129")).is_err());
        let r = |a: &str, b: &str| AddressBlock::Range { first: a.parse().expect("a"), last: b.parse().expect("b") };
        assert!(bad(r("192.0.2.9", "192.0.2.1")).is_err());
        assert!(bad(r("192.0.2.1", "2001:db8::1")).is_err());
        assert!(bad(r("192.0.2.1", "192.0.2.1")).is_ok());
    }

    #[test]
    fn overlaps_and_duplicates_are_refused() {
        let two = |a: &str, b: &str| Config {
            pools: vec![AddressPool::new("a", vec![cidr(a)]), AddressPool::new("b", vec![cidr(b)])],
            ..Default::default()
        };
        let e = Pools::build(&two("192.0.2.0/24", "192.0.2.128/25")).expect_err("overlap");
        assert!(e.0.contains("pools a and b overlap"), "{e}");
        assert!(Pools::build(&two("192.0.2.0/25", "192.0.2.128/25")).is_ok());
        assert!(Pools::build(&two("192.0.2.0/24", "2001:db8::/120")).is_ok());
        let dup = Config {
            pools: vec![AddressPool::new("a", vec![cidr("10.0.0.0/8")]), AddressPool::new("a", vec![])],
            ..Default::default()
        };
        assert!(Pools::build(&dup).is_err());
    }

    #[test]
    fn locate_finds_pool_and_block() {
        let mut a = AddressPool::new("a", vec![cidr("10.0.0.0/24"), cidr("2001:db8::/64"), cidr("10.0.2.0/24")]);
        a.avoid_buggy_ips = true;
        let cfg = Config { pools: vec![a, AddressPool::new("b", vec![cidr("10.0.1.0/24")])], ..Default::default() };
        let p = Pools::build(&cfg).expect("valid");
        assert_eq!(p.locate(ip("10.0.0.5")), Located::In { pool: 0, block: 0 });
        assert_eq!(p.locate(ip("10.0.2.5")), Located::In { pool: 0, block: 1 });
        assert_eq!(p.locate(ip("10.0.1.0")), Located::In { pool: 1, block: 0 });
        assert_eq!(p.locate(ip("10.0.0.255")), Located::Avoided { pool: 0 });
        assert_eq!(p.locate(ip("10.0.3.1")), Located::Nowhere);
        assert_eq!(p.locate(ip("2001:db8::ff")), Located::In { pool: 0, block: 0 });
        assert_eq!(p.locate(ip("2001:db9::")), Located::Nowhere);
    }

    #[test]
    fn candidate_order_is_priority_then_name() {
        let sa = |prio: Option<i32>| {
            Some(ServiceAllocation { priority: prio, namespaces: vec!["x".into()], ..Default::default() })
        };
        let mk = |name: &str, prio: Option<i32>| {
            let mut p = AddressPool::new(name, vec![]);
            p.service_allocation = sa(prio);
            p
        };
        let mut off = mk("off", Some(1));
        off.auto_assign = false;
        let cfg = Config {
            pools: vec![
                mk("z", Some(10)),
                mk("unset", None),
                mk("zero", Some(0)),
                mk("a", Some(10)),
                mk("first", Some(-5)),
                AddressPool::new("plain-b", vec![]),
                AddressPool::new("plain-a", vec![]),
                off,
            ],
            ..Default::default()
        };
        let p = Pools::build(&cfg).expect("valid");
        let names = |v: &[u16]| v.iter().map(|i| p.name(*i)).collect::<Vec<_>>();
        assert_eq!(names(&p.auto_sa), ["first", "a", "z", "unset", "zero"]);
        assert_eq!(names(&p.auto_plain), ["plain-a", "plain-b"]);
    }

    #[test]
    fn admission() {
        let sel = |k: &str, v: &str| LabelSelector { match_labels: vec![Label::new(k, v)], ..Default::default() };
        let mut pool = AddressPool::new("p", vec![]);
        pool.service_allocation = Some(ServiceAllocation {
            namespaces: vec!["ns-a".into()],
            namespace_selectors: vec![sel("zone", "east")],
            service_selectors: vec![sel("app", "web")],
            ..Default::default()
        });
        let cfg = Config {
            pools: vec![pool],
            namespaces: vec![NamespaceInfo { name: "ns-b".into(), labels: vec![Label::new("zone", "east")] }],
        };
        let p = Pools::build(&cfg).expect("valid");
        let web = vec![Label::new("app", "web")];
        let db = vec![Label::new("app", "db")];
        assert!(p.admits(0, "ns-a", Some(&LabelSlice(&web))));
        assert!(p.admits(0, "ns-b", Some(&LabelSlice(&web))));
        assert!(!p.admits(0, "ns-c", Some(&LabelSlice(&web))));
        assert!(!p.admits(0, "ns-a", Some(&LabelSlice(&db))));
        assert!(p.admits(0, "ns-a", None));
    }

    #[test]
    fn lowest_free_skips_buggy_addresses_lazily() {
        let mut pool = AddressPool::new("p", vec![cidr("10.0.0.0/23")]);
        pool.avoid_buggy_ips = true;
        let mut p = Pools::build(&Config { pools: vec![pool], ..Default::default() }).expect("valid");
        assert_eq!(p.lowest_free(0, Family::Ipv4), Some((0, ip("10.0.0.1").v)));
        for i in 1..=254u32 {
            p.take(ip(&alloc::format!("10.0.0.{i}")));
        }
        assert_eq!(p.lowest_free(0, Family::Ipv4), Some((0, ip("10.0.1.1").v)));
        assert_eq!(p.lowest_free(0, Family::Ipv6), None);
    }
}
