//! The golden vectors of proto/tests/golden.json on the Cortex-M33: every frame decodes, prints its documented
//! Debug text, and re-encodes byte for byte.
#![no_std]
#![no_main]

use core::fmt::Write;

use cortex_m_rt::entry;
use proto::frame::{self, FROM_MCU_MAX_FRAME, TO_MCU_MAX_FRAME};
use proto::{FromMcu, ToMcu};
use qemu_tests::{check, run};

const GOLDEN: &str = include_str!("../../../proto/tests/golden.json");

/// The value of `"key": "..."` starting the search at `from`; returns it (still JSON-escaped) and where it ends.
fn field<'a>(json: &'a str, key: &str, from: usize) -> Option<(&'a str, usize)> {
    let mut pattern = heapless::String::<16>::new();
    write!(pattern, "\"{key}\": \"").ok()?;
    let start = json[from..].find(pattern.as_str())? + from + pattern.len();
    let mut end = start;
    let bytes = json.as_bytes();
    while bytes[end] != b'"' {
        end += if bytes[end] == b'\\' { 2 } else { 1 };
    }
    Some((&json[start..end], end))
}

/// JSON string escapes as serde_json writes them for these texts: `\"` and `\\`.
fn unescape(s: &str, out: &mut heapless::String<512>) {
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        let c = if c == '\\' { chars.next().unwrap_or('\\') } else { c };
        let _ = out.push(c);
    }
}

fn unhex(s: &str, out: &mut heapless::Vec<u8, 512>) {
    for i in (0..s.len()).step_by(2) {
        let _ = out.push(u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0));
    }
}

fn each_vector(mut f: impl FnMut(&str, &str, &[u8]) -> Result<(), &'static str>) -> Result<(), &'static str> {
    let mut at = 0;
    let mut count = 0;
    while let Some((debug, end)) = field(GOLDEN, "debug", at) {
        let (direction, end) = field(GOLDEN, "direction", end).ok_or("direction")?;
        let (hex, end) = field(GOLDEN, "frame", end).ok_or("frame")?;
        let mut bytes = heapless::Vec::new();
        unhex(hex, &mut bytes);
        let mut text = heapless::String::new();
        unescape(debug, &mut text);
        f(&text, direction, &bytes)?;
        at = end;
        count += 1;
    }
    check(count >= 19, "every vector of golden.json was read")
}

fn roundtrip<T>(frame_bytes: &[u8], debug: &str) -> Result<(), &'static str>
where
    T: serde::Serialize + serde::de::DeserializeOwned + core::fmt::Debug,
{
    let mut body = heapless::Vec::<u8, 512>::from_slice(&frame_bytes[..frame_bytes.len() - 1]).map_err(|_| "size")?;
    let msg: T = frame::decode(&mut body).map_err(|_| "a golden frame does not decode")?;
    let mut text = heapless::String::<512>::new();
    write!(text, "{msg:?}").map_err(|_| "debug text too long")?;
    check(text == debug, "the Debug text differs from golden.json")?;
    let mut buf = [0u8; TO_MCU_MAX_FRAME + FROM_MCU_MAX_FRAME];
    let again = frame::encode(&msg, &mut buf).map_err(|_| "re-encoding failed")?;
    check(again == frame_bytes, "re-encoding differs byte for byte")
}

fn golden_frames_decode_and_reencode_byte_for_byte() -> Result<(), &'static str> {
    each_vector(|debug, direction, bytes| match direction {
        "to_mcu" => roundtrip::<ToMcu>(bytes, debug),
        _ => roundtrip::<FromMcu>(bytes, debug),
    })
}

#[entry]
fn main() -> ! {
    run(&[("golden_frames_decode_and_reencode_byte_for_byte", golden_frames_decode_and_reencode_byte_for_byte)])
}
