//! The symmetric-routing reference example planned end to end with the default plugins: the
//! egress policy picks the VRF node, labels it, the BGPAdvertisement follows that label, and the
//! node's kernel state (VRF, its default route, route-rules, egress rules, SNAT) comes out of the
//! same plan. `ferrolb-netlink`'s tests (namespaces and User-Mode Linux) prove that this state
//! programs a real kernel and carries traffic.

use std::path::PathBuf;
use std::sync::Arc;

use ferrolb::config::{Source, load};
use ferrolb::controller::plan;
use ferrolb::policy::{Registry, Runtime, RuntimeConfig};

fn planned(node: &str) -> ferrolb::controller::Plan {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/symmetric-routing.yaml");
    let loaded = load(&[Source::Path(file)]);
    let errors: Vec<String> = loaded.errors().map(|d| d.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let model = loaded.model.expect("model");
    let rt = Arc::new(Runtime::new(RuntimeConfig::default()).expect("runtime"));
    let registry = Registry::with_builtins(rt).expect("default plugins");
    plan(&registry, &model, node, &[])
}

#[test]
fn the_vrf_node_egresses_with_the_service_address_and_announces_it_in_the_vrf() {
    let p = planned("worker-0");
    for s in &p.policies {
        assert_eq!(s.status, "ok", "{s:?}");
    }
    let json = serde_json::to_value(&p).expect("json");
    let e = &json["egress"][0];
    assert_eq!(e["service"], "test/server1");
    assert_eq!(e["node"], "worker-0");
    assert_eq!(e["nodeLabel"], "egress-service.k8s.ovn.org/test-server1");
    assert_eq!(e["sourceIp"], "192.169.10.0");
    assert_eq!(e["table"], 2);
    // Every ready endpoint of the service (on any node) leaves through the egress node.
    let rules: Vec<String> = e["rules"].as_array().expect("rules").iter().map(|r| r["from"].to_string()).collect();
    assert_eq!(rules, ["\"10.132.0.15/32\"", "\"10.132.0.16/32\"", "\"10.132.2.20/32\""]);
    assert_eq!(e["snat"].as_array().expect("snat").len(), 3);

    // The BGPAdvertisement selects the egress node by its label: the route goes to the VRF peer.
    assert_eq!(p.bgp.len(), 1, "{:?}", p.bgp);
    assert_eq!((p.bgp[0].peer.as_str(), p.bgp[0].vrf.as_str()), ("frrviavrf", "ens4vrf"));
    assert_eq!(p.bgp[0].prefix.to_string(), "192.169.10.0/32");

    // The kernel state of worker-0.
    let k = &p.kernel;
    assert!(p.kernel_errors.is_empty(), "{:?}", p.kernel_errors);
    assert_eq!(k.vrfs.len(), 1);
    assert_eq!(
        (k.vrfs[0].name.as_str(), k.vrfs[0].table, k.vrfs[0].ports.clone()),
        ("ens4vrf", 2, vec!["ens4".to_string()])
    );
    assert_eq!(k.routes.len(), 1);
    assert_eq!((k.routes[0].dst.to_string(), k.routes[0].table), ("0.0.0.0/0".to_string(), 2));
    let rules: Vec<String> = k.rules.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        rules,
        [
            "rule priority 998 to 172.30.0.0/16 lookup 254",
            "rule priority 998 to 10.132.0.0/14 lookup 254",
            "rule priority 998 to 169.254.0.0/17 lookup 254",
            "rule priority 5000 from 10.132.0.15/32 lookup 2",
            "rule priority 5000 from 10.132.0.16/32 lookup 2",
            "rule priority 5000 from 10.132.2.20/32 lookup 2",
        ]
    );
    let snat: Vec<String> = k.snat.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        snat,
        [
            "snat from 10.132.0.15 to 192.169.10.0",
            "snat from 10.132.0.16 to 192.169.10.0",
            "snat from 10.132.2.20 to 192.169.10.0",
        ]
    );
    k.validate().expect("valid for the netlink layer");
}

#[test]
fn the_other_node_neither_announces_nor_programs_egress() {
    let p = planned("worker-1");
    let json = serde_json::to_value(&p).expect("json");
    assert_eq!(json["egress"][0]["node"], "worker-0", "every node computes the same choice");
    assert_eq!(json["egress"][0]["rules"], serde_json::json!([]), "rules are for the egress node only");
    assert!(p.bgp.is_empty(), "worker-1 lacks the egress label: {:?}", p.bgp);
    assert_eq!(p.kernel, ferrolb_netlink::DesiredState::default(), "no VRF policy and no egress here");
}
