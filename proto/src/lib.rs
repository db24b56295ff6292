//! The wire contract between the `trader` daemon and the MCU firmware.
//!
//! This crate is `no_std` so that the firmware can share it; the daemon enables the `std` feature.
//! The message table, the framing and the golden vectors arrive with the link issue; until then the
//! contract consists only of its version number.
#![no_std]

/// Version of the wire protocol. Both ends compare it in the hello handshake and refuse to talk on a mismatch.
pub const PROTOCOL_VERSION: u16 = 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_protocol_version_is_one() {
        assert_eq!(PROTOCOL_VERSION, 1);
    }
}
