//! RGB LED patterns over time. Both LEDs count from the same epoch (the MCU's uptime), so two blinks with the
//! same period stay in phase, and `anti_phase` really is the opposite half (portfolio.md §12.3).

use proto::{Indicator, Pattern, Rgb};

/// The colour an indicator shows at `now_ms`.
pub fn colour_at(indicator: &Indicator, now_ms: u32) -> Rgb {
    let first_half = |half: u16| half == 0 || (now_ms / half as u32).is_multiple_of(2);
    match indicator.pattern {
        Pattern::Solid => indicator.colour,
        Pattern::Blink { half_period_ms, anti_phase } => {
            if first_half(half_period_ms) != anti_phase {
                indicator.colour
            } else {
                Rgb::OFF
            }
        }
        Pattern::Alternate { other, half_period_ms } => {
            if first_half(half_period_ms) {
                indicator.colour
            } else {
                other
            }
        }
    }
}

/// LED4 can only switch its channels (hardware.md §4): a channel is on from half level up, so (0,100,255)
/// shows as blue and (255,165,0) as yellow, as portfolio.md §12.3 allows.
pub fn on_off(colour: Rgb) -> Rgb {
    let switch = |v: u8| if v >= 128 { 255 } else { 0 };
    Rgb { r: switch(colour.r), g: switch(colour.g), b: switch(colour.b) }
}
