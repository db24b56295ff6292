//! The link state machine on the Cortex-M33: it acks valid frames, nacks damaged ones, resynchronises after
//! garbage, and falls back to the "no link" scene when the daemon falls silent.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use display_engine::link::Showing;
use display_engine::{Link, LinkConfig, render};
use proto::frame::{self, TO_MCU_MAX_FRAME};
use proto::*;
use qemu_tests::{check, run};

type Answers = heapless::Vec<FromMcu, 8>;

fn send_bytes(link: &mut Link, bytes: &[u8], now: u32) -> Answers {
    let mut answers = Answers::new();
    link.receive(bytes, now, |a| drop(answers.push(a.clone())));
    answers
}

fn send(link: &mut Link, seq: u16, command: Command, now: u32) -> Answers {
    let mut buf = [0u8; TO_MCU_MAX_FRAME];
    let bytes = frame::encode(&ToMcu { seq, command }, &mut buf).unwrap();
    send_bytes(link, bytes, now)
}

fn synced() -> Link {
    let mut link = Link::new(LinkConfig::uno_q(ResetCause::PowerOn, 0), 0);
    send(&mut link, 1, Command::Hello { protocol: PROTOCOL_VERSION, daemon: Version::default() }, 0);
    link
}

fn ticker() -> Command {
    Command::Scene(Scene::Ticker { text: text("PORTFOLIO EUR12,345"), step_ms: 50 })
}

fn acks_valid_frames_with_the_state_digest() -> Result<(), &'static str> {
    let mut link = synced();
    let answers = send(&mut link, 7, ticker(), 10);
    let mut expected = DisplayState::default();
    expected.apply(&ticker()).unwrap();
    check(answers.as_slice() == [FromMcu::Ack { seq: 7, state: expected.digest() }], "one ACK with the digest")
}

fn nacks_crc_failures_and_changes_nothing() -> Result<(), &'static str> {
    let mut link = synced();
    let mut buf = [0u8; TO_MCU_MAX_FRAME];
    let bytes = frame::encode(&ToMcu { seq: 8, command: ticker() }, &mut buf).unwrap();
    bytes[5] ^= 0x20; // inside the text: a data byte
    let answers = send_bytes(&mut link, bytes, 10);
    check(answers.as_slice() == [FromMcu::Nack { seq: 0, reason: NackReason::Damaged }], "one Damaged NACK")?;
    check(link.diagnostics(10).crc_errors == 1, "counted as a CRC error")?;
    check(link.state() == &DisplayState::default(), "the state is unchanged")
}

fn resynchronises_after_garbage() -> Result<(), &'static str> {
    let mut link = synced();
    let garbage = [0x13u8, 0xFF, 0x42, 0x99, 0x01, 0x02, 0x03, 0x55, 0xAA, 0x7E, 0x10, 0x20, 0x30, 0x40, 0x50];
    for _ in 0..30 {
        send_bytes(&mut link, &garbage, 10);
    }
    // The next frame after a delimiter decodes as if nothing happened.
    send_bytes(&mut link, &[0], 10);
    let answers = send(&mut link, 9, ticker(), 11);
    check(matches!(answers.as_slice(), [FromMcu::Ack { seq: 9, .. }]), "the frame after garbage is acked")
}

fn falls_back_to_no_link_after_the_timeout() -> Result<(), &'static str> {
    let mut link = synced();
    send(&mut link, 2, ticker(), 0);
    check(link.showing(DAEMON_SILENT_MS) == Showing::Daemon, "the daemon's scene until the timeout")?;
    check(link.showing(DAEMON_SILENT_MS + 1) == Showing::NoLink, "no link after it")?;
    let shown = link.shown(DAEMON_SILENT_MS + 1);
    let no_link = DisplayState {
        scene: Scene::Icons(heapless::Vec::from_slice(&[Icon::LinkLost]).unwrap()),
        ..DisplayState::default()
    };
    check(shown.frame == render::frame(&no_link, 0), "the no-link icon")?;
    check(shown.led3 == Rgb { r: 255, g: 0, b: 0 }, "LED3 red")?;
    send(&mut link, 3, Command::Heartbeat, DAEMON_SILENT_MS + 5);
    check(link.showing(DAEMON_SILENT_MS + 6) == Showing::Daemon, "back with the next frame")
}

fn refuses_commands_before_the_hello() -> Result<(), &'static str> {
    let mut link = Link::new(LinkConfig::uno_q(ResetCause::PowerOn, 0), 0);
    let answers = send(&mut link, 4, ticker(), 0);
    check(answers.as_slice() == [FromMcu::Nack { seq: 4, reason: NackReason::NeedHello }], "NeedHello")
}

#[entry]
fn main() -> ! {
    run(&[
        ("acks_valid_frames_with_the_state_digest", acks_valid_frames_with_the_state_digest),
        ("nacks_crc_failures_and_changes_nothing", nacks_crc_failures_and_changes_nothing),
        ("resynchronises_after_garbage", resynchronises_after_garbage),
        ("falls_back_to_no_link_after_the_timeout", falls_back_to_no_link_after_the_timeout),
        ("refuses_commands_before_the_hello", refuses_commands_before_the_hello),
    ])
}
