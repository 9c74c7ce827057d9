//! Lab: the announcer against the Linux kernel, `arping` and `ndisc6` in two namespaces joined by
//! a veth pair. A 30-line Python AF_PACKET bridge stands in for the driver (the crate is sans-IO
//! and `unsafe`-free, so it cannot open a packet socket itself): it prints every frame received on
//! the speaker's interface as hex and sends every hex line it is given.
//!
//! Needs root, `ip`, `python3`, `arping`, `ndisc6`; skips loudly (not silently) without root.

use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use ferrolb_l2::MacAddr;
use ferrolb_l2::announcer::{Action, Announcement, Announcer, AnnouncerConfig, InterfaceFacts, NdpOutput};
use ferrolb_lab::{Netns, skip_unless_root};

const BRIDGE: &str = r#"
import os, select, socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0))
print("ready", flush=True)
while True:
    r, _, _ = select.select([s, sys.stdin], [], [])
    if s in r:
        data, addr = s.recvfrom(65535)
        if addr[2] != socket.PACKET_OUTGOING:
            print("rx " + data.hex(), flush=True)
    if sys.stdin in r:
        line = sys.stdin.readline()
        if not line:
            break
        s.send(bytes.fromhex(line.strip()))
"#;

const SPEAKER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x0a]);

/// The speaker side: the announcer wired to the bridge.
struct Speaker {
    child: Child,
    stdin: ChildStdin,
    rx: Receiver<Vec<u8>>,
    announcer: Announcer,
    ifindex: u32,
    script: std::path::PathBuf,
}

impl Drop for Speaker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.script);
    }
}

impl Speaker {
    fn start(ns: &Netns, ifname: &str) -> Speaker {
        let script =
            std::env::temp_dir().join(format!("ferrolb-l2-bridge-{}-{ifname}-{}.py", std::process::id(), ns.name()));
        std::fs::write(&script, BRIDGE).expect("write bridge script");
        let mut child = ns
            .command("python3")
            .arg(&script)
            .arg(ifname)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 bridge");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = channel();
        let (ready_tx, ready_rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line == "ready" {
                    let _ = ready_tx.send(());
                } else if let Some(hex) = line.strip_prefix("rx ") {
                    let bytes: Vec<u8> = (0..hex.len() / 2)
                        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                        .collect();
                    if tx.send(bytes).is_err() {
                        break;
                    }
                }
            }
        });
        ready_rx.recv_timeout(Duration::from_secs(10)).expect("bridge ready");
        let index: u32 = ns
            .exec("cat", &[&format!("/sys/class/net/{ifname}/ifindex")])
            .expect("ifindex")
            .trim()
            .parse()
            .expect("numeric ifindex");
        let config = AnnouncerConfig { ndp_output: NdpOutput::EthernetFrame, ..AnnouncerConfig::default() };
        let mut announcer = Announcer::new(config).expect("config");
        let facts =
            InterfaceFacts { index, name: ifname.into(), mac: SPEAKER_MAC, up: true, vlan: None, link_local: None };
        announcer.set_interfaces(Instant::now(), vec![facts]);
        Speaker { child, stdin, rx, announcer, ifindex: index, script }
    }

    fn announce(&mut self, ips: &[&str]) {
        let list =
            ips.iter().map(|ip| Announcement { ip: ip.parse::<IpAddr>().expect("ip"), interfaces: vec![] }).collect();
        self.announcer.set_announcements(Instant::now(), list);
        self.flush();
    }

    fn flush(&mut self) {
        while let Some(a) = self.announcer.poll_action() {
            if let Action::SendFrame { frame, .. } = a {
                let hex: String = frame.iter().map(|b| format!("{b:02x}")).collect();
                writeln!(self.stdin, "{hex}").expect("write to bridge");
            }
        }
        self.stdin.flush().expect("flush bridge");
    }

    /// Runs the speaker's event loop (frames and timers, real clock) while `client` runs; its output.
    fn serve_while(&mut self, mut client: Child) -> (bool, String) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = client.try_wait().expect("client status") {
                let mut out = String::new();
                if let Some(mut o) = client.stdout.take() {
                    let _ = std::io::Read::read_to_string(&mut o, &mut out);
                }
                return (status.success(), out);
            }
            assert!(Instant::now() < deadline, "client did not finish");
            self.turn();
        }
    }

    /// One turn of the speaker's event loop (frames and timers, real clock).
    fn turn(&mut self) {
        if let Ok(frame) = self.rx.recv_timeout(Duration::from_millis(5)) {
            self.announcer.handle_frame(Instant::now(), self.ifindex, &frame);
        }
        let now = Instant::now();
        if self.announcer.poll_timeout().is_some_and(|t| t <= now) {
            self.announcer.handle_timeout(now);
        }
        self.flush();
    }
}

fn pair() -> (Netns, Netns) {
    let speaker = Netns::new("l2sp").expect("netns");
    let client = Netns::new("l2cl").expect("netns");
    speaker.veth("va", &client, "vb").expect("veth");
    speaker.ip(&["link", "set", "va", "address", &SPEAKER_MAC.to_string()]).expect("mac");
    client.ip(&["link", "set", "vb", "address", "02:00:00:00:00:0b"]).expect("mac");
    client.add_addr("vb", "192.0.2.99/24").expect("v4");
    client.ip(&["addr", "add", "2001:db8::99/64", "dev", "vb", "nodad"]).expect("v6");
    speaker.link_up("va").expect("up");
    client.link_up("vb").expect("up");
    (speaker, client)
}

fn neigh(client: &Netns, ip: &str) -> String {
    client.ip(&["neigh", "show", "to", ip, "dev", "vb"]).expect("ip neigh")
}

#[test]
fn kernel_caches_follow_gratuitous_arp_and_unsolicited_na() {
    if skip_unless_root("kernel_caches_follow_gratuitous_arp_and_unsolicited_na") {
        return;
    }
    let (speaker_ns, client) = pair();
    // The client still has the previous owner's MAC cached.
    for ip in ["192.0.2.10", "2001:db8::10"] {
        client.ip(&["neigh", "add", ip, "lladdr", "02:00:00:00:00:bb", "dev", "vb", "nud", "stale"]).expect("neigh");
    }
    let mut speaker = Speaker::start(&speaker_ns, "va");
    speaker.announce(&["192.0.2.10", "2001:db8::10"]);
    // The schedule's repeats (+100 ms ... +2 s) also cover copies sent before the link was ready.
    let t = Instant::now();
    loop {
        let (v4, v6) = (neigh(&client, "192.0.2.10"), neigh(&client, "2001:db8::10"));
        if v4.contains("02:00:00:00:00:0a") && v6.contains("02:00:00:00:00:0a") {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "caches not updated: {v4:?} {v6:?}");
        speaker.turn();
    }
    assert!(speaker.announcer.counters().gratuitous_arp_sent >= 1);
}

#[test]
fn arping_and_ndisc6_get_answers_only_while_announced() {
    if skip_unless_root("arping_and_ndisc6_get_answers_only_while_announced") {
        return;
    }
    let (speaker_ns, client) = pair();
    let mut speaker = Speaker::start(&speaker_ns, "va");
    speaker.announce(&["192.0.2.10", "2001:db8::10"]);
    let arping = || {
        client
            .command("arping")
            .args(["-c", "1", "-w", "2", "-I", "vb", "192.0.2.10"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("arping")
    };
    let ndisc6 = || {
        client
            .command("ndisc6")
            .args(["-1", "-r", "2", "-w", "500", "2001:db8::10", "vb"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("ndisc6")
    };
    let (ok, out) = speaker.serve_while(arping());
    assert!(ok && out.contains("02:00:00:00:00:0a"), "arping: {out}");
    let (ok, out) = speaker.serve_while(ndisc6());
    assert!(ok && out.to_lowercase().contains("02:00:00:00:00:0a"), "ndisc6: {out} {:?}", speaker.announcer.counters());
    assert_eq!(speaker.announcer.counters().arp_replies_sent, 1);
    assert!(speaker.announcer.counters().na_sent >= 1);
    // Given up: no more answers.
    speaker.announce(&[]);
    let (ok, out) = speaker.serve_while(arping());
    assert!(!ok, "arping answered after give-up: {out}");
    let (ok, out) = speaker.serve_while(ndisc6());
    assert!(!ok, "ndisc6 answered after give-up: {out}");
    assert!(speaker.announcer.counters().not_owned >= 2);
}
