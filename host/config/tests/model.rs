//! What the model holds for valid manifests: the typed values the controller and the policies
//! receive (addresses parsed, durations in milliseconds, aliases resolved, defaults left unset,
//! legacy objects converted, endpoints attached to their services).

use ferrolb_config::model::{
    AddressBlock, Community, DynamicAsn, FilterMode, IpFamily, IpFamilyPolicy, NmState, SelectorOperator, ServiceType,
    SourceIpBy, TrafficPolicy,
};
use ferrolb_config::{Model, Source, load, load_str};
use std::net::IpAddr;
use std::path::Path;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn good(name: &str) -> Model {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/good").join(name);
    let result = load(&[Source::Path(path)]);
    assert!(!result.has_errors(), "{:#?}", result.diagnostics);
    result.model.expect("a model when there is no error")
}

fn valid(text: &str) -> Model {
    let result = load_str("test.yaml", text);
    assert!(!result.has_errors(), "{:#?}", result.diagnostics);
    result.model.expect("a model when there is no error")
}

#[test]
fn symmetric_routing_scenario() {
    let m = good("symmetric-routing-vrf-egress.yaml");
    assert_eq!(m.route_tables().len(), 1);
    assert_eq!((m.route_tables()[0].name.as_str(), m.route_tables()[0].id), ("ens4vrf", 2));
    let policy = &m.network_policies[0];
    assert_eq!(policy.node_selector.match_labels.get("vrf").map(String::as_str), Some("true"));
    let ens4 = policy.interfaces.iter().find(|i| i.name == "ens4").expect("ens4");
    assert_eq!(ens4.addresses, vec!["192.168.130.130/24".parse().expect("net")]);
    assert_eq!(ens4.state, NmState::Up);
    assert_eq!(policy.routes[0].table_id, Some(2));
    assert_eq!(policy.routes[0].next_hop_address, Some(ip("192.168.130.1")));
    assert_eq!(policy.rules.len(), 3);
    assert_eq!(policy.rules[0].route_table, Some(254));

    let peer = &m.bgp_peers[0];
    assert_eq!((peer.my_asn, peer.peer_asn, peer.vrf.as_str()), (100, Some(200), "ens4vrf"));
    assert_eq!(peer.address, Some(ip("192.168.130.1")));
    assert_eq!(peer.port, None, "unset stays unset (the policy applies 179)");

    let adv = &m.bgp_advertisements[0];
    assert_eq!(adv.peers, vec!["frrviavrf".to_string()]);
    assert!(adv.node_selectors[0].match_labels.contains_key("egress-service.k8s.ovn.org/test-server1"));

    let e = &m.egress_services[0];
    assert_eq!((e.id.namespace.as_str(), e.id.name.as_str()), ("test", "server1"));
    assert_eq!(e.source_ip_by, SourceIpBy::LoadBalancerIp);
    assert_eq!(e.network.as_deref(), Some("2"));
    assert_eq!(
        m.pool("first-pool").map(|p| p.addresses.clone()),
        Some(vec![AddressBlock::Cidr("192.169.10.0/32".parse().expect("net"))])
    );
}

#[test]
fn pools_keep_their_order_and_defaults() {
    let m = good("ocp-25.1.4.3-dual-stack-pool.yaml");
    let pool = &m.pools[0];
    assert!(pool.auto_assign && !pool.avoid_buggy_ips);
    assert_eq!(pool.addresses[0].family(), IpFamily::Ipv4);
    assert_eq!(pool.addresses[1], AddressBlock::Range { first: ip("2002:2:2::1"), last: ip("2002:2:2::100") });
    assert!(pool.contains(&ip("2002:2:2::ff")) && !pool.contains(&ip("2002:2:2::101")));

    let m = good("ocp-25.1.4.4-service-allocation.yaml");
    let a = m.pools[0].service_allocation.clone().expect("serviceAllocation");
    assert_eq!(a.priority, Some(50));
    assert_eq!(a.namespaces, vec!["namespace-a".to_string(), "namespace-b".to_string()]);
    assert_eq!(a.service_selectors[0].match_expressions[0].operator, SelectorOperator::In);
}

#[test]
fn communities_are_resolved_and_timers_are_milliseconds() {
    let m = good("ocp-25.4.2-community-alias.yaml");
    assert_eq!(m.communities[0].community, Community::Standard(0xFFFF_FF02));
    let adv = &m.bgp_advertisements[0];
    assert_eq!(adv.communities, vec!["NO_ADVERTISE".to_string()]);
    assert_eq!(adv.resolved_communities, vec![Community::Standard(0xFFFF_FF02)]);
    assert_eq!((adv.aggregation_length, adv.aggregation_length_v6), (Some(32), Some(128)));

    let m = good("ocp-25.3.5.2-peer-bfd.yaml");
    assert_eq!(m.bgp_peers[0].hold_time_ms, Some(10_000));
    assert_eq!(m.bgp_peers[0].keepalive_time_ms, None);
    let bfd = &m.bfd_profiles[0].settings;
    assert_eq!((bfd.receive_interval, bfd.detect_multiplier, bfd.passive_mode), (Some(300), Some(3), Some(true)));
    assert_eq!(bfd.echo_interval, None);
}

#[test]
fn legacy_objects_are_converted() {
    let m = good("blog-bgp-mode-frr-bfd.yaml");
    assert_eq!(m.pools[0].id.name, "address-pool-bgp");
    assert_eq!(m.pools[0].addresses.len(), 6);
    assert_eq!(m.bgp_advertisements.len(), 1, "protocol bgp implies a BGPAdvertisement");
    assert_eq!(m.bgp_advertisements[0].pools, vec!["address-pool-bgp".to_string()]);
    assert_eq!(m.bgp_peers[0].bfd_profile.as_deref(), Some("test-bfd-prof"));
    assert_eq!(m.bgp_peers[0].peer_asn, Some(64521));
    let metallb = m.metallb.expect("MetalLB CR");
    assert_eq!(metallb.speaker_node_selector.get("node-role.kubernetes.io/worker").map(String::as_str), Some(""));
}

#[test]
fn frr_configurations_mirror_the_manifest() {
    let m = good("ocp-25.8.2.3-frr-to-receive.yaml");
    let c = m.frr_configurations.iter().find(|c| c.id.name == "test").expect("test");
    let n = &c.routers[0].neighbors[0];
    assert_eq!((n.address, n.asn, n.port), (Some(ip("172.18.0.5")), Some(64512), Some(179)));
    assert_eq!(n.to_receive.mode, None);
    assert_eq!(n.to_receive.prefixes[1].ge, Some(25));
    assert_eq!(n.to_receive.prefixes[1].le, Some(28));
    let all = m.frr_configurations.iter().find(|c| c.id.name == "test-all").expect("test-all");
    assert_eq!(all.routers[0].neighbors[0].to_receive.mode, Some(FilterMode::All));

    let m = good("ocp-25.8.1-frr-receive-and-always-block.yaml");
    let metallb = m.metallb.expect("MetalLB CR");
    assert_eq!(metallb.always_block[0].prefix, "192.168.1.0/24".parse().expect("net"));
    assert_eq!(metallb.bgp_backend.as_deref(), Some("frr-k8s"));
}

const CLUSTER: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels: {team: web}
---
apiVersion: v1
kind: Node
metadata:
  name: worker-1
  labels: {kubernetes.io/hostname: worker-1}
status:
  addresses:
  - {type: InternalIP, address: 192.168.1.11}
  - {type: Hostname, address: worker-1}
  - {type: InternalIP, address: "fd00::11"}
  conditions:
  - {type: Ready, status: "True"}
  - {type: NetworkUnavailable, status: "False"}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: gold, namespace: metallb-system}
spec:
  addresses: [192.168.10.0/24, "fc00::/120"]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  labels: {app: web}
  annotations:
    metallb.universe.tf/address-pool: gold
    metallb.io/loadBalancerIPs: "192.168.10.5, fc00::5"
    metallb.universe.tf/allow-shared-ip: web
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  ipFamilyPolicy: RequireDualStack
  ipFamilies: [IPv4, IPv6]
  clusterIPs: [10.96.0.10, "fd00:96::10"]
  selector: {app: web}
  ports:
  - {name: http, port: 80}
  - {name: dns, port: 53, protocol: UDP}
status:
  loadBalancer:
    ingress:
    - ip: 192.168.10.5
    - ip: "fc00::5"
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-x1
  namespace: shop
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
endpoints:
- addresses: [10.244.1.5]
  nodeName: worker-1
- addresses: [10.244.2.5]
  nodeName: worker-2
  conditions: {ready: false}
"#;

#[test]
fn services_nodes_and_namespaces() {
    let m = valid(CLUSTER);
    let svc = &m.services[0];
    assert_eq!(svc.service_type, ServiceType::LoadBalancer);
    assert_eq!(svc.requested_pool.as_deref(), Some("gold"), "legacy annotation read");
    assert_eq!(svc.requested_ips, vec![ip("192.168.10.5"), ip("fc00::5")]);
    assert_eq!(svc.sharing_key.as_deref(), Some("web"));
    assert_eq!(svc.ip_families, vec![IpFamily::Ipv4, IpFamily::Ipv6]);
    assert_eq!(svc.ip_family_policy, IpFamilyPolicy::RequireDualStack);
    assert_eq!(svc.traffic_policy, TrafficPolicy::Local);
    assert_eq!(svc.current_ips, vec![ip("192.168.10.5"), ip("fc00::5")]);
    assert_eq!(svc.cluster_ips.len(), 2);
    assert_eq!(svc.ports.len(), 2);
    assert_eq!(svc.endpoints.len(), 2);
    assert!(svc.endpoints[0].ready && !svc.endpoints[1].ready);
    assert_eq!(svc.endpoints[1].node, "worker-2");

    let node = m.node("worker-1").expect("node");
    assert_eq!(node.addresses, vec![ip("192.168.1.11"), ip("fd00::11")]);
    assert!(node.conditions.ready && !node.conditions.network_unavailable);
    assert_eq!(m.namespaces[0].labels.get("team").map(String::as_str), Some("web"));
}

#[test]
fn selectors_match_like_kubernetes() {
    let m = valid(
        "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: l2, namespace: metallb-system}\nspec:\n  nodeSelectors:\n  - matchLabels: {rack: r1}\n    matchExpressions:\n    - {key: zone, operator: NotIn, values: [b]}\n    - {key: gpu, operator: DoesNotExist}\n",
    );
    let s = &m.l2_advertisements[0].node_selectors[0];
    let labels = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert!(s.matches(&labels(&[("rack", "r1")])));
    assert!(s.matches(&labels(&[("rack", "r1"), ("zone", "a")])));
    assert!(!s.matches(&labels(&[("rack", "r1"), ("zone", "b")])));
    assert!(!s.matches(&labels(&[("rack", "r1"), ("gpu", "")])));
    assert!(!s.matches(&labels(&[("rack", "r2")])));
    assert_eq!(s.to_string(), "rack=r1,zone notin (b),!gpu");
}

#[test]
fn yaml_reads_as_kubernetes_reads_it() {
    // YAML 1.1 booleans (go-yaml v2), a Kubernetes List, JSON, a dynamic ASN.
    let m = valid(
        r#"{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": {"name": "a", "namespace": "metallb-system"},
   "spec": {"addresses": ["10.0.0.0/24"], "autoAssign": false}}]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: b, namespace: metallb-system}
spec:
  addresses: [10.0.1.0/24]
  autoAssign: no
  avoidBuggyIPs: yes
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: p, namespace: metallb-system}
spec: {myASN: 64500, dynamicASN: internal, peerAddress: 10.0.0.1, keepaliveTime: 1m, holdTime: 3m}
"#,
    );
    assert!(!m.pool("a").expect("a").auto_assign);
    let b = m.pool("b").expect("b");
    assert!(!b.auto_assign && b.avoid_buggy_ips);
    let p = &m.bgp_peers[0];
    assert_eq!((p.dynamic_asn, p.peer_asn), (Some(DynamicAsn::Internal), None));
    assert_eq!((p.keepalive_time_ms, p.hold_time_ms), (Some(60_000), Some(180_000)));
}

#[test]
fn the_model_serialises_for_the_store() {
    let m = valid(CLUSTER);
    let json = serde_json::to_vec(&m).expect("serialise");
    let back: Model = serde_json::from_slice(&json).expect("deserialise");
    assert_eq!(back, m);
}
