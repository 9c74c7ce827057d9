//! Layer-2 announcement on a VLAN interface, inside User-Mode Linux (this machine's kernel has no
//! 802.1Q module). The test re-invokes its own executable inside UML, where it builds
//!
//! ```text
//!  node ns: eth0 ─┬─ eth0.100 192.0.2.1/24 (VLAN 100) ──veth── client ns: eth0.100 192.0.2.99/24
//!                 └─ 198.51.100.1/24 (untagged)                           eth0 198.51.100.99/24
//! ```
//!
//! runs ferrolb's ARP/NDP speaker in the node namespace with the L2Advertisement's interface set
//! to `eth0.100`, and checks with `arping` from the client that the service address is answered on
//! the VLAN with the node's MAC and not on the untagged link, and that giving the address up stops
//! the answers.
#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::Duration;

use ferrolb::l2::{L2Options, L2Service};
use ferrolb_l2::announcer::Announcement;
use ferrolb_lab::Netns;
use ferrolb_lab::uml::{Uml, guest_setup};

const IN_UML: &str = "FERROLB_L2_IN_UML";
const SVC: &str = "192.0.2.100";

#[test]
fn l2_announcement_on_a_vlan_in_uml() {
    if std::env::var_os(IN_UML).is_some() {
        guest_setup().expect("load 8021q/veth inside UML");
        inner();
        return;
    }
    if ferrolb_lab::skip_unless_root("l2_announcement_on_a_vlan_in_uml") {
        return;
    }
    let exe = std::env::current_exe().expect("test executable");
    let out = Uml::new()
        .modules(&["8021q", "veth"])
        .run_test(&exe, "l2_announcement_on_a_vlan_in_uml", &[(IN_UML, "1")])
        .expect("User-Mode Linux runs");
    println!("UML run took {:?}\n{}", out.elapsed, out.log);
    let console = &out.console[out.console.len().saturating_sub(3000)..];
    assert_eq!(out.verdict, Some(0), "inside UML:\n{}\nconsole tail:\n{console}", out.log);
    assert!(out.log.contains("test result: ok. 1 passed"), "{}", out.log);
}

/// `arping` once on `interface` from the client; the replying MAC, if any.
fn arping(client: &Netns, interface: &str) -> Option<String> {
    let out = client
        .command("arping")
        .args(["-c", "1", "-w", "1", "-I", interface, SVC])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    let mut words = text.split_whitespace().skip_while(|w| *w != "from");
    words.nth(1).map(str::to_string)
}

fn inner() {
    let node = Netns::new("vlan-node").unwrap();
    let client = Netns::new("vlan-cl").unwrap();
    node.veth("eth0", &client, "eth0").unwrap();
    node.ip(&["link", "set", "eth0", "address", "02:00:00:00:00:01"]).unwrap();
    for (ns, last) in [(&node, "1"), (&client, "99")] {
        ns.ip(&["link", "add", "link", "eth0", "name", "eth0.100", "type", "vlan", "id", "100"]).unwrap();
        ns.ip(&["link", "set", "eth0.100", "up"]).unwrap();
        ns.add_addr("eth0.100", &format!("192.0.2.{last}/24")).unwrap();
        ns.add_addr("eth0", &format!("198.51.100.{last}/24")).unwrap();
    }
    let detail = node.ip(&["-d", "link", "show", "eth0.100"]).unwrap();
    assert!(detail.contains("vlan protocol 802.1Q id 100"), "{detail}");

    // The speaker runs in the node namespace, on a thread that entered it.
    let path = format!("/run/netns/{}", node.name());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<Vec<Announcement>>>();
    let (ack_tx, ack_rx) = std::sync::mpsc::channel::<()>();
    let speaker = std::thread::spawn(move || {
        let f = std::fs::File::open(&path).unwrap();
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let options = L2Options { exclude_prefixes: vec!["lo".into()], ..L2Options::default() };
            let l2 = L2Service::start(options).unwrap();
            ack_tx.send(()).unwrap();
            while let Some(Some(list)) = rx.recv().await {
                l2.set_announcements(list).unwrap();
                // Let the driver take the new list and see its interfaces.
                tokio::time::sleep(Duration::from_millis(300)).await;
                ack_tx.send(()).unwrap();
            }
            l2.stop();
        });
    });
    ack_rx.recv_timeout(Duration::from_secs(10)).unwrap();

    // The L2Advertisement allows only the VLAN interface.
    let ip = SVC.parse().unwrap();
    tx.send(Some(vec![Announcement { ip, interfaces: vec!["eth0.100".into()] }])).unwrap();
    ack_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(arping(&client, "eth0.100").as_deref(), Some("02:00:00:00:00:01"), "answered on VLAN 100");
    assert_eq!(arping(&client, "eth0"), None, "not answered on the untagged link");

    // Given up: no answer any more.
    tx.send(Some(vec![])).unwrap();
    ack_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(arping(&client, "eth0.100"), None, "silent once given up");
    tx.send(None).unwrap();
    speaker.join().unwrap();
}
