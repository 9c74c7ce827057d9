//! ferrolb's layer-2 announcement core, sans-IO: ARP and NDP codecs and the announcer state.
