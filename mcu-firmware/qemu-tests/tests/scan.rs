//! The scan plan and gamma table computed on the Cortex-M33 itself (hard-float libm): the same on-times as the
//! host computes, constant per pixel whatever else is lit.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use display_engine::Framebuffer;
use display_engine::gamma::GammaTable;
use display_engine::scan::{PIN_PAIRS, ScanPlan, T_MAX_TICKS, T_MIN_TICKS};
use qemu_tests::{check, run};

fn gamma_table_spans_one_to_seventy_two_microseconds() -> Result<(), &'static str> {
    let gamma = GammaTable::uno_q();
    check(gamma.on_ticks(0) == 0 && gamma.on_ticks(1) == T_MIN_TICKS && gamma.on_ticks(255) == T_MAX_TICKS, "ends")?;
    check(gamma.ticks.windows(2).all(|w| w[0] <= w[1]), "monotonic")?;
    check(gamma.distinct_levels() >= 16, "at least 16 levels")?;
    // A point in the middle, as the host test computes it: 160 + 11360·(127/254)^2.2 = 2632.2 → 2632.
    check(gamma.on_ticks(128) == 2632, "the same curve as on the host")
}

fn on_time_does_not_depend_on_how_many_pixels_are_lit() -> Result<(), &'static str> {
    let gamma = GammaTable::uno_q();
    let mut one = Framebuffer::default();
    one.rows[5][2] = 200;
    let all = Framebuffer { rows: [[200; 13]; 8] };
    let (a, b) = (ScanPlan::build(&one, &gamma), ScanPlan::build(&all, &gamma));
    check(a.slots[5 * 13 + 2] == b.slots[5 * 13 + 2], "the same slot")?;
    check(a.slots.iter().filter(|s| s.on_ticks > 0).count() == 1, "only that pixel lit")
}

fn the_last_pixel_uses_the_last_wired_pair() -> Result<(), &'static str> {
    check(PIN_PAIRS[0] == (0, 1) && PIN_PAIRS[103] == (10, 6), "hardware.md §3.1")
}

#[entry]
fn main() -> ! {
    run(&[
        ("gamma_table_spans_one_to_seventy_two_microseconds", gamma_table_spans_one_to_seventy_two_microseconds),
        ("on_time_does_not_depend_on_how_many_pixels_are_lit", on_time_does_not_depend_on_how_many_pixels_are_lit),
        ("the_last_pixel_uses_the_last_wired_pair", the_last_pixel_uses_the_last_wired_pair),
    ])
}
