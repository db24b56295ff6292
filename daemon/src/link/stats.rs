//! Counters of the link, shared with health and the console: what the wire did, not what we hoped it did.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

/// Where the link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// The serial device is missing or cannot be opened; retrying with backoff.
    #[default]
    Disconnected,
    /// The port is open; waiting for the MCU's hello.
    Handshaking,
    /// Sending the desired state.
    Syncing,
    /// The MCU shows exactly the desired state (its last ACK's digest equals ours).
    InSync,
    /// The MCU speaks another protocol version; nothing is sent but hellos.
    VersionMismatch,
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LinkStats {
    pub state: LinkState,
    pub frames_sent: u64,
    pub frames_received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub crc_errors: u64,
    pub decode_errors: u64,
    pub retransmits: u64,
    /// Whole-state re-sends after a reconnect, an MCU reset, a NACK or a digest mismatch.
    pub resyncs: u64,
    pub connects: u64,
    pub mcu_resets: u64,
    /// Round-trip time of the last acknowledged frame, and the largest seen.
    #[serde(with = "micros")]
    pub last_rtt: Duration,
    #[serde(with = "micros")]
    pub max_rtt: Duration,
    /// The MCU's hello: firmware version and protocol, as text.
    pub mcu: Option<String>,
    /// The MCU's own counters, from its last diagnostics answer.
    pub mcu_diagnostics: Option<proto::Diagnostics>,
    /// The last reason the link was not in sync, for the log and the console.
    pub last_error: Option<String>,
}

mod micros {
    pub fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_micros() as u64)
    }
}

/// The counters behind a mutex: updated a few times per frame, read by health and tests.
#[derive(Clone, Default)]
pub struct SharedStats(Arc<Mutex<LinkStats>>);

impl SharedStats {
    pub fn update(&self, f: impl FnOnce(&mut LinkStats)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    pub fn snapshot(&self) -> LinkStats {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_state(&self, state: LinkState) {
        self.update(|s| s.state = state);
    }
}
