//! ferrolb's kernel programming: desired state (VRFs, addresses, routes, ip rules, SNAT) applied
//! through rtnetlink and nftables, touching only what ferrolb owns.
