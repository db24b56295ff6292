//! Speed of the framing (issue figure: encode+CRC+COBS and decode per message, target < 2 µs), and the time a
//! full ticker update occupies the wire at 115200 baud, computed from its frame size and printed.
//! Run with `cargo bench -p proto --bench frame`.

use criterion::{Criterion, criterion_group, criterion_main};
use proto::frame::{self, Decoder, TO_MCU_MAX_FRAME};
use proto::*;
use std::hint::black_box;

/// 115200 baud, 8N1: ten bit times per byte.
const BYTES_PER_SECOND: f64 = 115_200.0 / 10.0;

fn ticker() -> ToMcu {
    let text =
        text("PORTFOLIO EUR1,234,567 * CASH EUR12,675 * BUY XIAO EUR855 * SELL SAP EUR1,200 * BUY AAPL EUR2,500");
    ToMcu { seq: 4711, command: Command::Scene(Scene::Ticker { text, step_ms: 50 }) }
}

fn framing(c: &mut Criterion) {
    let msg = ticker();
    let mut buf = [0u8; TO_MCU_MAX_FRAME];
    let frame = frame::encode(&msg, &mut buf).unwrap().to_vec();
    let longest = ToMcu {
        seq: u16::MAX,
        command: Command::Scene(Scene::Ticker { text: text(&"W".repeat(TEXT_MAX)), step_ms: u16::MAX }),
    };
    let longest_len = frame::encode(&longest, &mut buf).unwrap().len();
    println!(
        "full ticker update: {} bytes on the wire = {:.2} ms at 115200 baud; longest ticker frame {} bytes = {:.2} ms; \
         TO_MCU_MAX_FRAME = {TO_MCU_MAX_FRAME}",
        frame.len(),
        frame.len() as f64 / BYTES_PER_SECOND * 1e3,
        longest_len,
        longest_len as f64 / BYTES_PER_SECOND * 1e3,
    );

    c.bench_function("encode ticker (postcard + CRC + COBS)", |b| {
        b.iter(|| frame::encode(black_box(&msg), &mut buf).unwrap().len())
    });
    let mut decoder = Decoder::<TO_MCU_MAX_FRAME>::new();
    c.bench_function("decode ticker (streaming, byte by byte)", |b| {
        b.iter(|| {
            let mut got = None;
            decoder.feed(black_box(&frame), |r: Result<ToMcu, _>| got = Some(r));
            got.unwrap().unwrap()
        })
    });
    let ack = FromMcu::Ack { seq: 4711, state: 0x1234_5678 };
    c.bench_function("encode ack", |b| b.iter(|| frame::encode(black_box(&ack), &mut buf).unwrap().len()));
}

criterion_group!(benches, framing);
criterion_main!(benches);
