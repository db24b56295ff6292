//! A small test harness for `#![no_main]` test programs under QEMU: each case prints `test NAME ... ok` or
//! `FAILED` over semihosting, then a closing `N passed, N failed`, and the program exits with status 0 or 1
//! (which cargo reports). A panic or a HardFault prints and exits 1 instead of hanging.
#![no_std]

use cortex_m_semihosting::{debug, hprintln};

/// A test case: its name and a function returning why it failed.
pub type Case = (&'static str, fn() -> Result<(), &'static str>);

/// Run every case, print the summary, exit.
pub fn run(cases: &[Case]) -> ! {
    let mut failed = 0;
    for (name, case) in cases {
        match case() {
            Ok(()) => hprintln!("test {} ... ok", name),
            Err(why) => {
                failed += 1;
                hprintln!("test {} ... FAILED: {}", name, why);
            }
        }
    }
    hprintln!("{} passed, {} failed", cases.len() - failed, failed);
    debug::exit(if failed == 0 { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    halt()
}

/// After semihosting's exit QEMU is gone; on anything else, wait for an interrupt forever.
fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

/// `Err(why)` unless `condition` holds.
pub fn check(condition: bool, why: &'static str) -> Result<(), &'static str> {
    if condition { Ok(()) } else { Err(why) }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("panicked: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    halt()
}

#[cortex_m_rt::exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    hprintln!("HardFault at pc {:#010x}", frame.pc());
    debug::exit(debug::EXIT_FAILURE);
    halt()
}
