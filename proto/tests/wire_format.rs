//! An independent reading of the golden vectors: hand-written COBS, CRC-16/CCITT-FALSE and the documented
//! postcard rules (u8 and bool as one byte, larger integers as LEB128 varints, enum variants as varint indices,
//! strings and sequences as a varint length then their items), driven by a schema written out below from the
//! protocol's documentation. Nothing here uses postcard or the proto crate's decoder; if both readings of every
//! frame print the same text, the wire format is what the documentation says.

use std::fmt::Write;

/// The shape of a type on the wire, and how Rust's `Debug` prints it.
#[derive(Clone, Copy)]
enum Ty {
    U8,
    U16,
    U32,
    Bool,
    Str,
    /// `Option<T>`: a tag byte, 0 = `None`, 1 = `Some` followed by the value.
    Opt(&'static Ty),
    /// Sequence of items (`heapless::Vec`).
    Seq(&'static Ty),
    Struct(&'static str, &'static [(&'static str, Ty)]),
    Enum(&'static [(&'static str, Shape)]),
}

#[derive(Clone, Copy)]
enum Shape {
    Unit,
    Newtype(&'static Ty),
    Fields(&'static [(&'static str, Ty)]),
}

const VERSION: Ty = Ty::Struct("Version", &[("major", Ty::U8), ("minor", Ty::U8), ("patch", Ty::U8)]);
const RGB: Ty = Ty::Struct("Rgb", &[("r", Ty::U8), ("g", Ty::U8), ("b", Ty::U8)]);
const PATTERN: Ty = Ty::Enum(&[
    ("Solid", Shape::Unit),
    ("Blink", Shape::Fields(&[("half_period_ms", Ty::U16), ("anti_phase", Ty::Bool)])),
    ("Alternate", Shape::Fields(&[("other", RGB), ("half_period_ms", Ty::U16)])),
]);
const INDICATOR: Ty = Ty::Struct("Indicator", &[("colour", RGB), ("pattern", PATTERN)]);
const LED: Ty = Ty::Enum(&[("Led3", Shape::Unit), ("Led4", Shape::Unit)]);
const BALANCE: Ty = Ty::Enum(&[("Under", Shape::Unit), ("Balanced", Shape::Unit), ("Over", Shape::Unit)]);
const BAR: Ty = Ty::Struct("Bar", &[("current", Ty::U8), ("target", Ty::U8), ("status", BALANCE)]);
const ICON: Ty = Ty::Enum(&[
    ("TradeExecuted", Shape::Unit),
    ("Error", Shape::Unit),
    ("Syncing", Shape::Unit),
    ("LinkLost", Shape::Unit),
    ("Up", Shape::Unit),
    ("Down", Shape::Unit),
    ("Pause", Shape::Unit),
]);
const SCENE: Ty = Ty::Enum(&[
    ("Off", Shape::Unit),
    ("Ticker", Shape::Fields(&[("text", Ty::Str), ("step_ms", Ty::U16)])),
    ("Bars", Shape::Newtype(&Ty::Seq(&BAR))),
    ("Icons", Shape::Newtype(&Ty::Seq(&ICON))),
    ("Error", Shape::Fields(&[("text", Ty::Str)])),
]);
const COMMAND: Ty = Ty::Enum(&[
    ("Hello", Shape::Fields(&[("protocol", Ty::U16), ("daemon", VERSION)])),
    ("Scene", Shape::Newtype(&SCENE)),
    ("Indicator", Shape::Fields(&[("led", LED), ("indicator", INDICATOR)])),
    ("Brightness", Shape::Newtype(&Ty::U8)),
    ("Heartbeat", Shape::Unit),
    ("DiagnosticsRequest", Shape::Unit),
]);
const TO_MCU: Ty = Ty::Struct("ToMcu", &[("seq", Ty::U16), ("command", COMMAND)]);

const CAPABILITIES: Ty = Ty::Struct(
    "Capabilities",
    &[("width", Ty::U8), ("height", Ty::U8), ("gray_levels", Ty::U8), ("led4_pwm", Ty::Bool), ("max_frame", Ty::U16)],
);
const RESET_CAUSE: Ty = Ty::Enum(&[
    ("PowerOn", Shape::Unit),
    ("Pin", Shape::Unit),
    ("Software", Shape::Unit),
    ("IndependentWatchdog", Shape::Unit),
    ("WindowWatchdog", Shape::Unit),
    ("LowPower", Shape::Unit),
    ("BrownOut", Shape::Unit),
    ("Panic", Shape::Unit),
    ("Unknown", Shape::Unit),
]);
const NACK_REASON: Ty = Ty::Enum(&[
    ("NeedHello", Shape::Unit),
    ("ProtocolMismatch", Shape::Unit),
    ("BadValue", Shape::Unit),
    ("Damaged", Shape::Unit),
]);
const DIAGNOSTICS: Ty = Ty::Struct(
    "Diagnostics",
    &[
        ("uptime_ms", Ty::U32),
        ("frames_received", Ty::U32),
        ("crc_errors", Ty::U32),
        ("decode_errors", Ty::U32),
        ("overflows", Ty::U32),
        ("resets", Ty::U16),
        ("last_reset", RESET_CAUSE),
        ("firmware", VERSION),
    ],
);
const FROM_MCU: Ty = Ty::Enum(&[
    (
        "Hello",
        Shape::Fields(&[
            ("protocol", Ty::U16),
            ("answering", Ty::Opt(&Ty::U16)),
            ("firmware", VERSION),
            ("capabilities", CAPABILITIES),
            ("reset", RESET_CAUSE),
        ]),
    ),
    ("Ack", Shape::Fields(&[("seq", Ty::U16), ("state", Ty::U32)])),
    ("Nack", Shape::Fields(&[("seq", Ty::U16), ("reason", NACK_REASON)])),
    ("Diagnostics", Shape::Newtype(&DIAGNOSTICS)),
]);

/// COBS decoding: each code byte `n` is followed by `n - 1` data bytes, and stands for a zero after them unless
/// it is 0xFF or the frame ends.
fn cobs_decode(encoded: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < encoded.len() {
        let code = encoded[i] as usize;
        assert_ne!(code, 0, "a zero inside a COBS frame");
        out.extend_from_slice(&encoded[i + 1..i + code]);
        i += code;
        if code != 0xFF && i < encoded.len() {
            out.push(0);
        }
    }
    out
}

/// CRC-16/CCITT-FALSE, bit by bit: poly 0x1021, init 0xFFFF, MSB first, no final xor.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in bytes {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.bytes[self.at];
        self.at += 1;
        b
    }

    /// Unsigned LEB128: seven bits per byte, least significant group first, high bit = more follows.
    fn varint(&mut self) -> u64 {
        let mut value = 0u64;
        for shift in (0..).step_by(7) {
            let b = self.byte();
            value |= ((b & 0x7F) as u64) << shift;
            if b & 0x80 == 0 {
                break;
            }
        }
        value
    }

    fn read(&mut self, ty: &Ty, out: &mut String) {
        match ty {
            Ty::U8 => write!(out, "{}", self.byte()).unwrap(),
            Ty::U16 | Ty::U32 => write!(out, "{}", self.varint()).unwrap(),
            Ty::Bool => out.push_str(match self.byte() {
                0 => "false",
                1 => "true",
                other => panic!("bool byte {other}"),
            }),
            Ty::Str => {
                let len = self.varint() as usize;
                let s = std::str::from_utf8(&self.bytes[self.at..self.at + len]).unwrap();
                self.at += len;
                write!(out, "{s:?}").unwrap();
            }
            Ty::Opt(inner) => match self.byte() {
                0 => out.push_str("None"),
                1 => {
                    out.push_str("Some(");
                    self.read(inner, out);
                    out.push(')');
                }
                other => panic!("option tag {other}"),
            },
            Ty::Seq(item) => {
                let len = self.varint();
                out.push('[');
                for i in 0..len {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    self.read(item, out);
                }
                out.push(']');
            }
            Ty::Struct(name, fields) => {
                out.push_str(name);
                self.fields(fields, out);
            }
            Ty::Enum(variants) => {
                let (name, shape) = variants[self.varint() as usize];
                out.push_str(name);
                match shape {
                    Shape::Unit => {}
                    Shape::Newtype(inner) => {
                        out.push('(');
                        self.read(inner, out);
                        out.push(')');
                    }
                    Shape::Fields(fields) => self.fields(fields, out),
                }
            }
        }
    }

    fn fields(&mut self, fields: &[(&str, Ty)], out: &mut String) {
        out.push_str(" { ");
        for (i, (name, ty)) in fields.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write!(out, "{name}: ").unwrap();
            self.read(ty, out);
        }
        out.push_str(" }");
    }
}

#[test]
fn the_golden_vectors_read_the_same_with_a_decoder_written_from_the_documentation() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden.json");
    let vectors: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(!vectors.is_empty());
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let hex = v["frame"].as_str().unwrap();
        let frame: Vec<u8> =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        let (delimiter, encoded) = frame.split_last().unwrap();
        assert_eq!(*delimiter, 0, "{name}: ends with 0x00");
        assert!(!encoded.contains(&0), "{name}: no other zero");
        let decoded = cobs_decode(encoded);
        let (body, crc) = decoded.split_at(decoded.len() - 2);
        assert_eq!(crc16(body).to_le_bytes(), crc, "{name}: CRC-16/CCITT-FALSE over the body, little-endian");
        let ty = if v["direction"] == "to_mcu" { &TO_MCU } else { &FROM_MCU };
        let mut reader = Reader { bytes: body, at: 0 };
        let mut text = String::new();
        reader.read(ty, &mut text);
        assert_eq!(reader.at, body.len(), "{name}: the message fills the frame exactly");
        assert_eq!(text, v["debug"].as_str().unwrap(), "{name}");
    }
}

#[test]
fn the_hand_written_crc_matches_the_published_check_value() {
    // The catalogue's check value for CRC-16/CCITT-FALSE: the CRC of the ASCII digits "123456789".
    assert_eq!(crc16(b"123456789"), 0x29B1);
}
