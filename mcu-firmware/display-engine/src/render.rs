//! Scenes to pixels: a pure function of the scene and how long it has been shown.

use proto::{Bar, DisplayState, Icon, Scene};

use crate::font::{self, ADVANCE, GLYPH_HEIGHT};
use crate::framebuffer::{Framebuffer, HEIGHT, WIDTH};

/// Full level: text, bars and icons are drawn at it; the global brightness scales everything.
const FULL: u8 = 255;
/// The target marker of a bar where it lies above the bar: visible, but clearly not part of the bar.
const MARKER: u8 = 96;

/// The frame for `state` after its scene has been shown for `elapsed_ms`.
pub fn frame(state: &DisplayState, elapsed_ms: u32) -> Framebuffer {
    let mut fb = Framebuffer::default();
    match &state.scene {
        Scene::Off => {}
        Scene::Ticker { text, step_ms } => scroll(&mut fb, text, scroll_offset(text, *step_ms, elapsed_ms), 0),
        Scene::Error { text } => {
            scroll(&mut fb, text, scroll_offset(text, ERROR_STEP_MS, elapsed_ms), 0);
            // The steady bottom line: an error never looks like the ticker, even mid-scroll.
            fb.rows[HEIGHT - 1] = [FULL; WIDTH];
        }
        Scene::Bars(bars) => draw_bars(&mut fb, bars),
        Scene::Icons(icons) => draw_icons(&mut fb, icons),
    }
    fb.dim(state.brightness);
    fb
}

/// The boot animation: a diagonal wave with a fading tail sweeps the matrix once, proving every pixel works.
pub fn boot(elapsed_ms: u32) -> Framebuffer {
    let mut fb = Framebuffer::default();
    let front = (elapsed_ms / BOOT_STEP_MS) as i32;
    for row in 0..HEIGHT as i32 {
        for col in 0..WIDTH as i32 {
            let behind = front - (row + col);
            if (0..4).contains(&behind) {
                fb.set(row, col, FULL >> (2 * behind));
            }
        }
    }
    fb
}

/// One diagonal per step: the wave crosses the 20 diagonals (plus its tail) in about 1.5 s.
pub const BOOT_STEP_MS: u32 = 64;
/// How long the boot animation runs.
pub const BOOT_MS: u32 = BOOT_STEP_MS * (WIDTH + HEIGHT + 3) as u32;

/// Whether a scene stands still (a candidate for the low-light idle mode).
pub fn is_static(scene: &Scene) -> bool {
    match scene {
        Scene::Ticker { step_ms, .. } => *step_ms == 0,
        Scene::Error { .. } => false,
        Scene::Off | Scene::Bars(_) | Scene::Icons(_) => true,
    }
}

/// Error text scrolls at a fixed, readable pace (the default ticker speed, portfolio.md §12.2).
pub const ERROR_STEP_MS: u16 = 50;

/// How many columns the text has moved after `elapsed_ms`: it enters at the right edge, leaves at the left,
/// and starts again. A zero step means "do not scroll": the text stands at the left edge.
pub fn scroll_offset(text: &str, step_ms: u16, elapsed_ms: u32) -> usize {
    if step_ms == 0 {
        return WIDTH;
    }
    let cycle = font::text_width(text) + WIDTH;
    (elapsed_ms / step_ms as u32) as usize % cycle
}

/// Draw `text` moved left by `offset` columns from just beyond the right edge, glyph tops on `top_row`.
fn scroll(fb: &mut Framebuffer, text: &str, offset: usize, top_row: i32) {
    for (i, c) in text.chars().enumerate() {
        let x0 = (i * ADVANCE + WIDTH) as i32 - offset as i32;
        if x0 >= WIDTH as i32 || x0 + ADVANCE as i32 <= 0 {
            continue;
        }
        let glyph = font::glyph(c);
        for col in 0..font::GLYPH_WIDTH {
            for row in 0..GLYPH_HEIGHT {
                if font::lit(&glyph, row, col) {
                    fb.set(top_row + row as i32, x0 + col as i32, FULL);
                }
            }
        }
    }
}

/// Two columns per group, growing from the bottom. The target is a marker in the same columns: a dim pixel
/// above an under-weight bar, a dark notch inside an over-weight one, and nothing extra when the bar's top is
/// exactly on target — the gap between top and marker is the group's status at a glance.
fn draw_bars(fb: &mut Framebuffer, bars: &[Bar]) {
    for (i, bar) in bars.iter().enumerate() {
        let (current, target) = (bar.current.min(HEIGHT as u8), bar.target.min(HEIGHT as u8));
        for col in [2 * i as i32, 2 * i as i32 + 1] {
            for h in 0..current {
                fb.set(HEIGHT as i32 - 1 - h as i32, col, FULL);
            }
            let marker_row = HEIGHT as i32 - target as i32;
            match target.cmp(&current) {
                core::cmp::Ordering::Greater => fb.set(marker_row, col, MARKER),
                core::cmp::Ordering::Less if target > 0 => fb.set(marker_row, col, 0),
                _ => {}
            }
        }
    }
}

/// The 5×7 pictures of the status icons (same encoding as the font).
pub fn icon_glyph(icon: Icon) -> [u8; font::GLYPH_WIDTH] {
    match icon {
        Icon::TradeExecuted => [0x10, 0x20, 0x10, 0x08, 0x04],
        Icon::Error => [0x22, 0x14, 0x08, 0x14, 0x22],
        Icon::Syncing => [0x1C, 0x22, 0x2A, 0x22, 0x1C],
        Icon::LinkLost => [0x06, 0x09, 0x00, 0x48, 0x30],
        Icon::Up => [0x08, 0x04, 0x7E, 0x04, 0x08],
        Icon::Down => [0x08, 0x10, 0x3F, 0x10, 0x08],
        Icon::Pause => [0x00, 0x3E, 0x00, 0x3E, 0x00],
    }
}

/// Icons side by side, centred: one at columns 4–8, two at 1–5 and 7–11.
fn draw_icons(fb: &mut Framebuffer, icons: &[Icon]) {
    let starts: &[i32] = match icons.len() {
        1 => &[4],
        _ => &[1, 7],
    };
    for (icon, &x0) in icons.iter().zip(starts) {
        let glyph = icon_glyph(*icon);
        for col in 0..font::GLYPH_WIDTH {
            for row in 0..GLYPH_HEIGHT {
                if font::lit(&glyph, row, col) {
                    fb.set(row as i32, x0 + col as i32, FULL);
                }
            }
        }
    }
}
