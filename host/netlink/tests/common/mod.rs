//! Shared test helpers: uniquely named network namespaces removed on drop, and `ip` shortcuts.
#![allow(dead_code, clippy::unwrap_used)]

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use ferrolb_netlink::Netns;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A network namespace created with `ip netns add`, deleted when dropped.
pub struct NsGuard {
    pub name: String,
}

impl NsGuard {
    pub fn new(tag: &str) -> Self {
        let name = format!("fnl-{tag}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        run(&["ip", "netns", "add", &name]);
        let g = NsGuard { name };
        g.ip(&["link", "set", "lo", "up"]);
        g
    }

    pub fn netns(&self) -> Netns {
        Netns::named(&self.name)
    }

    /// `ip -n NAME args...`, panicking on failure.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "-n", &self.name];
        full.extend_from_slice(args);
        run(&full)
    }

    /// `ip netns exec NAME cmd...`, returning success and output.
    pub fn exec(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("ip").args(["netns", "exec", &self.name]).args(args).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    pub fn sysctl(&self, kv: &str) {
        let (ok, out) = self.exec(&["sysctl", "-qw", kv]);
        assert!(ok, "sysctl {kv}: {out}");
    }
}

impl Drop for NsGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// Runs a command, panicking with its output when it fails.
pub fn run(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{args:?} failed: {}{}", text, String::from_utf8_lossy(&out.stderr));
    text
}

/// A veth pair `a` (in `ns_a`) <-> `b` (in `ns_b`), both up.
pub fn veth(ns_a: &NsGuard, a: &str, ns_b: &NsGuard, b: &str) {
    run(&["ip", "link", "add", a, "netns", &ns_a.name, "type", "veth", "peer", "name", b, "netns", &ns_b.name]);
    ns_a.ip(&["link", "set", a, "up"]);
    ns_b.ip(&["link", "set", b, "up"]);
}
