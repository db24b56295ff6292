//! Properties of the framing: any message survives encode → decode unchanged; any byte stream is decoded
//! without a panic; every valid frame placed in garbage (after a delimiter) is recovered, in order.

use proptest::collection::vec;
use proptest::prelude::*;
use proto::frame::{self, Decoder, FROM_MCU_MAX_FRAME, FrameError, TO_MCU_MAX_FRAME};
use proto::*;

fn rgb() -> impl Strategy<Value = Rgb> {
    any::<(u8, u8, u8)>().prop_map(|(r, g, b)| Rgb { r, g, b })
}

fn version() -> impl Strategy<Value = Version> {
    any::<(u8, u8, u8)>().prop_map(|(major, minor, patch)| Version { major, minor, patch })
}

fn text_strategy() -> impl Strategy<Value = Text> {
    ".{0,200}".prop_map(|s| text(&s))
}

fn indicator() -> impl Strategy<Value = Indicator> {
    let pattern = prop_oneof![
        Just(Pattern::Solid),
        any::<(u16, bool)>().prop_map(|(half_period_ms, anti_phase)| Pattern::Blink { half_period_ms, anti_phase }),
        (rgb(), any::<u16>()).prop_map(|(other, half_period_ms)| Pattern::Alternate { other, half_period_ms }),
    ];
    (rgb(), pattern).prop_map(|(colour, pattern)| Indicator { colour, pattern })
}

fn scene() -> impl Strategy<Value = Scene> {
    let balance = prop_oneof![Just(Balance::Under), Just(Balance::Balanced), Just(Balance::Over)];
    let bar = (any::<u8>(), any::<u8>(), balance).prop_map(|(current, target, status)| Bar { current, target, status });
    let icon = prop_oneof![
        Just(Icon::TradeExecuted),
        Just(Icon::Error),
        Just(Icon::Syncing),
        Just(Icon::LinkLost),
        Just(Icon::Up),
        Just(Icon::Down),
        Just(Icon::Pause)
    ];
    prop_oneof![
        Just(Scene::Off),
        (text_strategy(), any::<u16>()).prop_map(|(text, step_ms)| Scene::Ticker { text, step_ms }),
        vec(bar, 0..=BARS_MAX).prop_map(|b| Scene::Bars(heapless::Vec::from_slice(&b).unwrap())),
        vec(icon, 0..=ICONS_MAX).prop_map(|i| Scene::Icons(heapless::Vec::from_slice(&i).unwrap())),
        text_strategy().prop_map(|text| Scene::Error { text }),
    ]
}

fn to_mcu() -> impl Strategy<Value = ToMcu> {
    let led = prop_oneof![Just(Led::Led3), Just(Led::Led4)];
    let command = prop_oneof![
        (any::<u16>(), version()).prop_map(|(protocol, daemon)| Command::Hello { protocol, daemon }),
        scene().prop_map(Command::Scene),
        (led, indicator()).prop_map(|(led, indicator)| Command::Indicator { led, indicator }),
        any::<u8>().prop_map(Command::Brightness),
        Just(Command::Heartbeat),
        Just(Command::DiagnosticsRequest),
    ];
    (any::<u16>(), command).prop_map(|(seq, command)| ToMcu { seq, command })
}

fn reset_cause() -> impl Strategy<Value = ResetCause> {
    prop_oneof![
        Just(ResetCause::PowerOn),
        Just(ResetCause::Pin),
        Just(ResetCause::Software),
        Just(ResetCause::IndependentWatchdog),
        Just(ResetCause::WindowWatchdog),
        Just(ResetCause::LowPower),
        Just(ResetCause::BrownOut),
        Just(ResetCause::Panic),
        Just(ResetCause::Unknown),
    ]
}

fn from_mcu() -> impl Strategy<Value = FromMcu> {
    let capabilities =
        any::<(u8, u8, u8, bool, u16)>().prop_map(|(width, height, gray_levels, led4_pwm, max_frame)| Capabilities {
            width,
            height,
            gray_levels,
            led4_pwm,
            max_frame,
        });
    let reason = prop_oneof![
        Just(NackReason::NeedHello),
        Just(NackReason::ProtocolMismatch),
        Just(NackReason::BadValue),
        Just(NackReason::Damaged)
    ];
    let diagnostics = (any::<(u32, u32, u32, u32, u32, u16)>(), reset_cause(), version()).prop_map(
        |((uptime_ms, frames_received, crc_errors, decode_errors, overflows, resets), last_reset, firmware)| {
            Diagnostics {
                uptime_ms,
                frames_received,
                crc_errors,
                decode_errors,
                overflows,
                resets,
                last_reset,
                firmware,
            }
        },
    );
    prop_oneof![
        (any::<u16>(), any::<Option<u16>>(), version(), capabilities, reset_cause()).prop_map(
            |(protocol, answering, firmware, capabilities, reset)| FromMcu::Hello {
                protocol,
                answering,
                firmware,
                capabilities,
                reset
            }
        ),
        any::<(u16, u32)>().prop_map(|(seq, state)| FromMcu::Ack { seq, state }),
        (any::<u16>(), reason).prop_map(|(seq, reason)| FromMcu::Nack { seq, reason }),
        diagnostics.prop_map(FromMcu::Diagnostics),
    ]
}

fn encoded<T: serde::Serialize>(msg: &T) -> Vec<u8> {
    let mut buf = [0u8; TO_MCU_MAX_FRAME + FROM_MCU_MAX_FRAME];
    frame::encode(msg, &mut buf).unwrap().to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_decode_is_the_identity_to_the_mcu(msg in to_mcu()) {
        let frame = encoded(&msg);
        prop_assert!(frame.len() <= TO_MCU_MAX_FRAME, "{} > {}", frame.len(), TO_MCU_MAX_FRAME);
        let mut decoder = Decoder::<TO_MCU_MAX_FRAME>::new();
        let mut got = Vec::new();
        decoder.feed(&frame, |r: Result<ToMcu, FrameError>| got.push(r));
        prop_assert_eq!(got, vec![Ok(msg)]);
    }

    #[test]
    fn encode_then_decode_is_the_identity_from_the_mcu(msg in from_mcu()) {
        let frame = encoded(&msg);
        prop_assert!(frame.len() <= FROM_MCU_MAX_FRAME);
        let mut decoder = Decoder::<FROM_MCU_MAX_FRAME>::new();
        let mut got = Vec::new();
        decoder.feed(&frame, |r: Result<FromMcu, FrameError>| got.push(r));
        prop_assert_eq!(got, vec![Ok(msg)]);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in vec(any::<u8>(), 0..2048)) {
        let mut decoder = Decoder::<TO_MCU_MAX_FRAME>::new();
        decoder.feed(&bytes, |_: Result<ToMcu, FrameError>| {});
        let mut decoder = Decoder::<FROM_MCU_MAX_FRAME>::new();
        decoder.feed(&bytes, |_: Result<FromMcu, FrameError>| {});
    }

    #[test]
    fn every_frame_in_garbage_is_recovered_in_order(
        parts in vec((vec(any::<u8>(), 0..300), to_mcu()), 1..8),
        tail in vec(any::<u8>(), 0..300),
    ) {
        let mut stream = Vec::new();
        for (garbage, msg) in &parts {
            stream.extend_from_slice(garbage);
            stream.push(0);
            stream.extend(encoded(msg));
        }
        stream.extend_from_slice(&tail);
        let mut decoder = Decoder::<TO_MCU_MAX_FRAME>::new();
        let mut got = Vec::new();
        decoder.feed(&stream, |r: Result<ToMcu, FrameError>| {
            if let Ok(m) = r {
                got.push(m)
            }
        });
        // Garbage may by chance hold a valid frame of its own; ours must all be there, in order.
        let mut wanted = parts.iter().map(|(_, m)| m).peekable();
        for m in &got {
            if wanted.peek() == Some(&m) {
                wanted.next();
            }
        }
        prop_assert!(wanted.next().is_none(), "a frame was lost in garbage");
    }
}
