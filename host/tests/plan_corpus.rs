//! Every good manifest of the configuration corpus (every YAML example of the reference documents)
//! plans sensibly with the default plugins: no policy fails, every LoadBalancer service is either
//! allocated an address from a pool that contains it or refused with a reason, every route goes to
//! a known peer, and the plan is deterministic and serialises to the JSON contract.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use ferrolb::config::{Source, load};
use ferrolb::controller::plan;
use ferrolb::policy::{Registry, Runtime, RuntimeConfig};

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| {
        let rt = Arc::new(Runtime::new(RuntimeConfig::default()).expect("runtime"));
        Registry::with_builtins(rt).expect("default plugins")
    })
}

fn good_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/tests/data/good");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_reference_example_plans_sensibly() {
    let files = good_files();
    assert!(files.len() >= 30, "only {} good corpus files", files.len());
    let mut planned_services = 0;
    for file in &files {
        let name = file.display().to_string();
        let model = load(&[Source::Path(file.clone())]).model.unwrap_or_else(|| panic!("{name} does not load"));
        let nodes: Vec<String> = if model.nodes.is_empty() {
            vec!["node-0".into()]
        } else {
            model.nodes.iter().map(|n| n.name.clone()).collect()
        };
        for node in &nodes {
            let p = plan(registry(), &model, node, &[]);
            for s in &p.policies {
                assert_ne!(s.status, "failed", "{name} node {node}: {} failed: {}", s.world, s.message);
            }
            for svc in model.load_balancers().filter(|s| s.load_balancer_class.is_none()) {
                let id = svc.id.to_string();
                let granted = p.allocations.iter().find(|a| a.service == id);
                let refused = p.allocation_errors.iter().find(|e| e.service == id);
                match (granted, refused) {
                    (Some(a), None) => {
                        let pool = model.pool(&a.pool).unwrap_or_else(|| panic!("{name}: {id} from unknown pool"));
                        assert!(
                            a.ips.iter().all(|ip| pool.contains(ip)),
                            "{name}: {id} got {:?} outside {}",
                            a.ips,
                            a.pool
                        );
                        planned_services += 1;
                    }
                    (None, Some(e)) => assert!(!e.reason.is_empty(), "{name}: {id} refused without a reason"),
                    other => {
                        panic!("{name} node {node}: {id} is neither allocated nor refused exactly once: {other:?}")
                    }
                }
            }
            for r in &p.bgp {
                assert!(model.bgp_peer(&r.peer).is_some(), "{name}: route {} to unknown peer {}", r.prefix, r.peer);
            }
            let again = plan(registry(), &model, node, &[]);
            assert_eq!(p, again, "{name} node {node}: the plan is not deterministic");
            let json = serde_json::to_value(&p).expect("serialises");
            for key in ["node", "allocations", "allocationErrors", "bgp", "l2", "router", "mergeErrors", "egress"] {
                assert!(json.get(key).is_some(), "{name}: the plan lacks {key}");
            }
        }
    }
    assert!(planned_services > 0, "no example allocated anything");
}
