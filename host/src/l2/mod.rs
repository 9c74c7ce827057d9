//! Layer-2 announcement in the daemon: raw-socket drivers (AF_PACKET for ARP, ICMPv6 for NDP)
//! and the membership heartbeats around the sans-IO core (`ferrolb-l2`).
