//! The MCU's display engine: everything the firmware decides, as plain `no_std` code that runs the same on the
//! board, on the emulated Cortex-M33 and inside the daemon's simulated MCU.
//!
//! Time is passed in as milliseconds (`u32`, wrapping after 49 days) rather than read from a clock, so every
//! animation and timeout is a pure function of its inputs and testable anywhere.
#![no_std]

pub mod font;
pub mod framebuffer;
pub mod gamma;
pub mod indicator;
pub mod link;
pub mod render;
pub mod reset;
pub mod scan;

pub use framebuffer::{Framebuffer, HEIGHT, WIDTH};
pub use link::{Link, LinkConfig};

/// This firmware's version, reported in every hello.
pub const FIRMWARE_VERSION: proto::Version = proto::Version { major: 0, minor: 1, patch: 0 };
