//! ferrolb's Prometheus metrics.
//!
//! - [`Metrics`] holds every value: the plugin families the host updates as calls happen
//!   (`ferrolb_plugin_*`), the configuration staleness gauges (`ferrolb_config_*`), and the
//!   snapshot-fed families the speakers and the allocator count themselves, under the names
//!   frr-k8s and MetalLB use so existing dashboards keep working: `frrk8s_bgp_*{peer,vrf}`,
//!   `frrk8s_bfd_*{peer,vrf}`, `metallb_allocator_*{pool}`.
//! - [`serve`] answers `GET /metrics` on an address (the daemon's `--metrics-address`; the
//!   endpoint is off unless the daemon calls it), calling a refresh callback before each scrape so
//!   the snapshot-fed counters are current.
//!
//! The output is the Prometheus text format 0.0.4 (see [`CONTENT_TYPE`]); the module `text` says
//! why it is not OpenMetrics (`prometheus-client`).
//!
//! ```
//! use ferrolb_metrics::{BgpPeerSample, Metrics, MessageCounts, peer_label};
//! use std::time::Duration;
//!
//! let metrics = Metrics::new();
//! metrics.init_world("allocator");
//! metrics.plugin_call("allocator", "builtin:allocator@0.1.0", Duration::from_micros(12), None);
//! metrics.set_bgp(vec![BgpPeerSample {
//!     peer: peer_label("192.0.2.1".parse().unwrap(), 179),
//!     established: true,
//!     sent: MessageCounts { opens: 1, keepalives: 10, ..Default::default() },
//!     ..Default::default()
//! }]);
//! let text = metrics.encode();
//! assert!(text.contains("frrk8s_bgp_session_up{peer=\"192.0.2.1:179\",vrf=\"default\"} 1\n"));
//! assert!(text.contains("frrk8s_bgp_keepalives_sent{peer=\"192.0.2.1:179\",vrf=\"default\"} 10\n"));
//! ```

mod http;
mod metrics;
mod samples;
mod text;

pub use http::{Limits, MetricsError, RefreshFuture, Server, serve};
pub use metrics::{CALL_DURATION_BUCKETS, Metrics};
pub use samples::{BfdPeerSample, BgpPeerSample, DEFAULT_VRF, MessageCounts, PoolSample, peer_label};
pub use text::CONTENT_TYPE;
