//! The wire contract between the `trader` daemon and the MCU firmware, read as one table.
//!
//! The daemon sends [`ToMcu`] frames, each with a sequence number; the MCU answers every one of them with
//! [`FromMcu::Ack`] or [`FromMcu::Nack`] (a [`Command::Hello`] is answered by [`FromMcu::Hello`]). The MCU's
//! display is a pure function of a [`DisplayState`], which the daemon owns and re-sends whole after a
//! reconnect, an MCU reset or a NACK; every ACK carries the digest of the state the MCU now shows, so the daemon
//! can prove the display tells the truth. How bytes travel is in [`frame`].
//!
//! Compatibility rule: `Hello` is variant 0 in both directions and its first field is the protocol version, so
//! two ends of different versions can always tell each other so. Anything else may change with the version.
#![no_std]

#[cfg(feature = "std")]
extern crate std;

pub mod frame;

/// The bounded collections of the message types, for building them without a separate dependency.
pub use heapless;

use postcard::experimental::max_size::MaxSize;
use serde::{Deserialize, Serialize};

/// Version of the wire protocol. Both ends compare it in the hello handshake and refuse to talk on a mismatch.
pub const PROTOCOL_VERSION: u16 = 1;

/// Longest text a scene carries, in bytes of UTF-8. A full ticker (value, cash, three actions) is ≈ 90 bytes;
/// the error pool joins several conditions. 160 bytes is 14 ms on the wire at 115200 baud.
pub const TEXT_MAX: usize = 160;

/// At most six groups fit a page of the allocation view (portfolio.md §12.4: two columns per group on 13).
pub const BARS_MAX: usize = 6;

/// At most two 5×7 icons fit side by side on the 13 columns.
pub const ICONS_MAX: usize = 2;

/// Text shown on the matrix: ASCII plus `€`; anything else is drawn as a box.
pub type Text = heapless::String<TEXT_MAX>;

// ------------------------------------------------------------------------------------------------------------
// The table. Adding a message is one line here plus its type below.
// ------------------------------------------------------------------------------------------------------------

/// Daemon → MCU: one command with the sequence number the MCU echoes in its answer.
#[derive(Serialize, Deserialize, MaxSize, Debug, Clone, PartialEq, Eq)]
pub struct ToMcu {
    pub seq: u16,
    pub command: Command,
}

/// What the daemon asks of the MCU.
#[derive(Serialize, Deserialize, MaxSize, Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Handshake (variant 0 forever). Answer: [`FromMcu::Hello`]; the MCU accepts nothing else before it.
    Hello { protocol: u16, daemon: Version },
    /// Show this scene on the matrix from now on. Answer: Ack.
    Scene(Scene),
    /// Set one RGB LED. Answer: Ack.
    Indicator { led: Led, indicator: Indicator },
    /// Global matrix brightness, 0 (dark) … 255 (full). Answer: Ack.
    Brightness(u8),
    /// The daemon is alive; without one for [`DAEMON_SILENT_MS`] the MCU turns LED3 red. Answer: Ack.
    Heartbeat,
    /// Answer: Ack, then [`FromMcu::Diagnostics`].
    DiagnosticsRequest,
}

/// MCU → daemon.
#[derive(Serialize, Deserialize, MaxSize, Debug, Clone, PartialEq, Eq)]
pub enum FromMcu {
    /// Handshake answer (variant 0 forever): `answering` is the sequence number of the daemon's hello, or
    /// `None` when the MCU says hello unprompted after a reset — so a late duplicate answer is never mistaken
    /// for a reset.
    Hello { protocol: u16, answering: Option<u16>, firmware: Version, capabilities: Capabilities, reset: ResetCause },
    /// Command `seq` was applied; `state` is [`DisplayState::digest`] of what the MCU shows now.
    Ack { seq: u16, state: u32 },
    /// Command `seq` was refused; nothing changed.
    Nack { seq: u16, reason: NackReason },
    /// Counters since the MCU's last reset.
    Diagnostics(Diagnostics),
}

/// Without any valid frame for this long the MCU considers the daemon gone and shows it (LED3 red).
pub const DAEMON_SILENT_MS: u32 = 5_000;

// ------------------------------------------------------------------------------------------------------------
// The types.
// ------------------------------------------------------------------------------------------------------------

/// A semantic version of either end's software.
#[derive(Serialize, Deserialize, MaxSize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Version {
    pub major: u8,
    pub minor: u8,
    pub patch: u8,
}

impl core::fmt::Display for Version {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What the firmware can do, so the daemon composes only what will show.
#[derive(Serialize, Deserialize, MaxSize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub width: u8,
    pub height: u8,
    /// Distinct visible brightness levels per pixel (hardware.md R1: at least 16).
    pub gray_levels: u8,
    /// LED3 dims each channel by PWM; LED4 may only switch channels on/off (hardware.md §4).
    pub led4_pwm: bool,
    /// Longest frame the MCU's decoder accepts, in bytes including the delimiter.
    pub max_frame: u16,
}

/// Why the MCU last started (from `RCC_CSR`).
#[derive(Serialize, Deserialize, MaxSize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResetCause {
    PowerOn,
    Pin,
    Software,
    IndependentWatchdog,
    WindowWatchdog,
    LowPower,
    BrownOut,
    /// The previous run panicked; the panic message is kept by the firmware for the console.
    Panic,
    #[default]
    Unknown,
}

/// Why a command was refused.
#[derive(Serialize, Deserialize, MaxSize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum NackReason {
    /// No successful hello since the MCU's reset: the daemon must handshake and re-send its whole state.
    NeedHello,
    /// The hello named another protocol version.
    ProtocolMismatch,
    /// A value out of range (e.g. a bar taller than the matrix).
    BadValue,
    /// A frame arrived damaged (CRC or encoding): its sequence number cannot be trusted, so `seq` is 0 and the
    /// daemon retransmits its outstanding frame at once instead of waiting for the timeout.
    Damaged,
}

/// The matrix content. The MCU animates it locally (scrolling, blinking), so the wire carries only changes.
#[derive(Serialize, Deserialize, MaxSize, Debug, Clone, PartialEq, Eq)]
pub enum Scene {
    /// All pixels dark.
    Off,
    /// Text scrolling right to left, one column every `step_ms`.
    Ticker { text: Text, step_ms: u16 },
    /// The allocation view: one bar pair per group.
    Bars(heapless::Vec<Bar, BARS_MAX>),
    /// Up to two status icons, centred.
    Icons(heapless::Vec<Icon, ICONS_MAX>),
    /// An error message: scrolls like a ticker, behind a steady frame so it is never mistaken for one.
    Error { text: Text },
}

/// One group of the allocation view; heights in pixel rows, 0 … 8.
#[derive(Serialize, Deserialize, MaxSize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    pub current: u8,
    pub target: u8,
    pub status: Balance,
}

/// How a group stands against its target (portfolio.md §6.2).
#[derive(Serialize, Deserialize, MaxSize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    Under,
    Balanced,
    Over,
}

/// Status icons, 5×7 each.
#[derive(Serialize, Deserialize, MaxSize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icon {
    /// A check mark: a trade was executed.
    TradeExecuted,
    /// A cross: something failed.
    Error,
    /// Two arrows in a circle: syncing with the broker.
    Syncing,
    /// A broken chain: no link (the MCU shows it by itself when the daemon falls silent).
    LinkLost,
    Up,
    Down,
    Pause,
}

/// The two RGB LEDs the MCU drives.
#[derive(Serialize, Deserialize, MaxSize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Led {
    /// Service heartbeat.
    Led3,
    /// Pending actions.
    Led4,
}

/// A colour, 0 … 255 per channel.
#[derive(Serialize, Deserialize, MaxSize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rgb {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

impl Rgb {
    pub const OFF: Rgb = Rgb { r: 0, g: 0, b: 0 };
}

/// What one LED shows: a colour and how it changes over time.
#[derive(Serialize, Deserialize, MaxSize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Indicator {
    pub colour: Rgb,
    pub pattern: Pattern,
}

/// How an LED changes over time; times in milliseconds, measured from a common epoch on the MCU so that two
/// LEDs with the same period stay in phase (or anti-phase).
#[derive(Serialize, Deserialize, MaxSize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pattern {
    #[default]
    Solid,
    /// On for `half_period_ms`, off for as long; `anti_phase` starts with the off half.
    Blink { half_period_ms: u16, anti_phase: bool },
    /// The colour for `half_period_ms`, then `other` for as long.
    Alternate { other: Rgb, half_period_ms: u16 },
}

/// Counters the MCU keeps since its last reset.
#[derive(Serialize, Deserialize, MaxSize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Diagnostics {
    pub uptime_ms: u32,
    pub frames_received: u32,
    pub crc_errors: u32,
    pub decode_errors: u32,
    /// Frames longer than the decoder's buffer, dropped whole.
    pub overflows: u32,
    /// Resets counted across reboots (kept in memory that survives a reset).
    pub resets: u16,
    pub last_reset: ResetCause,
    pub firmware: Version,
}

/// Everything the MCU shows. The daemon keeps the desired one; the MCU the applied one; their digests match
/// when the display tells the truth.
#[derive(Serialize, Deserialize, MaxSize, Debug, Clone, PartialEq, Eq)]
pub struct DisplayState {
    pub scene: Scene,
    pub led3: Indicator,
    pub led4: Indicator,
    pub brightness: u8,
}

impl Default for DisplayState {
    /// What a freshly reset MCU shows until the daemon says otherwise.
    fn default() -> Self {
        DisplayState { scene: Scene::Off, led3: Indicator::default(), led4: Indicator::default(), brightness: 255 }
    }
}

/// CRC-32/ISCSI of the state digest: a different polynomial from the frame CRC, so a corruption that slips
/// past one is not correlated with the other.
const STATE_DIGEST: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

impl DisplayState {
    /// CRC-32 of the postcard encoding: equal on both ends exactly when they hold the same state.
    pub fn digest(&self) -> u32 {
        let mut buf = [0u8; DisplayState::POSTCARD_MAX_SIZE];
        let bytes = postcard::to_slice(self, &mut buf).expect("a DisplayState always fits its MaxSize buffer");
        STATE_DIGEST.checksum(bytes)
    }

    /// Apply one command to the state; `Err` leaves the state unchanged. Hello, heartbeat and diagnostics
    /// requests do not touch the state.
    pub fn apply(&mut self, command: &Command) -> Result<(), NackReason> {
        match command {
            Command::Scene(scene) => {
                if let Scene::Bars(bars) = scene
                    && bars.iter().any(|b| b.current > 8 || b.target > 8)
                {
                    return Err(NackReason::BadValue);
                }
                self.scene = scene.clone();
            }
            Command::Indicator { led: Led::Led3, indicator } => self.led3 = *indicator,
            Command::Indicator { led: Led::Led4, indicator } => self.led4 = *indicator,
            Command::Brightness(level) => self.brightness = *level,
            Command::Hello { .. } | Command::Heartbeat | Command::DiagnosticsRequest => {}
        }
        Ok(())
    }

    /// The commands that bring a freshly reset MCU to this state, in the order to send them.
    pub fn commands(&self) -> [Command; 4] {
        [
            Command::Brightness(self.brightness),
            Command::Indicator { led: Led::Led3, indicator: self.led3 },
            Command::Indicator { led: Led::Led4, indicator: self.led4 },
            Command::Scene(self.scene.clone()),
        ]
    }
}

/// Text for a scene, cut at [`TEXT_MAX`] bytes on a character boundary (a ticker is never refused for length).
pub fn text(s: &str) -> Text {
    let mut out = Text::new();
    for c in s.chars() {
        if out.push(c).is_err() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applying_the_commands_of_a_state_to_a_fresh_state_reproduces_it() {
        let wanted = DisplayState {
            scene: Scene::Ticker { text: text("PORTFOLIO EUR12,345"), step_ms: 50 },
            led3: Indicator {
                colour: Rgb { r: 0, g: 255, b: 0 },
                pattern: Pattern::Blink { half_period_ms: 1000, anti_phase: false },
            },
            led4: Indicator { colour: Rgb { r: 0, g: 100, b: 255 }, pattern: Pattern::Solid },
            brightness: 200,
        };
        let mut fresh = DisplayState::default();
        assert_ne!(fresh.digest(), wanted.digest());
        for command in wanted.commands() {
            fresh.apply(&command).unwrap();
        }
        assert_eq!(fresh, wanted);
        assert_eq!(fresh.digest(), wanted.digest());
    }

    #[test]
    fn a_bar_taller_than_the_matrix_is_refused_and_changes_nothing() {
        let mut state = DisplayState::default();
        let before = state.digest();
        let bars = heapless::Vec::from_slice(&[Bar { current: 9, target: 2, status: Balance::Over }]).unwrap();
        assert_eq!(state.apply(&Command::Scene(Scene::Bars(bars))), Err(NackReason::BadValue));
        assert_eq!(state.digest(), before);
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let long: &str = &"€".repeat(100);
        let cut = text(long);
        assert!(cut.len() <= TEXT_MAX);
        assert_eq!(cut.len() % 3, 0);
    }
}
