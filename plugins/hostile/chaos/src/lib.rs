//! Hostile allocator: misbehaves as the first pool's name says (see ../README.md).
#![no_std]

extern crate alloc;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use bindings::PluginInfo;
use bindings::exports::ferrolb::policy::allocator_policy::{
    Allocation, AllocationError, AllocatorConfig, Guest as Policy, GuestPoolState, ObjectRef, PolicyError, PoolState,
    ReconfigureOutcome, Service,
};
use bindings::exports::ferrolb::policy::types::{AddressBlock, IpAddress};
use core::cell::RefCell;
use ferrolb_guest as _;

/// Bindings generated from `wit/`.
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({ world: "allocator", path: "../../../wit" });
    use super::Plugin;
    export!(Plugin);
}

struct Plugin;

impl bindings::Guest for Plugin {
    fn metadata() -> PluginInfo {
        PluginInfo { name: "hostile-chaos".to_string(), version: "0.1.0".to_string(), contract: "0.1.0".to_string() }
    }
}

impl Policy for Plugin {
    type PoolState = State;
}

struct State {
    mode: String,
    config: RefCell<AllocatorConfig>,
}

fn misbehave(mode: &str) {
    match mode.strip_prefix("late-").unwrap_or(mode) {
        "loop" => {
            let mut x: u64 = 0;
            loop {
                x = core::hint::black_box(x.wrapping_add(1));
            }
        }
        "alloc" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(core::hint::black_box(alloc::vec![1u8; 1 << 20]));
            }
        }
        "recurse" => {
            core::hint::black_box(recurse(1));
        }
        "unreachable" => core::arch::wasm32::unreachable(),
        "panic" => panic!("the chaos plugin panics on purpose"),
        _ => {}
    }
}

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(n: u64) -> u64 {
    let buf = core::hint::black_box([n; 32]);
    recurse(buf[(n % 32) as usize] + 1).wrapping_add(buf[0])
}

impl GuestPoolState for State {
    fn open(
        config: AllocatorConfig,
        _existing: Vec<Allocation>,
    ) -> Result<(PoolState, ReconfigureOutcome), PolicyError> {
        let mode = config.pools.first().map(|p| p.name.clone()).unwrap_or_default();
        if mode == "refuse" {
            return Err(PolicyError::NotImplemented("the chaos plugin refuses on purpose".to_string()));
        }
        // `late-X`: behave in `open`, misbehave as X in every later call.
        if !mode.starts_with("late-") {
            misbehave(&mode);
        }
        let state = State { mode, config: RefCell::new(config) };
        Ok((PoolState::new(state), ReconfigureOutcome { rehomed: Vec::new(), released: Vec::new() }))
    }

    fn assign(&self, svc: Service) -> Result<Allocation, AllocationError> {
        misbehave(&self.mode);
        let config = self.config.borrow();
        let Some(pool) = config.pools.first() else {
            return Err(AllocationError { service: svc.id, reason: "no pools".to_string() });
        };
        let first = match pool.addresses.first() {
            Some(AddressBlock::Cidr(p)) => p.address,
            Some(AddressBlock::Range(r)) => r.first,
            None => return Err(AllocationError { service: svc.id, reason: "empty pool".to_string() }),
        };
        let ip = if self.mode == "outside" { IpAddress::Ipv4((203, 0, 113, 250)) } else { first };
        let service = if self.mode == "wrong-service" {
            ObjectRef { namespace: "elsewhere".to_string(), name: "someone-else".to_string() }
        } else {
            svc.id
        };
        Ok(Allocation { service, ips: alloc::vec![ip], pool: pool.name.clone() })
    }

    fn release(&self, _svc: ObjectRef) {
        misbehave(&self.mode);
    }

    fn reconfigure(&self, config: AllocatorConfig) -> Result<ReconfigureOutcome, PolicyError> {
        misbehave(&self.mode);
        *self.config.borrow_mut() = config;
        Ok(ReconfigureOutcome { rehomed: Vec::new(), released: Vec::new() })
    }

    fn allocations(&self) -> Vec<Allocation> {
        misbehave(&self.mode);
        Vec::new()
    }
}
