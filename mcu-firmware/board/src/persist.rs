//! What survives a reset (not a power cut): a reset counter and the last panic, in RAM that cortex-m-rt does
//! not initialise (`.uninit`). Read once at boot to report the reset cause in the hello (hardware.md §6.6).

use core::fmt::Write;
use core::ptr::addr_of_mut;

use display_engine::reset::{self, ResetFlags};
use embassy_stm32::pac;
use proto::ResetCause;

/// Marks a record written by this firmware (anything else is power-on garbage).
const MAGIC: u32 = 0x5452_4452;
/// Marks a panic message waiting to be reported.
const PANICKED: u32 = 0x5041_4E43;

#[repr(C)]
struct Record {
    magic: u32,
    resets: u16,
    panicked: u32,
    len: u8,
    message: [u8; 120],
}

#[unsafe(link_section = ".uninit.trader_persist")]
static mut RECORD: core::mem::MaybeUninit<Record> = core::mem::MaybeUninit::uninit();

fn record() -> *mut Record {
    // A raw pointer to our own static; every access is a volatile read or write of a plain field.
    addr_of_mut!(RECORD).cast()
}

/// The reset cause and the number of resets since power-on; clears the hardware flags and the panic mark.
pub fn boot() -> (ResetCause, u16) {
    let csr = pac::RCC.csr().read();
    let flags = ResetFlags {
        low_power: csr.lpwrrstf(),
        window_watchdog: csr.wwdgrstf(),
        independent_watchdog: csr.iwdgrstf(),
        software: csr.sftrstf(),
        brown_out: csr.borrstf(),
        pin: csr.pinrstf(),
        option_bytes: csr.oblrstf(),
    };
    pac::RCC.csr().modify(|w| w.set_rmvf(true));
    let r = record();
    // SAFETY: single-threaded at boot, before any interrupt uses the record.
    unsafe {
        let valid = (&raw const (*r).magic).read_volatile() == MAGIC && !flags.brown_out;
        let resets = if valid { (&raw const (*r).resets).read_volatile().wrapping_add(1) } else { 0 };
        let panicked = valid && (&raw const (*r).panicked).read_volatile() == PANICKED;
        (&raw mut (*r).magic).write_volatile(MAGIC);
        (&raw mut (*r).resets).write_volatile(resets);
        (&raw mut (*r).panicked).write_volatile(0);
        if !valid {
            (&raw mut (*r).len).write_volatile(0);
        }
        (reset::cause(flags, panicked), resets)
    }
}

/// Keeps the message (truncated) and restarts; the next hello says `Panic`.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    struct Sink<'a>(&'a mut [u8], usize);
    impl Write for Sink<'_> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            for &b in s.as_bytes() {
                if self.1 < self.0.len() {
                    self.0[self.1] = b;
                    self.1 += 1;
                }
            }
            Ok(())
        }
    }
    cortex_m::interrupt::disable();
    let r = record();
    // SAFETY: interrupts are off; nothing else runs.
    unsafe {
        let mut sink = Sink(&mut (*r).message, 0);
        let _ = write!(sink, "{info}");
        let len = sink.1 as u8;
        (&raw mut (*r).len).write_volatile(len);
        (&raw mut (*r).panicked).write_volatile(PANICKED);
        (&raw mut (*r).magic).write_volatile(MAGIC);
    }
    cortex_m::peripheral::SCB::sys_reset()
}
