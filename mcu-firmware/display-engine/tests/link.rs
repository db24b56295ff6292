//! The MCU's link state machine, driven by frames as the daemon would send them.

use display_engine::link::{IDLE_AFTER_MS, Showing, Shown};
use display_engine::{Link, LinkConfig, render};
use proto::frame::{self, TO_MCU_MAX_FRAME};
use proto::*;

fn frame_of(seq: u16, command: Command) -> Vec<u8> {
    let mut buf = [0u8; TO_MCU_MAX_FRAME];
    frame::encode(&ToMcu { seq, command }, &mut buf).unwrap().to_vec()
}

fn send(link: &mut Link, seq: u16, command: Command, now: u32) -> Vec<FromMcu> {
    let mut answers = Vec::new();
    link.receive(&frame_of(seq, command), now, |a| answers.push(a.clone()));
    answers
}

fn hello(protocol: u16) -> Command {
    Command::Hello { protocol, daemon: Version::default() }
}

fn fresh() -> Link {
    Link::new(LinkConfig::uno_q(ResetCause::PowerOn, 0), 0)
}

fn ticker(s: &str) -> Command {
    Command::Scene(Scene::Ticker { text: text(s), step_ms: 50 })
}

#[test]
fn before_a_hello_every_command_is_refused_and_nothing_changes() {
    let mut link = fresh();
    assert_eq!(send(&mut link, 5, ticker("HI"), 0), [FromMcu::Nack { seq: 5, reason: NackReason::NeedHello }]);
    assert_eq!(link.state(), &DisplayState::default());
}

#[test]
fn after_a_hello_commands_are_acked_with_the_digest_of_the_new_state() {
    let mut link = fresh();
    assert!(matches!(send(&mut link, 1, hello(PROTOCOL_VERSION), 0)[..], [FromMcu::Hello { .. }]));
    let answers = send(&mut link, 2, ticker("PORTFOLIO EUR1"), 0);
    let mut expected = DisplayState::default();
    expected.apply(&ticker("PORTFOLIO EUR1")).unwrap();
    assert_eq!(answers, [FromMcu::Ack { seq: 2, state: expected.digest() }]);
}

#[test]
fn a_protocol_mismatch_is_explained_on_the_matrix_and_refuses_commands() {
    let mut link = fresh();
    let answers = send(&mut link, 1, hello(PROTOCOL_VERSION + 1), 0);
    assert!(matches!(answers[..], [FromMcu::Hello { protocol, .. }] if protocol == PROTOCOL_VERSION));
    assert_eq!(send(&mut link, 2, ticker("X"), 0), [FromMcu::Nack { seq: 2, reason: NackReason::ProtocolMismatch }]);
    let shown = link.shown(100);
    assert_eq!(shown.led3, Rgb { r: 255, g: 0, b: 0 });
    assert_eq!(shown.frame.rows[7], [255; 13], "the error scene's steady bottom line");
}

#[test]
fn a_silent_daemon_turns_led3_red() {
    let mut link = fresh();
    send(&mut link, 1, hello(PROTOCOL_VERSION), 0);
    let green = Indicator { colour: Rgb { r: 0, g: 255, b: 0 }, pattern: Pattern::Solid };
    send(&mut link, 2, Command::Indicator { led: Led::Led3, indicator: green }, 0);
    assert_eq!(link.shown(DAEMON_SILENT_MS).led3, green.colour);
    assert_eq!(link.shown(DAEMON_SILENT_MS + 1).led3, Rgb { r: 255, g: 0, b: 0 });
    send(&mut link, 3, Command::Heartbeat, DAEMON_SILENT_MS + 2);
    assert_eq!(link.shown(DAEMON_SILENT_MS + 3).led3, green.colour);
}

#[test]
fn a_repeated_scene_does_not_restart_the_scroll() {
    let mut link = fresh();
    send(&mut link, 1, hello(PROTOCOL_VERSION), 0);
    send(&mut link, 2, ticker("ABC"), 100);
    send(&mut link, 2, ticker("ABC"), 700);
    assert_eq!(link.scene_since_ms(), 100);
    send(&mut link, 3, ticker("ABD"), 900);
    assert_eq!(link.scene_since_ms(), 900);
}

#[test]
fn damaged_frames_are_counted_by_kind_and_nacked_without_trusting_their_sequence_number() {
    let mut link = fresh();
    let mut damaged = frame_of(9, hello(PROTOCOL_VERSION));
    damaged[1] ^= 0x01;
    let mut answers = Vec::new();
    link.receive(&damaged, 0, |a| answers.push(a.clone()));
    link.receive(&[0x42; 400], 0, |a| answers.push(a.clone()));
    link.receive(&[0x00], 0, |a| answers.push(a.clone()));
    link.receive(&[0x01, 0x00], 0, |a| answers.push(a.clone()));
    let damaged_nack = FromMcu::Nack { seq: 0, reason: NackReason::Damaged };
    assert_eq!(answers, [damaged_nack.clone(), damaged_nack.clone(), damaged_nack]);
    let d = link.diagnostics(1234);
    assert_eq!((d.crc_errors, d.overflows, d.decode_errors, d.frames_received, d.uptime_ms), (1, 1, 1, 0, 1234));
    // Garbage does not disturb the next valid frame.
    assert!(matches!(
        send(&mut link, 10, hello(PROTOCOL_VERSION), 5)[..],
        [FromMcu::Hello { answering: Some(10), .. }]
    ));
}

#[test]
fn after_the_link_timeout_the_no_link_scene_takes_the_matrix() {
    let mut link = fresh();
    send(&mut link, 1, hello(PROTOCOL_VERSION), 0);
    send(&mut link, 2, ticker("PORTFOLIO EUR1"), 0);
    send(
        &mut link,
        3,
        Command::Indicator {
            led: Led::Led4,
            indicator: Indicator { colour: Rgb { r: 255, g: 0, b: 0 }, pattern: Pattern::Solid },
        },
        0,
    );
    assert_eq!(link.showing(DAEMON_SILENT_MS), Showing::Daemon);
    assert_eq!(link.showing(DAEMON_SILENT_MS + 1), Showing::NoLink);
    let shown = link.shown(DAEMON_SILENT_MS + 1);
    let no_link = DisplayState {
        scene: Scene::Icons(heapless::Vec::from_slice(&[Icon::LinkLost]).unwrap()),
        ..DisplayState::default()
    };
    assert_eq!(shown.frame, render::frame(&no_link, 0));
    assert_eq!((shown.led3, shown.led4), (Rgb { r: 255, g: 0, b: 0 }, Rgb::OFF));
    // The daemon's scene comes back with its next frame; its state was kept.
    send(&mut link, 4, Command::Heartbeat, DAEMON_SILENT_MS + 10);
    assert_eq!(link.showing(DAEMON_SILENT_MS + 11), Showing::Daemon);
}

#[test]
fn the_boot_animation_plays_until_the_first_hello() {
    let mut link = fresh();
    assert_eq!(link.showing(0), Showing::Boot);
    let lit: usize = (0..render::BOOT_MS).step_by(16).map(|t| link.shown(t).frame.lit()).sum();
    assert!(lit > 0);
    let mut seen = [[false; 13]; 8];
    for t in (0..render::BOOT_MS).step_by(8) {
        let f = render::boot(t);
        for (r, row) in f.rows.iter().enumerate() {
            for (c, &l) in row.iter().enumerate() {
                seen[r][c] |= l == 255;
            }
        }
    }
    assert!(seen.iter().flatten().all(|&s| s), "the wave lights every pixel fully once");
    assert_eq!(link.showing(render::BOOT_MS), Showing::Daemon);
    send(&mut link, 1, hello(PROTOCOL_VERSION), 10);
    assert_eq!(link.showing(20), Showing::Daemon, "a hello ends the animation early");
}

fn brightest(link: &Link, now: u32) -> u8 {
    *link.shown(now).frame.rows.iter().flatten().max().unwrap()
}

#[test]
fn a_static_picture_dims_after_ten_minutes_and_a_change_restores_it() {
    let mut link = fresh();
    send(&mut link, 1, hello(PROTOCOL_VERSION), 0);
    let icons = Command::Scene(Scene::Icons(heapless::Vec::from_slice(&[Icon::TradeExecuted]).unwrap()));
    send(&mut link, 2, icons, 0);
    // Heartbeats keep the link alive; the picture stays the same.
    for t in (1..=IDLE_AFTER_MS / 1000).map(|s| s * 1000) {
        send(&mut link, 3, Command::Heartbeat, t);
    }
    assert_eq!(brightest(&link, IDLE_AFTER_MS), 255);
    send(&mut link, 3, Command::Heartbeat, IDLE_AFTER_MS + 1000);
    assert_eq!(brightest(&link, IDLE_AFTER_MS + 1000), 64);
    send(&mut link, 4, ticker("BUY"), IDLE_AFTER_MS + 1000);
    send(
        &mut link,
        5,
        Command::Scene(Scene::Icons(heapless::Vec::from_slice(&[Icon::Syncing]).unwrap())),
        IDLE_AFTER_MS + 1001,
    );
    assert_eq!(brightest(&link, IDLE_AFTER_MS + 1002), 255);
}

#[test]
fn the_diagnostics_request_is_acked_then_answered() {
    let mut link = fresh();
    send(&mut link, 1, hello(PROTOCOL_VERSION), 0);
    let answers = send(&mut link, 2, Command::DiagnosticsRequest, 500);
    assert!(matches!(answers[0], FromMcu::Ack { seq: 2, .. }));
    assert!(matches!(answers[1], FromMcu::Diagnostics(Diagnostics { frames_received: 2, uptime_ms: 500, .. })));
}

/// The text "A" shown after it has scrolled fully into view, as rows of `#` and `.`.
#[test]
fn the_ticker_draws_glyphs_entering_from_the_right() {
    let state = DisplayState { scene: Scene::Ticker { text: text("A"), step_ms: 10 }, ..DisplayState::default() };
    // After 13 steps the glyph starts at column 0.
    let Shown { frame, .. } = {
        let mut link = fresh();
        send(&mut link, 1, hello(PROTOCOL_VERSION), 0);
        for c in state.commands() {
            send(&mut link, 2, c, 0);
        }
        link.shown(130)
    };
    assert_eq!(frame, render::frame(&state, 130));
    let art: Vec<String> =
        frame.rows.iter().map(|r| r.iter().map(|&l| if l > 0 { '#' } else { '.' }).collect()).collect();
    assert_eq!(
        art,
        [
            ".###.........",
            "#...#........",
            "#...#........",
            "#...#........",
            "#####........",
            "#...#........",
            "#...#........",
            ".............",
        ]
    );
    assert_eq!(render::frame(&state, 0).lit(), 0, "at the start the text is beyond the right edge");
}

#[test]
fn brightness_scales_every_level() {
    let full = DisplayState { scene: Scene::Ticker { text: text("8"), step_ms: 0 }, ..DisplayState::default() };
    let half = DisplayState { brightness: 128, ..full.clone() };
    let (a, b) = (render::frame(&full, 0), render::frame(&half, 0));
    assert_eq!(a.lit(), b.lit());
    assert!(b.rows.iter().flatten().all(|&l| l == 0 || l == 128));
}

#[test]
fn led_patterns_follow_portfolio_md() {
    use display_engine::indicator::{colour_at, on_off};
    let green = Rgb { r: 0, g: 255, b: 0 };
    let blink = Indicator { colour: green, pattern: Pattern::Blink { half_period_ms: 1000, anti_phase: false } };
    let anti = Indicator { pattern: Pattern::Blink { half_period_ms: 1000, anti_phase: true }, ..blink };
    for t in [0, 999, 1000, 1999, 2000] {
        assert_ne!(colour_at(&blink, t) == green, colour_at(&anti, t) == green, "anti-phase at {t}");
    }
    let (blue, orange) = (Rgb { r: 0, g: 100, b: 255 }, Rgb { r: 255, g: 165, b: 0 });
    let alternate = Indicator { colour: blue, pattern: Pattern::Alternate { other: orange, half_period_ms: 1000 } };
    assert_eq!((colour_at(&alternate, 10), colour_at(&alternate, 1010)), (blue, orange));
    assert_eq!(on_off(orange), Rgb { r: 255, g: 255, b: 0 }, "yellow on a switch-only LED");
}
