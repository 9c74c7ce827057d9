//! Applying a [`DesiredState`] to the kernel: the only module that speaks rtnetlink.
//!
//! Every apply reads the kernel's current state (links, addresses, routes, rules, the nft table),
//! diffs it against the desired state and sends only the differences: missing objects are added,
//! changed ones replaced, and extras deleted *only when they carry ferrolb's mark* (see
//! [`crate::intent`]). An unchanged desired state therefore costs zero change requests
//! ([`ApplyReport::requests`]). A request the kernel refuses is reported with the object's name
//! ([`ObjectError`]) while the others are still applied.
//!
//! Requests are pipelined: up to [`WINDOW`] are in flight on the socket at once, instead of one round
//! trip each; the socket's receive buffer is enlarged so the kernel's acknowledgements never overflow it.
//!
//! Besides whole-state [`Netlink::apply`], the BGP daemon gets an incremental path:
//! [`Netlink::install_routes`] / [`Netlink::remove_routes`] (no read of the kernel state) and
//! [`Netlink::sync_routes`] (full diff of one route origin, for start-up and resynchronisation).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use ipnet::IpNet;
use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use rtnetlink::packet_route::address::{AddressAttribute, AddressHeaderFlags, AddressMessage, AddressProtocol};
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVrf, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::sys::AsyncSocket;
use rtnetlink::{LinkUnspec, LinkVrf};

use crate::intent::{
    ADDRESS_PROTOCOL, Address, BGP_ROUTE_PROTOCOL, DesiredState, IpFamily, LINK_ALIAS, NextHop, ROUTE_PROTOCOL,
    RULE_PROTOCOL, Route, RouteKey, Rule, ValidationErrors,
};
use crate::netns::Netns;
use crate::nft;

/// How many change requests are in flight at once (when the enlarged receive buffer could be set).
pub const WINDOW: usize = 256;
/// In-flight requests when the receive buffer could not be forced (no `CAP_NET_ADMIN`): the
/// acknowledgements of this many requests fit the default buffer (~208 KiB) with room to spare.
pub const SMALL_WINDOW: usize = 64;
/// Receive buffer forced on the netlink socket (acknowledgements of a full window fit many times).
const RCVBUF: usize = 8 << 20;
/// `rtm_table` value for tables ≥ 256 (the real id travels in `RTA_TABLE`).
const RT_TABLE_COMPAT: u8 = 252;

/// Which of ferrolb's route origins a route belongs to; each has its own route protocol number and
/// is reconciled independently (an intent apply never deletes BGP routes and vice versa).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteOrigin {
    /// Routes from intents: egress, NodeNetworkConfigurationPolicy ([`ROUTE_PROTOCOL`]).
    Intent,
    /// Routes learned by the BGP daemon ([`BGP_ROUTE_PROTOCOL`]).
    Bgp,
}

impl RouteOrigin {
    /// The route protocol number marking this origin's routes.
    pub fn protocol(self) -> u8 {
        match self {
            RouteOrigin::Intent => ROUTE_PROTOCOL,
            RouteOrigin::Bgp => BGP_ROUTE_PROTOCOL,
        }
    }
}

/// Fatal errors: nothing (or nothing more) could be applied.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The desired state failed validation; nothing was sent.
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    /// Opening the netlink socket (or entering the namespace) failed.
    #[error("opening netlink socket in {ns}: {source}")]
    Connect {
        /// The namespace.
        ns: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Reading kernel state failed.
    #[error("dumping {what}: {message}")]
    Dump {
        /// What was being read.
        what: &'static str,
        /// The kernel's or the library's message.
        message: String,
    },
}

/// One object the kernel (or nft) refused, or that ferrolb refused to touch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {message}")]
pub struct ObjectError {
    /// The object, e.g. `route 10.0.0.0/24 table 100 metric 0`.
    pub object: String,
    /// The errno the kernel answered, if it was the kernel.
    pub errno: Option<i32>,
    /// Why, e.g. `Network is unreachable (os error 101): Nexthop has invalid gateway`.
    pub message: String,
}

/// What one apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Change requests sent (netlink requests that modify state, plus nft writes). Zero when the
    /// kernel already matched the desired state.
    pub requests: u64,
    /// Read requests (dumps, nft listings).
    pub reads: u64,
    /// Objects added.
    pub added: u64,
    /// Objects replaced in place.
    pub replaced: u64,
    /// Owned objects deleted.
    pub deleted: u64,
    /// Objects that failed, each with its name; everything else was applied.
    pub errors: Vec<ObjectError>,
}

impl ApplyReport {
    fn merge(&mut self, other: ApplyReport) {
        self.requests += other.requests;
        self.reads += other.reads;
        self.added += other.added;
        self.replaced += other.replaced;
        self.deleted += other.deleted;
        self.errors.extend(other.errors);
    }
}

/// A network device as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// ifindex.
    pub index: u32,
    /// Name.
    pub name: String,
    /// `IFLA_INFO_KIND` (`vrf`, `veth`, ...), if any.
    pub kind: Option<String>,
    /// ifalias.
    pub alias: Option<String>,
    /// ifindex of the master (VRF, bridge), if enslaved.
    pub controller: Option<u32>,
    /// Administratively up.
    pub up: bool,
    /// The VRF table, for VRF devices.
    pub vrf_table: Option<u32>,
}

impl Link {
    /// Whether ferrolb created this link (a VRF with ferrolb's ifalias).
    pub fn owned(&self) -> bool {
        self.alias.as_deref() == Some(LINK_ALIAS) && self.kind.as_deref() == Some("vrf")
    }
}

/// A kernel object with the protocol mark it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed<T> {
    /// The object, in intent form.
    pub value: T,
    /// Its protocol (`rtm_protocol`, `FRA_PROTOCOL` or `IFA_PROTO`; 0 when absent).
    pub protocol: u8,
}

/// What a change request is about (formatted only when it fails).
#[derive(Debug, Clone)]
enum Object {
    Vrf(String),
    Port { vrf: String, port: String },
    Address(Address),
    Route(RouteKey),
    Rule(Rule),
}

impl std::fmt::Display for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Object::Vrf(n) => write!(f, "vrf {n}"),
            Object::Port { vrf, port } => write!(f, "vrf {vrf} port {port}"),
            Object::Address(a) => a.fmt(f),
            Object::Route(k) => k.fmt(f),
            Object::Rule(r) => r.fmt(f),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Add,
    Replace,
    Delete,
}

struct Op {
    object: Object,
    change: Change,
    message: RouteNetlinkMessage,
    flags: u16,
}

struct KernelError {
    errno: Option<i32>,
    message: String,
}

/// A connection to the kernel's routing netlink in one network namespace.
pub struct Netlink {
    handle: rtnetlink::Handle,
    ns: Netns,
    requests: AtomicU64,
    reads: AtomicU64,
    /// Keys of the routes ferrolb has in the kernel, with their protocol (kept by every route path,
    /// so the incremental path knows whether a key is its own without reading the kernel); `None`
    /// until the first route dump.
    installed: Mutex<Option<HashMap<RouteKey, u8>>>,
    /// Serialises the operations that change state, so concurrent callers cannot interleave a
    /// read–diff–write with another write.
    serial: tokio::sync::Mutex<()>,
    /// Requests in flight at once.
    window: usize,
    connection: tokio::task::JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

impl Netlink {
    /// Opens a netlink socket inside `ns` (the socket stays in that namespace) and spawns its
    /// connection task on the current tokio runtime.
    pub async fn connect(ns: Netns) -> Result<Self, NetlinkError> {
        let rt = tokio::runtime::Handle::current();
        let opened = ns.run(|| {
            let _guard = rt.enter();
            let (mut conn, handle, _unsolicited) = rtnetlink::new_connection()?;
            let socket = conn.socket_mut().socket_mut();
            let forced = nix::sys::socket::setsockopt(&*socket, nix::sys::socket::sockopt::RcvBufForce, &RCVBUF);
            if let Err(e) = &forced {
                tracing::warn!(
                    "netlink: cannot force a {RCVBUF}-byte receive buffer ({e}); {SMALL_WINDOW} requests in flight"
                );
            }
            socket.set_ext_ack(true)?;
            socket.set_cap_ack(true)?;
            std::io::Result::Ok((conn, handle, if forced.is_ok() { WINDOW } else { SMALL_WINDOW }))
        });
        let (conn, handle, window) =
            opened.and_then(|r| r).map_err(|source| NetlinkError::Connect { ns: ns.to_string(), source })?;
        let connection = tokio::spawn(conn);
        Ok(Netlink {
            handle,
            ns,
            requests: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            installed: Mutex::new(None),
            serial: tokio::sync::Mutex::new(()),
            window,
            connection,
        })
    }

    /// The namespace this connection works in.
    pub fn netns(&self) -> &Netns {
        &self.ns
    }

    /// Change requests sent since [`Netlink::connect`].
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Read requests (dumps, nft listings) sent since [`Netlink::connect`].
    pub fn read_count(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    // ---------------------------------------------------------------- low level

    async fn dump(
        &self,
        what: &'static str,
        msg: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        self.reads.fetch_add(1, Ordering::Relaxed);
        let mut handle = self.handle.clone();
        let mut stream = handle.request(req).map_err(|e| NetlinkError::Dump { what, message: e.to_string() })?;
        let mut out = Vec::new();
        while let Some(m) = stream.next().await {
            match m.payload {
                NetlinkPayload::InnerMessage(inner) => out.push(inner),
                NetlinkPayload::Error(e) if e.code.is_some() => {
                    return Err(NetlinkError::Dump { what, message: kernel_error(e.raw_code(), &e.header).message });
                }
                _ => {}
            }
        }
        Ok(out)
    }

    async fn exec(&self, message: RouteNetlinkMessage, flags: u16) -> Result<(), KernelError> {
        let mut req = NetlinkMessage::from(message);
        req.header.flags = flags;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut handle = self.handle.clone();
        let mut stream = handle
            .request(req)
            .map_err(|e| KernelError { errno: None, message: format!("netlink connection: {e}") })?;
        while let Some(m) = stream.next().await {
            if let NetlinkPayload::Error(e) = m.payload
                && e.code.is_some()
            {
                return Err(kernel_error(e.raw_code(), &e.header));
            }
        }
        Ok(())
    }

    /// Runs the ops pipelined; returns each op's object, change and outcome in completion order.
    async fn run(&self, ops: Vec<Op>) -> Vec<(Object, Change, Result<(), KernelError>)> {
        futures::stream::iter(ops)
            .map(|op| async move {
                let r = self.exec(op.message, op.flags).await;
                (op.object, op.change, r)
            })
            .buffer_unordered(self.window)
            .collect()
            .await
    }

    fn tally(report: &mut ApplyReport, results: Vec<(Object, Change, Result<(), KernelError>)>) {
        for (object, change, r) in results {
            report.requests += 1;
            match r {
                Ok(()) => match change {
                    Change::Add => report.added += 1,
                    Change::Replace => report.replaced += 1,
                    Change::Delete => report.deleted += 1,
                },
                Err(e) => {
                    report.errors.push(ObjectError { object: object.to_string(), errno: e.errno, message: e.message })
                }
            }
        }
    }

    // ---------------------------------------------------------------- reading

    /// All links.
    pub async fn links(&self) -> Result<Vec<Link>, NetlinkError> {
        let msgs = self.dump("links", RouteNetlinkMessage::GetLink(LinkMessage::default())).await?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(parse_link(&l)),
                _ => None,
            })
            .collect())
    }

    /// All addresses (interface names resolved), with their `IFA_PROTO`.
    pub async fn addresses(&self) -> Result<Vec<Observed<Address>>, NetlinkError> {
        let names = index_names(&self.links().await?);
        Ok(self.raw_addresses().await?.into_iter().filter_map(|(_, a)| a.resolve(&names)).collect())
    }

    async fn raw_addresses(&self) -> Result<Vec<(AddressMessage, RawAddress)>, NetlinkError> {
        let msgs = self.dump("addresses", RouteNetlinkMessage::GetAddress(AddressMessage::default())).await?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => parse_address(&a).map(|p| (a, p)),
                _ => None,
            })
            .collect())
    }

    /// All unicast and blackhole routes of every table but `local` (255), with their protocol.
    pub async fn routes(&self) -> Result<Vec<Observed<Route>>, NetlinkError> {
        let names = index_names(&self.links().await?);
        Ok(self.raw_routes().await?.into_iter().map(|r| r.resolve(&names)).collect())
    }

    async fn raw_routes(&self) -> Result<Vec<RawRoute>, NetlinkError> {
        let mut out = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut m = RouteMessage::default();
            m.header.address_family = family;
            for msg in self.dump("routes", RouteNetlinkMessage::GetRoute(m)).await? {
                if let RouteNetlinkMessage::NewRoute(r) = msg
                    && let Some(p) = parse_route(&r)
                {
                    out.push(p);
                }
            }
        }
        Ok(out)
    }

    /// All ip rules (IPv4 and IPv6) that jump to a table, with their `FRA_PROTOCOL`.
    pub async fn rules(&self) -> Result<Vec<Observed<Rule>>, NetlinkError> {
        Ok(self.raw_rules().await?.into_iter().map(|(_, r)| r).collect())
    }

    async fn raw_rules(&self) -> Result<Vec<(RuleMessage, Observed<Rule>)>, NetlinkError> {
        let mut out = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut m = RuleMessage::default();
            m.header.family = family;
            for msg in self.dump("rules", RouteNetlinkMessage::GetRule(m)).await? {
                if let RouteNetlinkMessage::NewRule(r) = msg
                    && let Some(p) = parse_rule(&r)
                {
                    out.push((r, p));
                }
            }
        }
        Ok(out)
    }

    // ---------------------------------------------------------------- whole state

    /// Makes the kernel match `desired`, touching only ferrolb's objects (see the module docs).
    pub async fn apply(&self, desired: &DesiredState) -> Result<ApplyReport, NetlinkError> {
        desired.validate()?;
        let _serial = self.serial.lock().await;
        let reads_before = self.read_count();
        let mut report = ApplyReport::default();

        // 1. VRF devices and their ports.
        let mut links = self.links().await?;
        if self.apply_vrfs(desired, &links, &mut report).await {
            links = self.links().await?;
        }
        self.apply_ports(desired, &links, &mut report).await;
        let by_name: HashMap<&str, u32> = links.iter().map(|l| (l.name.as_str(), l.index)).collect();

        // 2. Addresses (added before routes that may need them as gateways' subnets).
        let (addr_adds, addr_dels) = self.diff_addresses(desired, &by_name, &mut report).await?;
        Self::tally(&mut report, self.run(addr_adds).await);

        // 3. Routes of origin Intent.
        let routes = self.sync_routes_with(RouteOrigin::Intent, &desired.routes, &links).await?;
        report.merge(routes);

        // 4. Rules.
        let ops = self.diff_rules(desired).await?;
        Self::tally(&mut report, self.run(ops).await);

        // 5. Owned extras whose removal may affect the above: addresses, then VRFs.
        Self::tally(&mut report, self.run(addr_dels).await);
        self.delete_vrfs(desired, &links, &mut report).await;

        // 6. SNAT.
        self.apply_snat(&desired.snat, &mut report).await;

        report.reads = self.read_count() - reads_before;
        Ok(report)
    }

    /// Creates missing VRFs, fixes owned ones; returns whether links changed.
    async fn apply_vrfs(&self, desired: &DesiredState, links: &[Link], report: &mut ApplyReport) -> bool {
        let mut changed = false;
        for vrf in &desired.vrfs {
            let object = Object::Vrf(vrf.name.clone());
            let mut ops = Vec::new();
            match links.iter().find(|l| l.name == vrf.name) {
                None => {
                    let mut msg = LinkVrf::new(&vrf.name, vrf.table).up().build();
                    msg.attributes.push(LinkAttribute::IfAlias(LINK_ALIAS.to_string()));
                    ops.push(Op {
                        object,
                        change: Change::Add,
                        message: RouteNetlinkMessage::NewLink(msg),
                        flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                    });
                }
                Some(l) if !l.owned() => {
                    report.errors.push(ObjectError {
                        object: object.to_string(),
                        errno: None,
                        message: format!(
                            "an interface named {} exists and is not ferrolb's (kind {:?}, alias {:?}); left alone",
                            l.name, l.kind, l.alias
                        ),
                    });
                }
                Some(l) if l.vrf_table != Some(vrf.table) => {
                    // The table of a VRF cannot be changed: recreate it.
                    ops.push(Op {
                        object: object.clone(),
                        change: Change::Delete,
                        message: RouteNetlinkMessage::DelLink(LinkUnspec::new_with_index(l.index).build()),
                        flags: NLM_F_REQUEST | NLM_F_ACK,
                    });
                    let mut msg = LinkVrf::new(&vrf.name, vrf.table).up().build();
                    msg.attributes.push(LinkAttribute::IfAlias(LINK_ALIAS.to_string()));
                    ops.push(Op {
                        object,
                        change: Change::Add,
                        message: RouteNetlinkMessage::NewLink(msg),
                        flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                    });
                }
                Some(l) if !l.up => ops.push(Op {
                    object,
                    change: Change::Replace,
                    message: RouteNetlinkMessage::SetLink(LinkUnspec::new_with_index(l.index).up().build()),
                    flags: NLM_F_REQUEST | NLM_F_ACK,
                }),
                Some(_) => {}
            }
            // Sequential: a recreate must delete before it adds.
            for op in ops {
                changed = true;
                let r = self.exec(op.message, op.flags).await;
                Self::tally(report, vec![(op.object, op.change, r)]);
            }
        }
        if changed {
            // Kernels that ignore IFLA_IFALIAS on creation: mark the new VRFs now.
            if let Ok(now) = self.links().await {
                for vrf in &desired.vrfs {
                    if let Some(l) = now.iter().find(|l| l.name == vrf.name && l.kind.as_deref() == Some("vrf"))
                        && l.alias.is_none()
                    {
                        let msg = LinkUnspec::new_with_index(l.index).alias(LINK_ALIAS).build();
                        let r = self.exec(RouteNetlinkMessage::SetLink(msg), NLM_F_REQUEST | NLM_F_ACK).await;
                        Self::tally(report, vec![(Object::Vrf(vrf.name.clone()), Change::Replace, r)]);
                    }
                }
            }
        }
        changed
    }

    /// Enslaves desired ports; releases ports of owned VRFs that are no longer desired.
    async fn apply_ports(&self, desired: &DesiredState, links: &[Link], report: &mut ApplyReport) {
        let mut ops = Vec::new();
        for vrf in &desired.vrfs {
            let Some(v) = links.iter().find(|l| l.name == vrf.name && l.owned()) else { continue };
            for port in &vrf.ports {
                let object = Object::Port { vrf: vrf.name.clone(), port: port.clone() };
                match links.iter().find(|l| &l.name == port) {
                    None => report.errors.push(ObjectError {
                        object: object.to_string(),
                        errno: None,
                        message: format!("interface {port} does not exist"),
                    }),
                    Some(p) if p.controller == Some(v.index) => {}
                    Some(p) => ops.push(Op {
                        object,
                        change: Change::Replace,
                        message: RouteNetlinkMessage::SetLink(
                            LinkUnspec::new_with_index(p.index).controller(v.index).build(),
                        ),
                        flags: NLM_F_REQUEST | NLM_F_ACK,
                    }),
                }
            }
        }
        for v in links.iter().filter(|l| l.owned()) {
            let wanted = desired.vrfs.iter().find(|d| d.name == v.name);
            for p in links.iter().filter(|l| l.controller == Some(v.index)) {
                if wanted.is_some_and(|d| d.ports.contains(&p.name)) {
                    continue;
                }
                ops.push(Op {
                    object: Object::Port { vrf: v.name.clone(), port: p.name.clone() },
                    change: Change::Delete,
                    message: RouteNetlinkMessage::SetLink(LinkUnspec::new_with_index(p.index).nocontroller().build()),
                    flags: NLM_F_REQUEST | NLM_F_ACK,
                });
            }
        }
        Self::tally(report, self.run(ops).await);
    }

    async fn delete_vrfs(&self, desired: &DesiredState, links: &[Link], report: &mut ApplyReport) {
        let ops = links
            .iter()
            .filter(|l| l.owned() && !desired.vrfs.iter().any(|d| d.name == l.name))
            .map(|l| Op {
                object: Object::Vrf(l.name.clone()),
                change: Change::Delete,
                message: RouteNetlinkMessage::DelLink(LinkUnspec::new_with_index(l.index).build()),
                flags: NLM_F_REQUEST | NLM_F_ACK,
            })
            .collect();
        Self::tally(report, self.run(ops).await);
    }

    async fn diff_addresses(
        &self,
        desired: &DesiredState,
        by_name: &HashMap<&str, u32>,
        report: &mut ApplyReport,
    ) -> Result<(Vec<Op>, Vec<Op>), NetlinkError> {
        let current = self.raw_addresses().await?;
        let mut wanted = BTreeSet::new();
        let mut adds = Vec::new();
        for a in &desired.addresses {
            let Some(&index) = by_name.get(a.interface.as_str()) else {
                report.errors.push(ObjectError {
                    object: a.to_string(),
                    errno: None,
                    message: format!("interface {} does not exist", a.interface),
                });
                continue;
            };
            let key = (index, a.address.addr(), a.address.prefix_len());
            wanted.insert(key);
            match current.iter().find(|(_, c)| (c.index, c.addr, c.prefix_len) == key) {
                Some((_, c)) if c.protocol == ADDRESS_PROTOCOL => {}
                Some((_, c)) => report.errors.push(ObjectError {
                    object: a.to_string(),
                    errno: None,
                    message: format!("already present with protocol {} (not ferrolb's); left alone", c.protocol),
                }),
                None => adds.push(Op {
                    object: Object::Address(a.clone()),
                    change: Change::Add,
                    message: RouteNetlinkMessage::NewAddress(address_message(index, a.address)),
                    flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                }),
            }
        }
        let names: HashMap<u32, &str> = by_name.iter().map(|(n, i)| (*i, *n)).collect();
        let dels = current
            .into_iter()
            .filter(|(_, c)| c.protocol == ADDRESS_PROTOCOL && !wanted.contains(&(c.index, c.addr, c.prefix_len)))
            .map(|(msg, c)| Op {
                object: Object::Address(Address {
                    interface: names.get(&c.index).map_or_else(|| format!("#{}", c.index), |n| n.to_string()),
                    address: IpNet::new(c.addr, c.prefix_len).unwrap_or_else(|_| IpNet::from(c.addr)),
                }),
                change: Change::Delete,
                message: RouteNetlinkMessage::DelAddress(msg),
                flags: NLM_F_REQUEST | NLM_F_ACK,
            })
            .collect();
        Ok((adds, dels))
    }

    async fn diff_rules(&self, desired: &DesiredState) -> Result<Vec<Op>, NetlinkError> {
        let current = self.raw_rules().await?;
        let mut owned: BTreeMap<Rule, RuleMessage> = BTreeMap::new();
        let mut extras = Vec::new();
        for (msg, r) in current.into_iter().filter(|(_, r)| r.protocol == RULE_PROTOCOL) {
            match owned.entry(r.value) {
                // An exact duplicate: remove the second copy.
                std::collections::btree_map::Entry::Occupied(e) => extras.push((e.key().clone(), msg)),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(msg);
                }
            }
        }
        let wanted: BTreeSet<Rule> = desired.rules.iter().map(Rule::normalized).collect();
        let mut ops = Vec::new();
        for r in &wanted {
            if !owned.contains_key(r) {
                ops.push(Op {
                    object: Object::Rule(r.clone()),
                    change: Change::Add,
                    message: RouteNetlinkMessage::NewRule(rule_message(r)),
                    flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                });
            }
        }
        extras.extend(owned.into_iter().filter(|(r, _)| !wanted.contains(r)));
        for (r, msg) in extras {
            ops.push(Op {
                object: Object::Rule(r),
                change: Change::Delete,
                message: RouteNetlinkMessage::DelRule(msg),
                flags: NLM_F_REQUEST | NLM_F_ACK,
            });
        }
        Ok(ops)
    }

    async fn apply_snat(&self, desired: &[crate::intent::SnatRule], report: &mut ApplyReport) {
        let ns = self.ns.clone();
        let wanted = desired.to_vec();
        self.reads.fetch_add(1, Ordering::Relaxed);
        let outcome = tokio::task::spawn_blocking(move || {
            ns.run(|| -> Result<bool, nft::NftError> {
                let current = nft::read()?;
                if nft::up_to_date(&current, &wanted) {
                    return Ok(false);
                }
                nft::run_script(&nft::render(&wanted))?;
                Ok(true)
            })
        })
        .await;
        let result = match outcome {
            Ok(Ok(r)) => r.map_err(|e| e.to_string()),
            Ok(Err(e)) => Err(format!("entering the namespace: {e}")),
            Err(e) => Err(format!("nft task: {e}")),
        };
        match result {
            Ok(false) => {}
            Ok(true) => {
                self.requests.fetch_add(1, Ordering::Relaxed);
                report.requests += 1;
                report.replaced += 1;
            }
            Err(message) => report.errors.push(ObjectError {
                object: format!("nft table inet {}", crate::intent::NFT_TABLE),
                errno: None,
                message,
            }),
        }
    }

    // ---------------------------------------------------------------- routes

    /// Makes the routes of `origin` exactly `routes`: adds missing, replaces changed, deletes the
    /// origin's extras. Routes of other protocols are never touched; a foreign route occupying the
    /// same table, destination and metric is reported as a conflict.
    pub async fn sync_routes(&self, origin: RouteOrigin, routes: &[Route]) -> Result<ApplyReport, NetlinkError> {
        let mut errors = Vec::new();
        let mut keys = BTreeSet::new();
        for r in routes {
            if let Err(e) = r.validate() {
                errors.extend(e.0);
            } else if !keys.insert(r.key()) {
                errors.push(crate::intent::ValidationError {
                    object: r.key().to_string(),
                    field: "dst",
                    reason: "declared twice".into(),
                });
            }
        }
        if !errors.is_empty() {
            return Err(ValidationErrors(errors).into());
        }
        let _serial = self.serial.lock().await;
        let reads_before = self.read_count();
        let links = self.links().await?;
        let mut report = self.sync_routes_with(origin, routes, &links).await?;
        report.reads = self.read_count() - reads_before;
        Ok(report)
    }

    async fn sync_routes_with(
        &self,
        origin: RouteOrigin,
        routes: &[Route],
        links: &[Link],
    ) -> Result<ApplyReport, NetlinkError> {
        let proto = origin.protocol();
        let by_name: HashMap<&str, u32> = links.iter().map(|l| (l.name.as_str(), l.index)).collect();
        let current = self.raw_routes().await?;
        self.remember(&current);
        let mut owned: HashMap<RouteKey, RawRoute> = HashMap::new();
        let mut foreign: HashMap<RouteKey, u8> = HashMap::new();
        for r in current {
            if r.protocol == proto {
                owned.insert(r.key, r);
            } else {
                foreign.insert(r.key, r.protocol);
            }
        }
        let mut report = ApplyReport::default();
        let mut ops = Vec::new();
        let mut wanted = std::collections::HashSet::with_capacity(routes.len());
        for r in routes {
            let key = r.kernel_key();
            wanted.insert(key);
            let oif = match r.next_hop.interface() {
                None => None,
                Some(name) => match by_name.get(name) {
                    Some(i) => Some(*i),
                    None => {
                        report.errors.push(ObjectError {
                            object: key.to_string(),
                            errno: None,
                            message: format!("interface {name} does not exist"),
                        });
                        continue;
                    }
                },
            };
            let change = match owned.get(&key) {
                Some(cur) if cur.matches(r, oif) => continue,
                Some(_) => Change::Replace,
                None => {
                    if let Some(p) = foreign.get(&key) {
                        report.errors.push(ObjectError {
                            object: key.to_string(),
                            errno: None,
                            message: format!(
                                "the table already has this route with protocol {p} (not ours); left alone"
                            ),
                        });
                        continue;
                    }
                    Change::Add
                }
            };
            let flags = NLM_F_REQUEST
                | NLM_F_ACK
                | NLM_F_CREATE
                | if change == Change::Replace { NLM_F_REPLACE } else { NLM_F_EXCL };
            ops.push(Op {
                object: Object::Route(key),
                change,
                message: RouteNetlinkMessage::NewRoute(route_message(r, proto, oif)),
                flags,
            });
        }
        for key in owned.keys().filter(|k| !wanted.contains(*k)) {
            ops.push(Op {
                object: Object::Route(*key),
                change: Change::Delete,
                message: RouteNetlinkMessage::DelRoute(route_delete_message(key, proto)),
                flags: NLM_F_REQUEST | NLM_F_ACK,
            });
        }
        let results = self.run(ops).await;
        self.record(proto, &results);
        Self::tally(&mut report, results);
        Ok(report)
    }

    /// Rebuilds the map of ferrolb's route keys from a full route dump.
    fn remember(&self, current: &[RawRoute]) {
        let map = current
            .iter()
            .filter(|r| r.protocol == ROUTE_PROTOCOL || r.protocol == BGP_ROUTE_PROTOCOL)
            .map(|r| (r.key, r.protocol))
            .collect();
        *self.installed.lock().unwrap_or_else(|p| p.into_inner()) = Some(map);
    }

    /// Dumps the routes once per connection so the incremental path knows which keys are ferrolb's
    /// (e.g. routes left by a previous run of the daemon).
    async fn load_installed(&self) -> Result<(), NetlinkError> {
        if self.installed.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
            return Ok(());
        }
        let current = self.raw_routes().await?;
        self.remember(&current);
        Ok(())
    }

    /// Records the outcome of route requests of protocol `proto` in the key map.
    fn record(&self, proto: u8, results: &[(Object, Change, Result<(), KernelError>)]) {
        let mut guard = self.installed.lock().unwrap_or_else(|p| p.into_inner());
        let installed = guard.get_or_insert_with(HashMap::new);
        for (object, change, r) in results {
            if let (Object::Route(k), Ok(())) = (object, r) {
                match change {
                    Change::Add | Change::Replace => {
                        installed.insert(*k, proto);
                    }
                    Change::Delete => {
                        if installed.get(k) == Some(&proto) {
                            installed.remove(k);
                        }
                    }
                }
            }
        }
    }

    /// Installs (adds, or replaces the origin's own route with the same key) routes without reading
    /// the kernel's state (only the first call on a connection dumps the routes once, to learn which
    /// keys are already ferrolb's): the BGP daemon's fast path. A key held by a route that is not this origin's
    /// is refused by the kernel (`EEXIST`) and reported. Interface names are resolved with one link dump
    /// when any route names an interface.
    pub async fn install_routes(&self, origin: RouteOrigin, routes: &[Route]) -> ApplyReport {
        let proto = origin.protocol();
        let mut report = ApplyReport::default();
        let _serial = self.serial.lock().await;
        if let Err(e) = self.load_installed().await {
            report.errors.push(ObjectError { object: "routes".into(), errno: None, message: e.to_string() });
            return report;
        }
        let by_name: HashMap<String, u32> = if routes.iter().any(|r| r.next_hop.interface().is_some()) {
            match self.links().await {
                Ok(l) => l.into_iter().map(|l| (l.name, l.index)).collect(),
                Err(e) => {
                    report.errors.push(ObjectError { object: "links".into(), errno: None, message: e.to_string() });
                    return report;
                }
            }
        } else {
            HashMap::new()
        };
        let mut ops = Vec::with_capacity(routes.len());
        {
            let guard = self.installed.lock().unwrap_or_else(|p| p.into_inner());
            let empty = HashMap::new();
            let installed = guard.as_ref().unwrap_or(&empty);
            for r in routes {
                let key = r.kernel_key();
                if let Err(e) = r.validate() {
                    report.errors.push(ObjectError { object: key.to_string(), errno: None, message: e.to_string() });
                    continue;
                }
                let oif = match r.next_hop.interface() {
                    None => None,
                    Some(name) => match by_name.get(name) {
                        Some(i) => Some(*i),
                        None => {
                            report.errors.push(ObjectError {
                                object: key.to_string(),
                                errno: None,
                                message: format!("interface {name} does not exist"),
                            });
                            continue;
                        }
                    },
                };
                let (change, mode) = match installed.get(&key) {
                    Some(p) if *p == proto => (Change::Replace, NLM_F_REPLACE),
                    Some(p) => {
                        report.errors.push(ObjectError {
                            object: key.to_string(),
                            errno: None,
                            message: format!("held by ferrolb's protocol {p}, not by this origin; left alone"),
                        });
                        continue;
                    }
                    None => (Change::Add, NLM_F_EXCL),
                };
                ops.push(Op {
                    object: Object::Route(key),
                    change,
                    message: RouteNetlinkMessage::NewRoute(route_message(r, proto, oif)),
                    flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | mode,
                });
            }
        }
        let results = self.run(ops).await;
        self.record(proto, &results);
        Self::tally(&mut report, results);
        report
    }

    /// Removes routes of `origin` by key. The kernel matches the protocol too, so a foreign route with
    /// the same key is never removed (it answers `ESRCH`, reported).
    pub async fn remove_routes(&self, origin: RouteOrigin, keys: &[RouteKey]) -> ApplyReport {
        let proto = origin.protocol();
        let _serial = self.serial.lock().await;
        let ops = keys
            .iter()
            .map(|k| {
                let k = kernel_key(*k);
                Op {
                    object: Object::Route(k),
                    change: Change::Delete,
                    message: RouteNetlinkMessage::DelRoute(route_delete_message(&k, proto)),
                    flags: NLM_F_REQUEST | NLM_F_ACK,
                }
            })
            .collect();
        let results = self.run(ops).await;
        self.record(proto, &results);
        let mut report = ApplyReport::default();
        Self::tally(&mut report, results);
        report
    }
}

// -------------------------------------------------------------------- message building / parsing

/// IPv6 routes given metric 0 get the kernel's default 1024: compare and delete with that.
fn kernel_key(k: RouteKey) -> RouteKey {
    if k.metric == 0 && matches!(k.dst, IpNet::V6(_)) { RouteKey { metric: 1024, ..k } } else { k }
}

impl Route {
    fn kernel_key(&self) -> RouteKey {
        kernel_key(self.key())
    }
}

fn family_of(addr: IpAddr) -> AddressFamily {
    if addr.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 }
}

fn header_table(table: u32) -> u8 {
    u8::try_from(table).unwrap_or(RT_TABLE_COMPAT)
}

fn route_message(r: &Route, proto: u8, oif: Option<u32>) -> RouteMessage {
    let key = r.kernel_key();
    let mut m = RouteMessage::default();
    m.header.address_family = family_of(r.dst.addr());
    m.header.destination_prefix_length = r.dst.prefix_len();
    m.header.table = header_table(r.table);
    m.header.protocol = RouteProtocol::from(proto);
    m.header.scope =
        if matches!(r.next_hop, NextHop::Interface { .. }) { RouteScope::Link } else { RouteScope::Universe };
    m.header.kind = if matches!(r.next_hop, NextHop::Blackhole) { RouteType::BlackHole } else { RouteType::Unicast };
    m.attributes.push(RouteAttribute::Table(r.table));
    if r.dst.prefix_len() > 0 {
        m.attributes.push(RouteAttribute::Destination(RouteAddress::from(r.dst.addr())));
    }
    m.attributes.push(RouteAttribute::Priority(key.metric));
    if let NextHop::Gateway { address, .. } = &r.next_hop {
        m.attributes.push(RouteAttribute::Gateway(RouteAddress::from(*address)));
    }
    if let Some(i) = oif {
        m.attributes.push(RouteAttribute::Oif(i));
    }
    m
}

fn route_delete_message(k: &RouteKey, proto: u8) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family_of(k.dst.addr());
    m.header.destination_prefix_length = k.dst.prefix_len();
    m.header.table = header_table(k.table);
    m.header.protocol = RouteProtocol::from(proto);
    m.header.scope = RouteScope::NoWhere;
    m.header.kind = RouteType::Unspec;
    m.attributes.push(RouteAttribute::Table(k.table));
    if k.dst.prefix_len() > 0 {
        m.attributes.push(RouteAttribute::Destination(RouteAddress::from(k.dst.addr())));
    }
    m.attributes.push(RouteAttribute::Priority(k.metric));
    m
}

/// A kernel route reduced to what ferrolb compares.
struct RawRoute {
    key: RouteKey,
    protocol: u8,
    kind: RawNextHop,
}

enum RawNextHop {
    Gateway(IpAddr, Option<u32>),
    Interface(u32),
    Blackhole,
}

impl RawRoute {
    fn matches(&self, r: &Route, oif: Option<u32>) -> bool {
        match (&self.kind, &r.next_hop) {
            (RawNextHop::Gateway(g, cur_oif), NextHop::Gateway { address, .. }) => {
                g == address && (oif.is_none() || oif == *cur_oif)
            }
            (RawNextHop::Interface(i), NextHop::Interface { .. }) => Some(*i) == oif,
            (RawNextHop::Blackhole, NextHop::Blackhole) => true,
            _ => false,
        }
    }

    fn resolve(self, names: &HashMap<u32, String>) -> Observed<Route> {
        let name = |i: u32| names.get(&i).cloned().unwrap_or_else(|| format!("#{i}"));
        let next_hop = match self.kind {
            RawNextHop::Gateway(address, oif) => NextHop::Gateway { address, interface: oif.map(name) },
            RawNextHop::Interface(i) => NextHop::Interface { interface: name(i) },
            RawNextHop::Blackhole => NextHop::Blackhole,
        };
        Observed {
            value: Route { dst: self.key.dst, table: self.key.table, next_hop, metric: self.key.metric },
            protocol: self.protocol,
        }
    }
}

fn route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn parse_route(m: &RouteMessage) -> Option<RawRoute> {
    if m.header.flags.contains(RouteFlags::Cloned) {
        return None;
    }
    let (mut table, mut dst, mut metric, mut gw, mut oif) = (u32::from(m.header.table), None, 0, None, None);
    for a in &m.attributes {
        match a {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(d) => dst = route_addr(d),
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::Gateway(g) => gw = route_addr(g),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::MultiPath(_) => return None,
            _ => {}
        }
    }
    if table == 255 {
        return None;
    }
    let dst = dst.unwrap_or(match m.header.address_family {
        AddressFamily::Inet6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    });
    let dst = IpNet::new(dst, m.header.destination_prefix_length).ok()?;
    let kind = match m.header.kind {
        RouteType::BlackHole => RawNextHop::Blackhole,
        RouteType::Unicast => match (gw, oif) {
            (Some(g), o) => RawNextHop::Gateway(g, o),
            (None, Some(i)) => RawNextHop::Interface(i),
            (None, None) => return None,
        },
        _ => return None,
    };
    Some(RawRoute { key: RouteKey { table, dst, metric }, protocol: u8::from(m.header.protocol), kind })
}

fn address_message(index: u32, addr: IpNet) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = family_of(addr.addr());
    m.header.prefix_len = addr.prefix_len();
    m.header.index = index;
    if addr.addr().is_ipv6() {
        // No duplicate address detection: the address is usable at once (as `ip addr add ... nodad`).
        m.header.flags = AddressHeaderFlags::Nodad;
    }
    m.attributes.push(AddressAttribute::Local(addr.addr()));
    m.attributes.push(AddressAttribute::Address(addr.addr()));
    m.attributes.push(AddressAttribute::Protocol(AddressProtocol::from(ADDRESS_PROTOCOL)));
    m
}

struct RawAddress {
    index: u32,
    addr: IpAddr,
    prefix_len: u8,
    protocol: u8,
}

impl RawAddress {
    fn resolve(self, names: &HashMap<u32, String>) -> Option<Observed<Address>> {
        Some(Observed {
            value: Address {
                interface: names.get(&self.index)?.clone(),
                address: IpNet::new(self.addr, self.prefix_len).ok()?,
            },
            protocol: self.protocol,
        })
    }
}

fn parse_address(m: &AddressMessage) -> Option<RawAddress> {
    let (mut local, mut address, mut protocol) = (None, None, 0);
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(l) => local = Some(*l),
            AddressAttribute::Address(l) => address = Some(*l),
            AddressAttribute::Protocol(p) => protocol = u8::from(*p),
            _ => {}
        }
    }
    Some(RawAddress { index: m.header.index, addr: local.or(address)?, prefix_len: m.header.prefix_len, protocol })
}

fn rule_message(r: &Rule) -> RuleMessage {
    let mut m = RuleMessage::default();
    m.header.family = match r.ip_family() {
        IpFamily::V4 => AddressFamily::Inet,
        IpFamily::V6 => AddressFamily::Inet6,
    };
    m.header.table = header_table(r.table);
    m.header.action = RuleAction::ToTable;
    m.attributes.push(RuleAttribute::Priority(r.priority));
    m.attributes.push(RuleAttribute::Table(r.table));
    m.attributes.push(RuleAttribute::Protocol(RouteProtocol::from(RULE_PROTOCOL)));
    if let Some(p) = r.from {
        m.header.src_len = p.prefix_len();
        m.attributes.push(RuleAttribute::Source(p.network()));
    }
    if let Some(p) = r.to {
        m.header.dst_len = p.prefix_len();
        m.attributes.push(RuleAttribute::Destination(p.network()));
    }
    if let Some(i) = &r.iif {
        m.attributes.push(RuleAttribute::Iifname(i.clone()));
    }
    m
}

fn parse_rule(m: &RuleMessage) -> Option<Observed<Rule>> {
    let family = match m.header.family {
        AddressFamily::Inet => IpFamily::V4,
        AddressFamily::Inet6 => IpFamily::V6,
        _ => return None,
    };
    let (mut priority, mut table, mut from, mut to, mut iif, mut protocol) =
        (0, u32::from(m.header.table), None, None, None, 0);
    for a in &m.attributes {
        match a {
            RuleAttribute::Priority(p) => priority = *p,
            RuleAttribute::Table(t) => table = *t,
            RuleAttribute::Source(s) => from = IpNet::new(*s, m.header.src_len).ok(),
            RuleAttribute::Destination(d) => to = IpNet::new(*d, m.header.dst_len).ok(),
            RuleAttribute::Iifname(i) => iif = Some(i.clone()),
            RuleAttribute::Protocol(p) => protocol = u8::from(*p),
            _ => {}
        }
    }
    if m.header.action != RuleAction::ToTable && protocol != RULE_PROTOCOL {
        return None;
    }
    Some(Observed { value: Rule { priority, from, to, iif, table, family: Some(family) }, protocol })
}

fn parse_link(m: &LinkMessage) -> Link {
    let mut link = Link {
        index: m.header.index,
        name: String::new(),
        kind: None,
        alias: None,
        controller: None,
        up: m.header.flags.contains(LinkFlags::Up),
        vrf_table: None,
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => link.name = n.clone(),
            LinkAttribute::IfAlias(n) => link.alias = Some(n.clone()),
            LinkAttribute::Controller(c) => link.controller = Some(*c),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    match i {
                        LinkInfo::Kind(k) => {
                            link.kind = Some(match k {
                                InfoKind::Vrf => "vrf".to_string(),
                                other => other.to_string(),
                            })
                        }
                        LinkInfo::Data(InfoData::Vrf(v)) => {
                            for x in v {
                                if let InfoVrf::TableId(t) = x {
                                    link.vrf_table = Some(*t);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    link
}

fn index_names(links: &[Link]) -> HashMap<u32, String> {
    links.iter().map(|l| (l.index, l.name.clone())).collect()
}

/// The kernel's answer to a refused request: errno text plus the extended-ack message, if any.
fn kernel_error(code: i32, payload: &[u8]) -> KernelError {
    let errno = code.checked_neg().unwrap_or(code);
    let mut message = std::io::Error::from_raw_os_error(errno).to_string();
    // With NETLINK_CAP_ACK the payload is the request's 16-byte header, then extended-ack TLVs.
    let mut rest = payload.get(16..).unwrap_or(&[]);
    while rest.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            break;
        }
        if kind == 1 {
            // NLMSGERR_ATTR_MSG: a NUL-terminated string.
            let text = &rest[4..len];
            let text = text.split(|b| *b == 0).next().unwrap_or(&[]);
            message.push_str(": ");
            message.push_str(&String::from_utf8_lossy(text));
        }
        rest = rest.get((len + 3) & !3..).unwrap_or(&[]);
    }
    KernelError { errno: Some(errno), message }
}
