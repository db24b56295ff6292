//! Levels to on-times: the wire carries 8-bit levels, the eye sees brightness roughly as a power of the light
//! energy, so the scan driver lights a pixel for `t(v) = t_min + (t_max − t_min)·((v − 1)/254)^γ` timer ticks
//! (hardware.md §3.3), `t(0) = 0`.

use crate::scan::{T_MAX_TICKS, T_MIN_TICKS};

/// The eye's usual exponent; tunable once a board is seen (hardware.md §8 item 12).
pub const GAMMA: f32 = 2.2;

/// On-time in timer ticks for each of the 256 levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GammaTable {
    pub ticks: [u16; 256],
}

impl GammaTable {
    /// The table for exponent `gamma` between `t_min` and `t_max` ticks.
    pub fn new(gamma: f32, t_min: u16, t_max: u16) -> Self {
        let mut ticks = [0u16; 256];
        for (v, t) in ticks.iter_mut().enumerate().skip(1) {
            *t = libm::roundf(curve(v as u8, gamma, t_min, t_max)) as u16;
        }
        GammaTable { ticks }
    }

    /// The table of the UNO Q matrix: 1 µs … 72 µs at 160 MHz.
    pub fn uno_q() -> Self {
        Self::new(GAMMA, T_MIN_TICKS, T_MAX_TICKS)
    }

    pub fn on_ticks(&self, level: u8) -> u16 {
        self.ticks[level as usize]
    }

    /// How many different on-times the table produces (hardware.md R1 asks for at least 16 visible levels).
    pub fn distinct_levels(&self) -> usize {
        1 + self.ticks.windows(2).filter(|w| w[1] != w[0]).count()
    }
}

/// The exact (unrounded) on-time of level `v` ≥ 1.
pub fn curve(v: u8, gamma: f32, t_min: u16, t_max: u16) -> f32 {
    let x = (v.max(1) - 1) as f32 / 254.0;
    t_min as f32 + (t_max - t_min) as f32 * libm::powf(x, gamma)
}
