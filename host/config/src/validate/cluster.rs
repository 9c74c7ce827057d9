//! Cluster objects (Namespace, Node, Service, EndpointSlice) and the host-networking objects
//! (NMState NodeNetworkConfigurationPolicy, OVN-Kubernetes EgressService).

use super::{Diags, check_labels, describe, selector};
use crate::load::{Input, Loaded};
use crate::model::{
    Endpoint, IpFamily, IpFamilyPolicy, LabelSelector, Model, Namespace, NetworkPolicy, NmInterface, NmRoute,
    NmRouteRule, NmState, Node, NodeConditions, ObjectRef, Protocol, Service, ServicePort, ServiceType, SourceIpBy,
    TrafficPolicy,
};
use crate::parse;
use crate::raw::{self, IntOrString, RawObject};
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;

pub(super) fn namespaces_and_nodes(d: &mut Diags, objs: &[(usize, &Loaded)], model: &mut Model) {
    for (i, o) in objs {
        match &o.raw {
            RawObject::Namespace(n) => model.namespaces.push(Namespace {
                name: o.info.id.name.clone(),
                origin: o.info.origin.clone(),
                labels: n.metadata.labels.clone(),
            }),
            RawObject::Node(n) => {
                let mut addresses = Vec::new();
                let mut conditions = NodeConditions::default();
                if let Some(st) = &n.status {
                    for (j, a) in st.addresses.iter().enumerate() {
                        if !matches!(a.kind.as_deref(), Some("InternalIP" | "ExternalIP")) {
                            continue;
                        }
                        let text = a.address.as_deref().unwrap_or_default();
                        match parse::parse_ip(text) {
                            Some(ip) => addresses.push(ip),
                            None => d.err(
                                *i,
                                format!("status.addresses[{j}].address"),
                                format!("\"{text}\" is not an IP address"),
                            ),
                        }
                    }
                    for c in &st.conditions {
                        let on = c.status.as_deref() == Some("True");
                        match c.kind.as_deref() {
                            Some("Ready") => conditions.ready = on,
                            Some("NetworkUnavailable") => conditions.network_unavailable = on,
                            _ => {}
                        }
                    }
                }
                model.nodes.push(Node {
                    name: o.info.id.name.clone(),
                    origin: o.info.origin.clone(),
                    labels: n.metadata.labels.clone(),
                    addresses,
                    conditions,
                });
            }
            _ => {}
        }
    }
    model.namespaces.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    model.nodes.sort_unstable_by(|a, b| a.name.cmp(&b.name));
}

/// A `ip`/`ip/len` (NMState accepts a bare address as a host route or rule).
fn net_or_ip(s: &str) -> Result<IpNet, String> {
    if s.contains('/') {
        parse::parse_cidr(s).map(|(n, _)| n)
    } else {
        parse::parse_ip(s).map(IpNet::from).ok_or_else(|| format!("\"{s}\" is not an address or a CIDR"))
    }
}

fn nm_state(d: &mut Diags, obj: usize, field: &str, s: Option<&str>, allowed: &[&str]) -> NmState {
    match s {
        None => NmState::Up,
        Some("up") => NmState::Up,
        Some("down") if allowed.contains(&"down") => NmState::Down,
        Some("absent") => NmState::Absent,
        Some(other) => {
            d.err(obj, field, format!("\"{other}\" is not a state: {}", allowed.join(", ")));
            NmState::Up
        }
    }
}

/// The reason a VRF may not use a routing table, if it may not.
fn reserved_table(id: i64) -> Option<String> {
    match id {
        0 => Some("table 0 means \"unspecified\" to the kernel, it cannot hold a VRF's routes".into()),
        253 => Some("table 253 is the kernel's \"default\" table".into()),
        254 => Some("table 254 is the kernel's \"main\" table".into()),
        255 => Some("table 255 is the kernel's \"local\" table".into()),
        i if i < 0 || i > i64::from(u32::MAX) => Some(format!("{i} is not a routing table id (0..=4294967295)")),
        i if i >= 1000 => Some(format!(
            "table {i} is reserved: ids from 1000 up are used by OVN-Kubernetes (OpenShift asks for VRF tables below 1000)"
        )),
        _ => None,
    }
}

pub(super) fn network_policies(d: &mut Diags, objs: &[(usize, &Loaded)], model: &mut Model) {
    for (i, o) in objs {
        let RawObject::Nncp(p) = &o.raw else { continue };
        let obj = *i;
        let s = &p.spec;
        check_labels(d, obj, "spec.nodeSelector", &s.node_selector);
        match &s.max_unavailable {
            None | Some(IntOrString::Int(0..)) => {}
            Some(IntOrString::Str(v))
                if v.strip_suffix('%').is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n <= 100)) => {}
            Some(IntOrString::Int(v)) => d.err(obj, "spec.maxUnavailable", format!("{v} is negative")),
            Some(IntOrString::Str(v)) => {
                d.err(obj, "spec.maxUnavailable", format!("\"{v}\" is neither a number nor a percentage"));
            }
            Some(IntOrString::Other) => d.err(obj, "spec.maxUnavailable", "expected a number or a percentage"),
        }
        let mut interfaces = Vec::new();
        let mut tables: BTreeMap<u32, String> = BTreeMap::new();
        for (j, it) in s.desired_state.interfaces.iter().enumerate() {
            let base = format!("spec.desiredState.interfaces[{j}]");
            let name = it.name.clone().unwrap_or_default();
            if name.is_empty() {
                d.err(obj, format!("{base}.name"), "name is required");
                continue;
            }
            let kind = it.kind.clone().unwrap_or_default();
            let state = nm_state(d, obj, &format!("{base}.state"), it.state.as_deref(), &["up", "down", "absent"]);
            let mut vrf_ports = Vec::new();
            let mut vrf_table = None;
            match kind.as_str() {
                "vrf" => match &it.vrf {
                    None if state != NmState::Absent => {
                        d.err(
                            obj,
                            format!("{base}.vrf"),
                            "an interface of type vrf needs a vrf section (port, route-table-id)",
                        );
                    }
                    None => {}
                    Some(v) => {
                        vrf_ports = v.port.clone();
                        match v.route_table_id {
                            None => d.err(obj, format!("{base}.vrf.route-table-id"), "route-table-id is required"),
                            Some(id) => match reserved_table(id) {
                                Some(reason) => d.err(obj, format!("{base}.vrf.route-table-id"), reason),
                                None => {
                                    let id = u32::try_from(id).unwrap_or_default();
                                    if let Some(other) = tables.get(&id) {
                                        d.err(
                                            obj,
                                            format!("{base}.vrf.route-table-id"),
                                            format!("table {id} is already the table of VRF \"{other}\": a table serves one VRF"),
                                        );
                                    } else {
                                        tables.insert(id, name.clone());
                                    }
                                    vrf_table = Some(id);
                                }
                            },
                        }
                    }
                },
                "ethernet" => {}
                "" => {
                    if state != NmState::Absent {
                        d.err(obj, format!("{base}.type"), "type is required");
                    }
                }
                other => {
                    d.warn(
                        obj,
                        format!("{base}.type"),
                        format!("interfaces of type \"{other}\" are not interpreted by ferrolb (NMState applies them as written)"),
                    );
                    continue;
                }
            }
            let mut addresses = Vec::new();
            let mut dynamic = false;
            for (fam, ip) in [("ipv4", &it.ipv4), ("ipv6", &it.ipv6)] {
                let Some(ip) = ip else { continue };
                dynamic |= ip.dhcp == Some(true) || ip.autoconf == Some(true);
                for (k, a) in ip.address.iter().enumerate() {
                    let at = format!("{base}.{fam}.address[{k}]");
                    let text = a.ip.as_deref().unwrap_or_default();
                    let Some(addr) = parse::parse_ip(text) else {
                        d.err(obj, format!("{at}.ip"), format!("\"{text}\" is not an IP address"));
                        continue;
                    };
                    let want = if fam == "ipv4" { IpFamily::Ipv4 } else { IpFamily::Ipv6 };
                    if IpFamily::of(&addr) != want {
                        d.err(
                            obj,
                            format!("{at}.ip"),
                            format!("{addr} is not an {} address", fam.to_uppercase().replace('V', "v")),
                        );
                        continue;
                    }
                    let Some(len) = a.prefix_length else {
                        d.err(obj, format!("{at}.prefix-length"), "prefix-length is required");
                        continue;
                    };
                    match IpNet::new(addr, len) {
                        Ok(n) => addresses.push(n),
                        Err(_) => d.err(
                            obj,
                            format!("{at}.prefix-length"),
                            format!("{len} is out of range: must be 0..={}", parse::max_len(want)),
                        ),
                    }
                }
            }
            interfaces.push(NmInterface {
                name,
                kind,
                state,
                vrf_ports,
                vrf_table,
                addresses,
                dynamic_addressing: dynamic,
                mtu: it.mtu,
            });
        }
        let mut routes = Vec::new();
        for (j, r) in s.desired_state.routes.config.iter().enumerate() {
            let base = format!("spec.desiredState.routes.config[{j}]");
            let absent = nm_state(d, obj, &format!("{base}.state"), r.state.as_deref(), &["absent"]) == NmState::Absent;
            let Some(dest) = r.destination.as_deref() else {
                d.err(obj, format!("{base}.destination"), "destination is required");
                continue;
            };
            let destination = match net_or_ip(dest) {
                Ok(n) => n,
                Err(m) => {
                    d.err(obj, format!("{base}.destination"), m);
                    continue;
                }
            };
            let next_hop_address = r.next_hop_address.as_deref().filter(|s| !s.is_empty()).and_then(|s| {
                let ip = parse::parse_ip(s);
                match ip {
                    None => d.err(obj, format!("{base}.next-hop-address"), format!("\"{s}\" is not an IP address")),
                    Some(ip) if IpFamily::of(&ip) != IpFamily::of(&destination.addr()) => d.err(
                        obj,
                        format!("{base}.next-hop-address"),
                        format!("{ip} is not of the family of destination {destination}"),
                    ),
                    Some(_) => {}
                }
                ip
            });
            routes.push(NmRoute {
                destination,
                next_hop_address,
                next_hop_interface: r.next_hop_interface.clone().filter(|s| !s.is_empty()),
                metric: r.metric,
                table_id: r.table_id.filter(|t| *t != 0),
                absent,
            });
        }
        let mut rules = Vec::new();
        for (j, r) in s.desired_state.route_rules.config.iter().enumerate() {
            let base = format!("spec.desiredState.route-rules.config[{j}]");
            let absent = nm_state(d, obj, &format!("{base}.state"), r.state.as_deref(), &["absent"]) == NmState::Absent;
            let mut net = |field: &str, v: Option<&str>| -> Option<IpNet> {
                let v = v.filter(|v| !v.is_empty())?;
                match net_or_ip(v) {
                    Ok(n) => Some(n),
                    Err(m) => {
                        d.err(obj, format!("{base}.{field}"), m);
                        None
                    }
                }
            };
            let ip_to = net("ip-to", r.ip_to.as_deref());
            let ip_from = net("ip-from", r.ip_from.as_deref());
            rules.push(NmRouteRule { ip_to, ip_from, priority: r.priority, route_table: r.route_table, absent });
        }
        model.network_policies.push(NetworkPolicy {
            id: o.info.id.clone(),
            origin: o.info.origin.clone(),
            node_selector: LabelSelector { match_labels: s.node_selector.clone(), match_expressions: Vec::new() },
            interfaces,
            routes,
            rules,
        });
    }
    model.network_policies.sort_unstable_by(|a, b| a.id.cmp(&b.id));
}

/// MetalLB's `ipfamily.ForAddressesIPs`: one address, or two of different families.
fn requested_family(ips: &[IpAddr]) -> Result<Option<(IpFamily, bool)>, String> {
    match ips {
        [] => Ok(None),
        [a] => Ok(Some((IpFamily::of(a), false))),
        [a, b] if IpFamily::of(a) != IpFamily::of(b) => Ok(Some((IpFamily::of(a), true))),
        [_, _] => Err("two addresses of the same family: at most one IPv4 and one IPv6 address".into()),
        _ => Err(format!("{} addresses: at most one IPv4 and one IPv6 address", ips.len())),
    }
}

/// A MetalLB annotation: `metallb.io/<name>`, else the legacy `metallb.universe.tf/<name>`; with
/// the key it was found under.
fn annotation<'a>(ann: &'a BTreeMap<String, String>, name: &str) -> Option<(&'a str, &'a str)> {
    if ann.is_empty() {
        return None;
    }
    for prefix in ["metallb.io/", "metallb.universe.tf/"] {
        let found = ann.iter().find(|(k, _)| k.strip_prefix(prefix) == Some(name));
        if let Some((k, v)) = found {
            return Some((v.as_str(), k.as_str()));
        }
    }
    None
}

pub(super) fn services(d: &mut Diags, objs: &[(usize, &Loaded)], model: &mut Model) {
    // Endpoints per service, from EndpointSlices.
    let mut endpoints: BTreeMap<ObjectRef, Vec<Endpoint>> = BTreeMap::new();
    for (i, o) in objs {
        let RawObject::EndpointSlice(s) = &o.raw else { continue };
        let Some(svc) = s.metadata.labels.get("kubernetes.io/service-name") else {
            d.warn(*i, "metadata.labels", "no kubernetes.io/service-name label: the slice belongs to no Service");
            continue;
        };
        let family = match s.address_type.as_deref() {
            Some("IPv4") => Some(IpFamily::Ipv4),
            Some("IPv6") => Some(IpFamily::Ipv6),
            Some("FQDN") => None,
            Some(other) => {
                d.err(*i, "addressType", format!("\"{other}\" is not an address type: IPv4, IPv6 or FQDN"));
                None
            }
            None => {
                d.err(*i, "addressType", "addressType is required");
                None
            }
        };
        let list = endpoints.entry(ObjectRef::new(o.info.id.namespace.clone(), svc.clone())).or_default();
        for (j, e) in s.endpoints.iter().enumerate() {
            let mut addresses = Vec::new();
            if let Some(family) = family {
                for (k, a) in e.addresses.iter().enumerate() {
                    match parse::parse_ip(a) {
                        Some(ip) if IpFamily::of(&ip) == family => addresses.push(ip),
                        _ => d.err(
                            *i,
                            format!("endpoints[{j}].addresses[{k}]"),
                            format!(
                                "\"{a}\" is not an address of type {}",
                                s.address_type.as_deref().unwrap_or_default()
                            ),
                        ),
                    }
                }
            }
            list.push(Endpoint {
                addresses,
                node: e.node_name.clone().unwrap_or_default(),
                ready: e.conditions.ready.unwrap_or(true),
            });
        }
    }

    // Pool ranges, to tell whether a requested address is in a pool.
    let mut ranges: Vec<(IpAddr, IpAddr, usize)> = Vec::new();
    for (pi, p) in model.pools.iter().enumerate() {
        for b in &p.addresses {
            let (a, z) = b.bounds();
            ranges.push((a, z, pi));
        }
    }
    ranges.sort_unstable();
    let list: Vec<(usize, &Loaded)> =
        objs.iter().filter(|(_, o)| matches!(o.raw, RawObject::Service(_))).copied().collect();
    let cx = ServiceCx { model, ranges: &ranges, endpoints: &endpoints };
    // Services are independent of each other: large inputs are converted on every core.
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get).min(8);
    let parts: Vec<(Vec<crate::load::Pending>, Vec<Service>)> = if threads <= 1 || list.len() < 4096 {
        vec![convert_services(&list, &cx)]
    } else {
        let per = list.len().div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = list.chunks(per).map(|c| (c, s.spawn(|| convert_services(c, &cx)))).collect();
            handles.into_iter().map(|(c, h)| h.join().unwrap_or_else(|_| convert_services(c, &cx))).collect()
        })
    };
    for (pending, services) in parts {
        d.pending.extend(pending);
        model.services.extend(services);
    }
    model.services.sort_unstable_by(|a, b| a.id.cmp(&b.id));
}

struct ServiceCx<'a> {
    model: &'a Model,
    ranges: &'a [(IpAddr, IpAddr, usize)],
    endpoints: &'a BTreeMap<ObjectRef, Vec<Endpoint>>,
}

impl ServiceCx<'_> {
    /// The pool holding `ip`.
    fn pool_of(&self, ip: &IpAddr) -> Option<usize> {
        let idx = self.ranges.partition_point(|(a, _, _)| a <= ip);
        self.ranges[..idx].iter().rev().take(64).find(|(a, z, _)| a <= ip && ip <= z).map(|(_, _, p)| *p)
    }
}

fn convert_services(list: &[(usize, &Loaded)], cx: &ServiceCx<'_>) -> (Vec<crate::load::Pending>, Vec<Service>) {
    let mut d = Diags { pending: Vec::new() };
    let mut out = Vec::with_capacity(list.len());
    for (i, o) in list {
        if let RawObject::Service(svc) = &o.raw {
            out.push(service(&mut d, *i, o, svc, cx));
        }
    }
    (d.pending, out)
}

fn service(
    d: &mut Diags,
    obj: usize,
    o: &Loaded,
    svc: &raw::Object<raw::ServiceSpec, raw::ServiceStatus>,
    cx: &ServiceCx<'_>,
) -> Service {
    let model = cx.model;
    let s = &svc.spec;
    let service_type = match s.kind.as_deref() {
        None | Some("ClusterIP") => ServiceType::ClusterIp,
        Some("NodePort") => ServiceType::NodePort,
        Some("LoadBalancer") => ServiceType::LoadBalancer,
        Some("ExternalName") => ServiceType::ExternalName,
        Some(other) => {
            d.err(
                obj,
                "spec.type",
                format!("\"{other}\" is not a Service type: ClusterIP, NodePort, LoadBalancer or ExternalName"),
            );
            ServiceType::ClusterIp
        }
    };
    let lb = service_type == ServiceType::LoadBalancer;
    let mut ports = Vec::new();
    for (j, p) in s.ports.iter().enumerate() {
        let protocol = match p.protocol.as_deref() {
            None | Some("TCP") => Protocol::Tcp,
            Some("UDP") => Protocol::Udp,
            Some("SCTP") => Protocol::Sctp,
            Some(other) => {
                d.err(
                    obj,
                    format!("spec.ports[{j}].protocol"),
                    format!("\"{other}\" is not a protocol: TCP, UDP or SCTP"),
                );
                Protocol::Tcp
            }
        };
        let port = match p.port {
            Some(n @ 1..=65535) => u16::try_from(n).unwrap_or_default(),
            Some(n) => {
                d.err(obj, format!("spec.ports[{j}].port"), format!("{n} is out of range: must be 1..=65535"));
                0
            }
            None => {
                d.err(obj, format!("spec.ports[{j}].port"), "port is required");
                0
            }
        };
        if let Some(IntOrString::Other) = p.target_port {
            d.err(obj, format!("spec.ports[{j}].targetPort"), "expected a port number or name");
        }
        let name = p.name.clone().unwrap_or_default();
        if s.ports.len() > 1 && name.is_empty() {
            d.err(obj, format!("spec.ports[{j}].name"), "name is required when a Service has several ports");
        }
        ports.push(ServicePort { name, protocol, port });
    }
    check_labels(d, obj, "spec.selector", &s.selector);
    let traffic_policy = match s.external_traffic_policy.as_deref() {
        None | Some("Cluster") => TrafficPolicy::Cluster,
        Some("Local") => TrafficPolicy::Local,
        Some(other) => {
            d.err(obj, "spec.externalTrafficPolicy", format!("\"{other}\" is not a traffic policy: Cluster or Local"));
            TrafficPolicy::Cluster
        }
    };
    let mut ip_families = Vec::new();
    for (j, f) in s.ip_families.iter().enumerate() {
        let fam = match f.as_str() {
            "IPv4" => IpFamily::Ipv4,
            "IPv6" => IpFamily::Ipv6,
            other => {
                d.err(obj, format!("spec.ipFamilies[{j}]"), format!("\"{other}\" is not an IP family: IPv4 or IPv6"));
                continue;
            }
        };
        if ip_families.contains(&fam) {
            d.err(obj, format!("spec.ipFamilies[{j}]"), format!("duplicate family {f}"));
        } else {
            ip_families.push(fam);
        }
    }
    let ip_family_policy = match s.ip_family_policy.as_deref() {
        None | Some("SingleStack") => IpFamilyPolicy::SingleStack,
        Some("PreferDualStack") => IpFamilyPolicy::PreferDualStack,
        Some("RequireDualStack") => IpFamilyPolicy::RequireDualStack,
        Some(other) => {
            d.err(
                obj,
                "spec.ipFamilyPolicy",
                format!("\"{other}\" is not an IP family policy: SingleStack, PreferDualStack or RequireDualStack"),
            );
            IpFamilyPolicy::SingleStack
        }
    };
    if ip_family_policy == IpFamilyPolicy::SingleStack && ip_families.len() > 1 {
        d.err(obj, "spec.ipFamilies", "a SingleStack Service has one IP family");
    }
    let mut cluster_ips = Vec::new();
    let given: Vec<(String, &str)> = if s.cluster_ips.is_empty() {
        s.cluster_ip.iter().map(|c| ("spec.clusterIP".to_string(), c.as_str())).collect()
    } else {
        s.cluster_ips.iter().enumerate().map(|(j, c)| (format!("spec.clusterIPs[{j}]"), c.as_str())).collect()
    };
    for (field, c) in given {
        if c.is_empty() || c == "None" {
            continue;
        }
        match parse::parse_ip(c) {
            Some(ip) => cluster_ips.push(ip),
            None => d.err(obj, field, format!("\"{c}\" is not an IP address")),
        }
    }

    let ann = &svc.metadata.annotations;
    let requested_pool = annotation(ann, "address-pool").map(|(v, _)| v.to_string()).filter(|v| !v.is_empty());
    let sharing_key = annotation(ann, "allow-shared-ip").map(|(v, _)| v.to_string()).filter(|v| !v.is_empty());
    let mut requested_ips = Vec::new();
    let lb_ips_annotation = annotation(ann, "loadBalancerIPs").filter(|(v, _)| !v.is_empty());
    if let Some((v, key)) = &lb_ips_annotation {
        let field = format!("metadata.annotations{}", super::key_path(key));
        for part in v.split(',') {
            match parse::parse_ip(part.trim()) {
                Some(ip) => requested_ips.push(ip),
                None => d.err(obj, &field, format!("\"{}\" is not an IP address", part.trim())),
            }
        }
        if let Err(m) = requested_family(&requested_ips) {
            d.err(obj, &field, m);
        }
    }
    let spec_load_balancer_ip = s.load_balancer_ip.as_deref().filter(|v| !v.is_empty()).and_then(|v| {
        let ip = parse::parse_ip(v);
        if ip.is_none() {
            d.err(obj, "spec.loadBalancerIP", format!("\"{v}\" is not an IP address"));
        }
        ip
    });
    if lb_ips_annotation.is_some() && s.load_balancer_ip.as_deref().is_some_and(|v| !v.is_empty()) {
        d.err(
            obj,
            "spec.loadBalancerIP",
            "spec.loadBalancerIP and the metallb.io/loadBalancerIPs annotation are mutually exclusive",
        );
    }
    let mut current_ips = Vec::new();
    if let Some(st) = &svc.status {
        for (j, ing) in st.load_balancer.ingress.iter().enumerate() {
            let Some(text) = ing.ip.as_deref().filter(|t| !t.is_empty()) else { continue };
            match parse::parse_ip(text) {
                Some(ip) => current_ips.push(ip),
                None => d.err(
                    obj,
                    format!("status.loadBalancer.ingress[{j}].ip"),
                    format!("\"{text}\" is not an IP address"),
                ),
            }
        }
    }

    if lb {
        if let Some(class) = &s.load_balancer_class {
            d.warn(
                obj,
                "spec.loadBalancerClass",
                format!("class \"{class}\": MetalLB (and ferrolb) serve only Services without a loadBalancerClass"),
            );
        }
        // Without any pool there is nothing to compare with (a file of Services alone).
        let pools_known = !model.pools.is_empty();
        if let Some(p) = requested_pool.as_ref().filter(|_| pools_known)
            && model.pool(p).is_none()
        {
            let (_, key) = annotation(ann, "address-pool").unwrap_or(("", ""));
            d.warn(
                    obj,
                    format!("metadata.annotations{}", super::key_path(key)),
                    format!("IPAddressPool \"{p}\" is not defined: MetalLB assigns an address from any pool that permits automatic assignment"),
                );
        }
        let wanted: Vec<(String, IpAddr)> = if let Some((_, key)) = &lb_ips_annotation {
            let field = format!("metadata.annotations{}", super::key_path(key));
            requested_ips.iter().map(|ip| (field.clone(), *ip)).collect()
        } else {
            spec_load_balancer_ip.iter().map(|ip| ("spec.loadBalancerIP".to_string(), *ip)).collect()
        };
        for (field, ip) in wanted.iter().filter(|_| pools_known) {
            match cx.pool_of(ip) {
                None => d.warn(obj, field, format!("{ip} is not in any IPAddressPool: MetalLB will not assign it")),
                Some(pi) => {
                    let pool = &model.pools[pi].id.name;
                    if requested_pool.as_ref().is_some_and(|r| r != pool && model.pool(r).is_some()) {
                        d.warn(
                            obj,
                            field,
                            format!(
                                "{ip} is in IPAddressPool \"{pool}\", not in the requested pool \"{}\": MetalLB will not assign it",
                                requested_pool.as_deref().unwrap_or_default()
                            ),
                        );
                    }
                }
            }
        }
        // MetalLB: "requested loadBalancer IP(s) does not match the ipFamily of the service".
        let ips: Vec<IpAddr> = wanted.iter().map(|(_, ip)| *ip).collect();
        if let (Ok(Some((fam, dual))), Some(first)) = (requested_family(&ips), ip_families.first()) {
            let svc_dual = ip_families.len() == 2 && ip_family_policy != IpFamilyPolicy::SingleStack;
            if dual != svc_dual || (!dual && fam != *first && ip_family_policy == IpFamilyPolicy::SingleStack) {
                d.warn(
                    obj,
                    wanted.first().map(|(f, _)| f.clone()).unwrap_or_default(),
                    "the requested address(es) do not match the Service's ipFamilies: MetalLB will not assign them",
                );
            }
        }
    }

    Service {
        id: o.info.id.clone(),
        origin: o.info.origin.clone(),
        labels: svc.metadata.labels.clone(),
        service_type,
        load_balancer_class: s.load_balancer_class.clone(),
        ip_families,
        ip_family_policy,
        cluster_ips,
        requested_pool,
        requested_ips,
        spec_load_balancer_ip,
        sharing_key,
        ports,
        traffic_policy,
        selector: s.selector.clone(),
        current_ips,
        endpoints: cx.endpoints.get(&o.info.id).cloned().unwrap_or_default(),
    }
}

pub(super) fn egress_services(d: &mut Diags, input: &Input, objs: &[(usize, &Loaded)], model: &mut Model) {
    let tables = model.route_tables();
    let have_policies = !model.network_policies.is_empty();
    for (i, o) in objs {
        let RawObject::EgressService(e) = &o.raw else { continue };
        let obj = *i;
        let s = &e.spec;
        match model.service(&o.info.id) {
            None => d.err(
                obj,
                "metadata.name",
                format!(
                    "no Service {} of type LoadBalancer: an EgressService has the namespace and name of the LoadBalancer Service it applies to",
                    o.info.id
                ),
            ),
            Some(svc) if svc.service_type != ServiceType::LoadBalancer => {
                let other = input.objects.iter().find(|x| matches!(x.raw, RawObject::Service(_)) && x.info.id == o.info.id);
                d.err(
                    obj,
                    "metadata.name",
                    format!(
                        "{} is not of type LoadBalancer: an EgressService applies to a LoadBalancer Service",
                        other.map_or_else(|| format!("Service {}", o.info.id), |x| describe(&x.info))
                    ),
                );
            }
            Some(_) => {}
        }
        let source_ip_by = match s.source_ip_by {
            None | Some(raw::SourceIpBy::LoadBalancerIp) => SourceIpBy::LoadBalancerIp,
            Some(raw::SourceIpBy::Network) => SourceIpBy::Network,
        };
        let node_selector =
            s.node_selector.as_ref().map(|n| selector(d, obj, "spec.nodeSelector", n)).unwrap_or_default();
        let network = s.network.clone().filter(|n| !n.is_empty());
        if let (Some(n), true) = (&network, have_policies) {
            let known = match n.parse::<u32>() {
                Ok(id) => id == 254 || tables.iter().any(|t| t.id == id),
                Err(_) => tables.iter().any(|t| &t.name == n),
            };
            if !known {
                d.warn(
                    obj,
                    "spec.network",
                    format!("\"{n}\" is not the route-table-id or name of a VRF of any NodeNetworkConfigurationPolicy: the table must exist on the nodes"),
                );
            }
        }
        // The reference documentation: with sourceIPBy LoadBalancerIP, the BGPAdvertisement must
        // select the egress node (label egress-service.k8s.ovn.org/<namespace>-<name>) so that
        // return traffic enters where egress traffic leaves.
        if source_ip_by == SourceIpBy::LoadBalancerIp && !model.bgp_advertisements.is_empty() {
            let label = format!("egress-service.k8s.ovn.org/{}-{}", o.info.id.namespace, o.info.id.name);
            let selects = model.bgp_advertisements.iter().any(|a| {
                a.node_selectors
                    .iter()
                    .any(|s| s.match_labels.contains_key(&label) || s.match_expressions.iter().any(|r| r.key == label))
            });
            if !selects {
                d.warn(
                    obj,
                    "spec.sourceIPBy",
                    format!(
                        "LoadBalancerIP: no BGPAdvertisement selects the egress node (nodeSelectors on label {label}), so return traffic may enter through another node"
                    ),
                );
            }
        }
        model.egress_services.push(crate::model::EgressService {
            id: o.info.id.clone(),
            origin: o.info.origin.clone(),
            source_ip_by,
            node_selector,
            network,
        });
    }
    model.egress_services.sort_unstable_by(|a, b| a.id.cmp(&b.id));
}
