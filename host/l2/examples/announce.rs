//! Prints, one per line, the frames the announcer sends when it takes addresses over on one
//! interface (Ethernet output for NDP too), as `<kind> <hex frame>`. Useful to look at with
//! `text2pcap`/tcpdump or to inject into a lab namespace; it also shows how a driver calls the core.
//!
//! `cargo run -p ferrolb-l2 --example announce -- <ifname> <ifindex> <mac> <ip>...`

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Instant;

use ferrolb_l2::MacAddr;
use ferrolb_l2::announcer::{Action, Announcement, Announcer, AnnouncerConfig, InterfaceFacts, NdpOutput};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [name, index, mac, ips @ ..] = &args[..] else {
        eprintln!("usage: announce <ifname> <ifindex> <mac> <ip>...");
        return ExitCode::FAILURE;
    };
    let (Ok(index), Ok(mac)) = (index.parse::<u32>(), mac.parse::<MacAddr>()) else {
        eprintln!("bad ifindex or mac");
        return ExitCode::FAILURE;
    };
    let mut announcements = Vec::new();
    for ip in ips {
        match ip.parse::<IpAddr>() {
            Ok(ip) => announcements.push(Announcement { ip, interfaces: vec![] }),
            Err(e) => {
                eprintln!("{ip}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let config = AnnouncerConfig {
        ndp_output: NdpOutput::EthernetFrame,
        schedule: vec![Default::default()],
        ..Default::default()
    };
    let Ok(mut announcer) = Announcer::new(config) else {
        eprintln!("bad config");
        return ExitCode::FAILURE;
    };
    let now = Instant::now();
    let iface = InterfaceFacts { index, name: name.clone(), mac, up: true, vlan: None, link_local: None };
    announcer.set_interfaces(now, vec![iface]);
    announcer.set_announcements(now, announcements);
    while let Some(action) = announcer.poll_action() {
        if let Action::SendFrame { kind, frame, .. } = action {
            let hex: String = frame.iter().map(|b| format!("{b:02x}")).collect();
            println!("{kind:?} {hex}");
        }
    }
    ExitCode::SUCCESS
}
