//! ferrolb's BFD core (RFC 5880/5881/5883), sans-IO: control packet codec and session state machines.
