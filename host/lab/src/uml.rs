//! User-Mode Linux runner for kernel features this machine lacks (VRF, VLAN, dummy devices).
