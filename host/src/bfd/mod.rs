//! BFD in the daemon: the UDP driver around the sans-IO core (`ferrolb-bfd`) and the
//! `ferrolb show bfd` views.
