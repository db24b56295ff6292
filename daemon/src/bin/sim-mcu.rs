//! `sim-mcu`: the firmware's display engine on a pty, rendering the matrix in this terminal.
//!
//!   sim-mcu --link /tmp/trader-mcu      # then point the daemon's serial device at /tmp/trader-mcu

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use trader::sim::{SimConfig, SimMcu, render_terminal};

/// A simulated UNO Q MCU: speaks the link protocol on a pseudo-terminal and draws the 8×13 matrix and the
/// two RGB LEDs here, until Ctrl-C.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Where to publish the serial device (a symlink to the pty), for the daemon to open.
    #[arg(long, default_value = "/tmp/trader-mcu")]
    link: PathBuf,
    /// Speak this link protocol version instead of the built-in one (to see a version mismatch).
    #[arg(long, default_value_t = proto::PROTOCOL_VERSION)]
    protocol: u16,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sim = SimMcu::start(SimConfig { link: args.link.clone(), protocol: args.protocol })?;
    eprintln!("simulated MCU on {} (Ctrl-C to stop)", args.link.display());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        print!("\x1b[2J\x1b[?25l");
        let mut frames = tokio::time::interval(Duration::from_millis(40));
        loop {
            tokio::select! {
                _ = frames.tick() => print!("\x1b[H{}", render_terminal(&sim.snapshot().shown)),
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        println!("\x1b[?25h");
    });
    Ok(())
}
