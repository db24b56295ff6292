//! The matrix scan: TIM16 at the highest priority replays the engine's scan plan (hardware.md §3.3, R5–R8).
//! Update interrupt = slot start (all pins Hi-Z, then the slot's two pins, then the compare for its end);
//! compare interrupt = all pins Hi-Z again. Integer work only, no floating point, no locks.

use core::sync::atomic::{AtomicUsize, Ordering};

use display_engine::scan::{MODER_ALL_OFF, MODER_MASK, PIXELS, SLOT_TICKS, ScanBuffers};
use embassy_stm32::interrupt::{InterruptExt, Priority};
use embassy_stm32::pac::gpio::regs::{Bsrr, Moder};
use embassy_stm32::{interrupt, pac, peripherals, rcc};

/// The plans the display task publishes and this interrupt replays.
pub static BUFFERS: ScanBuffers = ScanBuffers::new();
/// The slot being shown; only the interrupt touches it.
static SLOT: AtomicUsize = AtomicUsize::new(0);

/// PF0..PF10 to analog (Hi-Z), PF11..PF15 untouched.
#[inline(always)]
fn all_off() {
    pac::GPIOF.moder().modify(|w| *w = Moder((w.0 & !MODER_MASK) | MODER_ALL_OFF));
}

pub fn start() {
    all_off();
    rcc::enable_and_reset::<peripherals::TIM16>();
    let tim = pac::TIM16;
    tim.psc().write_value(0);
    tim.arr().write(|w| w.set_arr(SLOT_TICKS - 1));
    tim.dier().write(|w| {
        w.set_uie(true);
        w.set_ccie(0, true);
    });
    tim.cr1().write(|w| w.set_cen(true));
    interrupt::TIM16.set_priority(Priority::P0);
    // SAFETY: the handler below only touches GPIOF, TIM16 and the scan buffers.
    unsafe { interrupt::TIM16.enable() };
}

#[embassy_stm32::pac::interrupt]
fn TIM16() {
    let tim = pac::TIM16;
    let sr = tim.sr().read();
    // The flags clear by writing 0; writing 1 leaves a flag alone.
    if sr.ccif(0) {
        tim.sr().write(|w| {
            w.0 = !0;
            w.set_ccif(0, false);
        });
        all_off();
    }
    if sr.uif() {
        tim.sr().write(|w| {
            w.0 = !0;
            w.set_uif(false);
        });
        all_off();
        let slot = SLOT.load(Ordering::Relaxed);
        let plan = if slot == 0 { BUFFERS.at_wrap() } else { BUFFERS.front_plan() };
        let s = plan.slots[slot];
        if s.on_ticks > 0 {
            pac::GPIOF.bsrr().write_value(Bsrr(s.bsrr));
            pac::GPIOF.moder().modify(|w| *w = Moder((w.0 & !MODER_MASK) | s.moder_on));
            if s.is_short() {
                // Below 2 µs: time the pulse here, so another interrupt cannot stretch it.
                while tim.cnt().read().cnt() < s.on_ticks {}
                all_off();
            } else {
                tim.ccr(0).write(|w| w.set_ccr(s.on_ticks));
            }
        }
        SLOT.store((slot + 1) % PIXELS, Ordering::Relaxed);
    }
}
