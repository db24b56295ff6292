//! The golden vectors: `golden.json` beside this file lists one frame per message variant, byte for byte.
//! This test checks that our encoder still produces exactly those bytes and that they decode back to the same
//! message; the firmware's tests check the same file. Run with `UPDATE_GOLDEN=1` after an intended protocol
//! change (and bump `PROTOCOL_VERSION`).

use proto::frame::{self, FROM_MCU_MAX_FRAME, TO_MCU_MAX_FRAME};
use proto::*;

fn bars() -> heapless::Vec<Bar, BARS_MAX> {
    let mut bars = heapless::Vec::new();
    for (current, target, status) in [(8, 6, Balance::Over), (3, 3, Balance::Balanced), (0, 2, Balance::Under)] {
        bars.push(Bar { current, target, status }).unwrap();
    }
    bars
}

fn to_mcu() -> Vec<(&'static str, ToMcu)> {
    let v = Version { major: 0, minor: 1, patch: 0 };
    let blink = Indicator {
        colour: Rgb { r: 0, g: 255, b: 0 },
        pattern: Pattern::Blink { half_period_ms: 1000, anti_phase: false },
    };
    let alternate = Indicator {
        colour: Rgb { r: 0, g: 100, b: 255 },
        pattern: Pattern::Alternate { other: Rgb { r: 255, g: 165, b: 0 }, half_period_ms: 1000 },
    };
    let commands = [
        ("hello", Command::Hello { protocol: PROTOCOL_VERSION, daemon: v }),
        ("scene_off", Command::Scene(Scene::Off)),
        (
            "scene_ticker",
            Command::Scene(Scene::Ticker {
                text: text("PORTFOLIO EUR12,345 * CASH EUR675 * BUY XIAO EUR855"),
                step_ms: 50,
            }),
        ),
        ("scene_ticker_euro_and_quotes", Command::Scene(Scene::Ticker { text: text("€ \"Q\" 100%"), step_ms: 300 })),
        ("scene_bars", Command::Scene(Scene::Bars(bars()))),
        (
            "scene_icons",
            Command::Scene(Scene::Icons(heapless::Vec::from_slice(&[Icon::TradeExecuted, Icon::Syncing]).unwrap())),
        ),
        (
            "scene_icons_link_lost_error",
            Command::Scene(Scene::Icons(heapless::Vec::from_slice(&[Icon::LinkLost, Icon::Error]).unwrap())),
        ),
        ("scene_error", Command::Scene(Scene::Error { text: text("FX USD MISSING * SYNC FAILED") })),
        ("indicator_led3_blink", Command::Indicator { led: Led::Led3, indicator: blink }),
        (
            "indicator_led3_solid",
            Command::Indicator {
                led: Led::Led3,
                indicator: Indicator { colour: Rgb { r: 255, g: 0, b: 0 }, pattern: Pattern::Solid },
            },
        ),
        ("indicator_led4_alternate", Command::Indicator { led: Led::Led4, indicator: alternate }),
        (
            "indicator_led4_anti_phase",
            Command::Indicator {
                led: Led::Led4,
                indicator: Indicator {
                    colour: Rgb { r: 255, g: 165, b: 0 },
                    pattern: Pattern::Blink { half_period_ms: 1000, anti_phase: true },
                },
            },
        ),
        ("brightness", Command::Brightness(128)),
        ("heartbeat", Command::Heartbeat),
        ("diagnostics_request", Command::DiagnosticsRequest),
    ];
    commands
        .into_iter()
        .enumerate()
        .map(|(i, (name, command))| (name, ToMcu { seq: 300 + i as u16, command }))
        .collect()
}

fn from_mcu() -> Vec<(&'static str, FromMcu)> {
    let capabilities =
        Capabilities { width: 13, height: 8, gray_levels: 64, led4_pwm: false, max_frame: TO_MCU_MAX_FRAME as u16 };
    vec![
        (
            "hello",
            FromMcu::Hello {
                protocol: PROTOCOL_VERSION,
                answering: Some(300),
                firmware: Version { major: 0, minor: 1, patch: 0 },
                capabilities,
                reset: ResetCause::PowerOn,
            },
        ),
        (
            "hello_after_watchdog",
            FromMcu::Hello {
                protocol: PROTOCOL_VERSION,
                answering: None,
                firmware: Version { major: 0, minor: 1, patch: 0 },
                capabilities,
                reset: ResetCause::IndependentWatchdog,
            },
        ),
        ("ack", FromMcu::Ack { seq: 301, state: 0xDEAD_BEEF }),
        ("nack_need_hello", FromMcu::Nack { seq: 302, reason: NackReason::NeedHello }),
        ("nack_protocol_mismatch", FromMcu::Nack { seq: 0, reason: NackReason::ProtocolMismatch }),
        ("nack_bad_value", FromMcu::Nack { seq: 65535, reason: NackReason::BadValue }),
        ("nack_damaged", FromMcu::Nack { seq: 0, reason: NackReason::Damaged }),
        (
            "diagnostics",
            FromMcu::Diagnostics(Diagnostics {
                uptime_ms: 86_400_000,
                frames_received: 12_345,
                crc_errors: 3,
                decode_errors: 1,
                overflows: 0,
                resets: 2,
                last_reset: ResetCause::Panic,
                firmware: Version { major: 0, minor: 1, patch: 0 },
            }),
        ),
    ]
}

/// Every variant's name, by an exhaustive match: a new variant does not compile until it is named here, and
/// the coverage test below then demands a vector for it.
fn variant(msg: &Vector) -> &'static str {
    match msg {
        Vector::To(m) => match &m.command {
            Command::Hello { .. } => "Hello",
            Command::Scene(Scene::Off) => "Scene::Off",
            Command::Scene(Scene::Ticker { .. }) => "Scene::Ticker",
            Command::Scene(Scene::Bars(_)) => "Scene::Bars",
            Command::Scene(Scene::Icons(_)) => "Scene::Icons",
            Command::Scene(Scene::Error { .. }) => "Scene::Error",
            Command::Indicator { indicator: Indicator { pattern: Pattern::Solid, .. }, .. } => "Indicator/Solid",
            Command::Indicator { indicator: Indicator { pattern: Pattern::Blink { .. }, .. }, .. } => "Indicator/Blink",
            Command::Indicator { indicator: Indicator { pattern: Pattern::Alternate { .. }, .. }, .. } => {
                "Indicator/Alternate"
            }
            Command::Brightness(_) => "Brightness",
            Command::Heartbeat => "Heartbeat",
            Command::DiagnosticsRequest => "DiagnosticsRequest",
        },
        Vector::From(m) => match m {
            FromMcu::Hello { .. } => "FromMcu::Hello",
            FromMcu::Ack { .. } => "Ack",
            FromMcu::Nack { reason: NackReason::NeedHello, .. } => "Nack/NeedHello",
            FromMcu::Nack { reason: NackReason::ProtocolMismatch, .. } => "Nack/ProtocolMismatch",
            FromMcu::Nack { reason: NackReason::BadValue, .. } => "Nack/BadValue",
            FromMcu::Nack { reason: NackReason::Damaged, .. } => "Nack/Damaged",
            FromMcu::Diagnostics(_) => "Diagnostics",
        },
    }
}

const ALL_VARIANTS: [&str; 19] = [
    "Hello",
    "Scene::Off",
    "Scene::Ticker",
    "Scene::Bars",
    "Scene::Icons",
    "Scene::Error",
    "Indicator/Solid",
    "Indicator/Blink",
    "Indicator/Alternate",
    "Brightness",
    "Heartbeat",
    "DiagnosticsRequest",
    "FromMcu::Hello",
    "Ack",
    "Nack/NeedHello",
    "Nack/ProtocolMismatch",
    "Nack/BadValue",
    "Nack/Damaged",
    "Diagnostics",
];

enum Vector {
    To(ToMcu),
    From(FromMcu),
}

impl Vector {
    fn direction(&self) -> &'static str {
        match self {
            Vector::To(_) => "to_mcu",
            Vector::From(_) => "from_mcu",
        }
    }

    fn debug(&self) -> String {
        match self {
            Vector::To(m) => format!("{m:?}"),
            Vector::From(m) => format!("{m:?}"),
        }
    }

    fn frame(&self) -> Vec<u8> {
        let mut buf = [0u8; TO_MCU_MAX_FRAME + FROM_MCU_MAX_FRAME];
        match self {
            Vector::To(m) => frame::encode(m, &mut buf).unwrap().to_vec(),
            Vector::From(m) => frame::encode(m, &mut buf).unwrap().to_vec(),
        }
    }
}

fn vectors() -> Vec<(&'static str, Vector)> {
    let to = to_mcu().into_iter().map(|(n, m)| (n, Vector::To(m)));
    to.chain(from_mcu().into_iter().map(|(n, m)| (n, Vector::From(m)))).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn golden_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden.json")
}

fn rendered() -> String {
    let entries: Vec<serde_json::Value> = vectors()
        .iter()
        .map(|(name, v)| {
            serde_json::json!({"name": name, "direction": v.direction(), "debug": v.debug(), "frame": hex(&v.frame())})
        })
        .collect();
    serde_json::to_string_pretty(&entries).unwrap() + "\n"
}

#[test]
fn the_golden_vectors_cover_every_message_variant() {
    let covered: std::collections::BTreeSet<&str> = vectors().iter().map(|(_, v)| variant(v)).collect();
    let all: std::collections::BTreeSet<&str> = ALL_VARIANTS.into_iter().collect();
    assert_eq!(covered, all);
}

#[test]
fn the_encoder_produces_the_golden_frames_byte_for_byte() {
    let fresh = rendered();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(golden_path(), &fresh).unwrap();
    }
    let stored = std::fs::read_to_string(golden_path()).expect("proto/tests/golden.json (UPDATE_GOLDEN=1 writes it)");
    assert_eq!(stored, fresh, "golden.json differs from what the encoder produces now");
}

#[test]
fn every_golden_frame_decodes_to_its_debug_text() {
    // While UPDATE_GOLDEN rewrites the file in the other test, check the fresh rendering instead of racing it.
    let text = match std::env::var_os("UPDATE_GOLDEN") {
        Some(_) => rendered(),
        None => std::fs::read_to_string(golden_path()).unwrap(),
    };
    let stored: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(stored.len(), vectors().len());
    for entry in stored {
        let mut bytes = unhex(entry["frame"].as_str().unwrap());
        assert_eq!(bytes.pop(), Some(0), "{}: a frame ends with its delimiter", entry["name"]);
        let debug = match entry["direction"].as_str().unwrap() {
            "to_mcu" => format!("{:?}", frame::decode::<ToMcu>(&mut bytes).unwrap()),
            "from_mcu" => format!("{:?}", frame::decode::<FromMcu>(&mut bytes).unwrap()),
            other => panic!("unknown direction {other}"),
        };
        assert_eq!(debug, entry["debug"].as_str().unwrap(), "{}", entry["name"]);
    }
}
