//! The firmware's side of the golden vectors (proto/tests/golden.json): built in the firmware's workspace, with
//! its own lock file, every frame decodes and re-encodes byte for byte, and the link answers each command.

use display_engine::{Link, LinkConfig};
use proto::frame::{self, FROM_MCU_MAX_FRAME, TO_MCU_MAX_FRAME};
use proto::{Command, FromMcu, PROTOCOL_VERSION, ResetCause, ToMcu, Version};

fn vectors() -> Vec<(String, String, Vec<u8>)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto/tests/golden.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let hex = v["frame"].as_str().unwrap();
            let bytes = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
            (v["name"].as_str().unwrap().to_owned(), v["direction"].as_str().unwrap().to_owned(), bytes)
        })
        .collect()
}

fn reencoded<T: serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug>(frame: &[u8]) -> (T, Vec<u8>) {
    let mut body = frame[..frame.len() - 1].to_vec();
    let msg: T = frame::decode(&mut body).unwrap();
    let mut buf = [0u8; TO_MCU_MAX_FRAME + FROM_MCU_MAX_FRAME];
    let again = frame::encode(&msg, &mut buf).unwrap().to_vec();
    (msg, again)
}

#[test]
fn every_golden_frame_decodes_and_reencodes_byte_for_byte() {
    let vectors = vectors();
    assert!(vectors.len() >= 18);
    for (name, direction, bytes) in vectors {
        let again = match direction.as_str() {
            "to_mcu" => reencoded::<ToMcu>(&bytes).1,
            _ => reencoded::<FromMcu>(&bytes).1,
        };
        assert_eq!(again, bytes, "{name}");
    }
}

#[test]
fn the_link_answers_every_golden_command_with_its_sequence_number() {
    let mut link = Link::new(LinkConfig::uno_q(ResetCause::PowerOn, 0), 0);
    let mut buf = [0u8; TO_MCU_MAX_FRAME];
    let hello = ToMcu { seq: 1, command: Command::Hello { protocol: PROTOCOL_VERSION, daemon: Version::default() } };
    link.receive(frame::encode(&hello, &mut buf).unwrap(), 0, |_| {});
    for (name, direction, bytes) in vectors() {
        if direction != "to_mcu" {
            continue;
        }
        let (msg, _) = reencoded::<ToMcu>(&bytes);
        let mut answers = Vec::new();
        link.receive(&bytes, 10, |a| answers.push(a.clone()));
        match (&msg.command, answers.first()) {
            (Command::Hello { .. }, Some(FromMcu::Hello { protocol, .. })) => assert_eq!(*protocol, PROTOCOL_VERSION),
            (_, Some(FromMcu::Ack { seq, state })) => {
                assert_eq!(*seq, msg.seq, "{name}");
                assert_eq!(*state, link.state().digest(), "{name}");
            }
            other => panic!("{name}: unexpected answer {other:?}"),
        }
    }
}
