//! The MCU's end of the link: consumes bytes, applies commands to the display state, produces answers.
//!
//! It is a plain state machine: the board feeds it the bytes its UART received and the current time, and sends
//! whatever it answers; the simulated MCU does exactly the same over a pty. Until a hello with the right
//! protocol version arrives it accepts nothing (NACK `NeedHello`), so after an MCU reset the daemon always
//! learns it must re-send its whole state.

use core::fmt::Write;

use proto::frame::{Decoder, FrameError, TO_MCU_MAX_FRAME};
use proto::{
    Capabilities, Command, DAEMON_SILENT_MS, Diagnostics, DisplayState, FromMcu, Icon, Indicator, NackReason,
    PROTOCOL_VERSION, Pattern, ResetCause, Rgb, Scene, ToMcu, Version,
};

use crate::framebuffer::{Framebuffer, HEIGHT, WIDTH};
use crate::{indicator, render};

/// A static picture unchanged for this long is shown at a quarter of its brightness, against burn-in and
/// glare in a dark room; any change brings it back.
pub const IDLE_AFTER_MS: u32 = 10 * 60 * 1000;

/// Who this MCU is, as it tells the daemon in its hello.
#[derive(Clone, Copy, Debug)]
pub struct LinkConfig {
    pub protocol: u16,
    pub firmware: Version,
    pub capabilities: Capabilities,
    /// Why the MCU last started, and how many resets it has counted.
    pub reset: ResetCause,
    pub resets: u16,
}

impl LinkConfig {
    /// The UNO Q board: 13×8 matrix, LED4 on/off only (hardware.md §4).
    pub fn uno_q(reset: ResetCause, resets: u16) -> Self {
        LinkConfig {
            protocol: PROTOCOL_VERSION,
            firmware: crate::FIRMWARE_VERSION,
            capabilities: Capabilities {
                width: WIDTH as u8,
                height: HEIGHT as u8,
                gray_levels: 64,
                led4_pwm: false,
                max_frame: TO_MCU_MAX_FRAME as u16,
            },
            reset,
            resets,
        }
    }
}

/// The scene that has the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Showing {
    ProtocolMismatch,
    NoLink,
    Boot,
    Daemon,
}

/// What the MCU shows at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shown {
    pub frame: Framebuffer,
    pub led3: Rgb,
    pub led4: Rgb,
}

/// LED3 when something is wrong on the MCU's side of the link: solid red (portfolio.md §12.3's error colour).
const ALARM: Indicator = Indicator { colour: Rgb { r: 255, g: 0, b: 0 }, pattern: Pattern::Solid };

pub struct Link {
    config: LinkConfig,
    decoder: Decoder<TO_MCU_MAX_FRAME>,
    state: DisplayState,
    scene_since_ms: u32,
    synced: bool,
    /// The protocol version of a daemon we cannot talk to, shown on the matrix until a matching hello.
    mismatch: Option<u16>,
    last_frame_ms: u32,
    boot_ms: u32,
    counters: Diagnostics,
}

impl Link {
    pub fn new(config: LinkConfig, now_ms: u32) -> Self {
        Link {
            config,
            decoder: Decoder::new(),
            state: DisplayState::default(),
            scene_since_ms: now_ms,
            synced: false,
            mismatch: None,
            last_frame_ms: now_ms,
            boot_ms: now_ms,
            counters: Diagnostics {
                resets: config.resets,
                last_reset: config.reset,
                firmware: config.firmware,
                ..Diagnostics::default()
            },
        }
    }

    /// The hello the MCU sends unprompted after a reset (`answering: None`), and in answer to the daemon's.
    pub fn hello(&self, answering: Option<u16>) -> FromMcu {
        FromMcu::Hello {
            protocol: self.config.protocol,
            answering,
            firmware: self.config.firmware,
            capabilities: self.config.capabilities,
            reset: self.config.reset,
        }
    }

    /// Feed received bytes; `answer` is called for every message to send back, in order.
    pub fn receive(&mut self, bytes: &[u8], now_ms: u32, mut answer: impl FnMut(&FromMcu)) {
        for &byte in bytes {
            match self.decoder.push::<ToMcu>(byte) {
                None => {}
                Some(Ok(msg)) => self.handle(msg, now_ms, &mut answer),
                Some(Err(error)) => {
                    match error {
                        FrameError::Crc => self.counters.crc_errors += 1,
                        FrameError::Overflow => self.counters.overflows += 1,
                        _ => self.counters.decode_errors += 1,
                    }
                    // Its sequence number cannot be trusted: tell the daemon to retransmit now.
                    answer(&FromMcu::Nack { seq: 0, reason: NackReason::Damaged });
                }
            }
        }
    }

    fn handle(&mut self, msg: ToMcu, now_ms: u32, answer: &mut impl FnMut(&FromMcu)) {
        self.counters.frames_received = self.counters.frames_received.wrapping_add(1);
        self.last_frame_ms = now_ms;
        let seq = msg.seq;
        let nack = |reason| FromMcu::Nack { seq, reason };
        match msg.command {
            Command::Hello { protocol, .. } => {
                self.synced = protocol == self.config.protocol;
                self.mismatch = (!self.synced).then_some(protocol);
                answer(&self.hello(Some(seq)));
            }
            _ if self.mismatch.is_some() => answer(&nack(NackReason::ProtocolMismatch)),
            _ if !self.synced => answer(&nack(NackReason::NeedHello)),
            command => {
                let new_scene = matches!(&command, Command::Scene(s) if *s != self.state.scene);
                match self.state.apply(&command) {
                    Ok(()) => {
                        if new_scene {
                            self.scene_since_ms = now_ms;
                        }
                        answer(&FromMcu::Ack { seq, state: self.state.digest() });
                        if command == Command::DiagnosticsRequest {
                            answer(&FromMcu::Diagnostics(self.diagnostics(now_ms)));
                        }
                    }
                    Err(reason) => answer(&nack(reason)),
                }
            }
        }
    }

    /// The state the daemon asked for (what ACK digests are computed from).
    pub fn state(&self) -> &DisplayState {
        &self.state
    }

    /// Whether a hello with our protocol version has been accepted since the reset.
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// No valid frame for [`DAEMON_SILENT_MS`]: the daemon is gone or the line is dead.
    pub fn daemon_silent(&self, now_ms: u32) -> bool {
        now_ms.wrapping_sub(self.last_frame_ms) > DAEMON_SILENT_MS
    }

    pub fn diagnostics(&self, now_ms: u32) -> Diagnostics {
        Diagnostics { uptime_ms: now_ms.wrapping_sub(self.boot_ms), ..self.counters }
    }

    /// Which scene has the matrix now. Priorities, highest first: a protocol mismatch (explained in text), no
    /// link (the daemon silent too long: it can no longer vouch for what is shown), the boot animation, then
    /// the daemon's own scene.
    pub fn showing(&self, now_ms: u32) -> Showing {
        if self.mismatch.is_some() {
            Showing::ProtocolMismatch
        } else if self.daemon_silent(now_ms) {
            Showing::NoLink
        } else if !self.synced && now_ms.wrapping_sub(self.boot_ms) < render::BOOT_MS {
            Showing::Boot
        } else {
            Showing::Daemon
        }
    }

    /// What to show at `now_ms` (see [`Link::showing`]); a static picture is dimmed after [`IDLE_AFTER_MS`].
    pub fn shown(&self, now_ms: u32) -> Shown {
        // A local scene replaces the daemon's: built only then (this runs every 10 ms on the MCU).
        let local;
        let (state, since) = match self.showing(now_ms) {
            Showing::Daemon => (&self.state, self.scene_since_ms),
            Showing::Boot => {
                let frame = render::boot(now_ms.wrapping_sub(self.boot_ms));
                return Shown { frame, led3: Rgb::OFF, led4: Rgb::OFF };
            }
            Showing::NoLink => {
                local = DisplayState {
                    scene: Scene::Icons(heapless::Vec::from_slice(&[Icon::LinkLost]).unwrap_or_default()),
                    led3: ALARM,
                    // Pending actions may have changed since: an LED that cannot be vouched for stays dark.
                    led4: Indicator::default(),
                    brightness: self.state.brightness,
                };
                (&local, self.last_frame_ms.wrapping_add(DAEMON_SILENT_MS))
            }
            Showing::ProtocolMismatch => {
                let mut text = proto::Text::new();
                // Fits: the longest rendering is well under TEXT_MAX.
                let theirs = self.mismatch.unwrap_or(0);
                let _ = write!(text, "PROTOCOL MISMATCH: DAEMON V{theirs} MCU V{}", self.config.protocol);
                local = DisplayState { scene: Scene::Error { text }, led3: ALARM, ..self.state };
                (&local, self.scene_since_ms)
            }
        };
        let elapsed = now_ms.wrapping_sub(since);
        let mut frame = render::frame(state, elapsed);
        if render::is_static(&state.scene) && elapsed > IDLE_AFTER_MS {
            frame.dim(64);
        }
        let led4 = indicator::colour_at(&state.led4, now_ms);
        Shown {
            frame,
            led3: indicator::colour_at(&state.led3, now_ms),
            led4: if self.config.capabilities.led4_pwm { led4 } else { indicator::on_off(led4) },
        }
    }

    /// When the current scene started (the ticker scrolls from there).
    pub fn scene_since_ms(&self) -> u32 {
        self.scene_since_ms
    }
}
