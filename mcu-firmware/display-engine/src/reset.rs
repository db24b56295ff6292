//! Why the MCU started, from the reset flags of `RCC_CSR` and a panic record that survives the reset.

use proto::ResetCause;

/// The flags of `RCC_CSR` (STM32U5 reference manual, RCC_CSR: LPWRRSTF … OBLRSTF).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResetFlags {
    pub low_power: bool,
    pub window_watchdog: bool,
    pub independent_watchdog: bool,
    pub software: bool,
    /// Set by a brown-out and by every power-on (the POR is a BOR event).
    pub brown_out: bool,
    pub pin: bool,
    pub option_bytes: bool,
}

/// The one cause to report. A recorded panic wins (it caused the software reset that followed); watchdogs
/// next (they mean the firmware froze); a brown-out flag means power came (back) on — the pin flag is also set
/// then, so it is checked last.
pub fn cause(flags: ResetFlags, panicked: bool) -> ResetCause {
    if panicked {
        ResetCause::Panic
    } else if flags.independent_watchdog {
        ResetCause::IndependentWatchdog
    } else if flags.window_watchdog {
        ResetCause::WindowWatchdog
    } else if flags.brown_out {
        ResetCause::PowerOn
    } else if flags.low_power {
        ResetCause::LowPower
    } else if flags.software {
        ResetCause::Software
    } else if flags.pin {
        ResetCause::Pin
    } else {
        ResetCause::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_power_on_sets_pin_and_brown_out_and_reads_as_power_on() {
        let flags = ResetFlags { brown_out: true, pin: true, ..ResetFlags::default() };
        assert_eq!(cause(flags, false), ResetCause::PowerOn);
    }

    #[test]
    fn a_panic_then_software_reset_reads_as_panic_and_a_watchdog_as_watchdog() {
        let software = ResetFlags { software: true, pin: true, ..ResetFlags::default() };
        assert_eq!(cause(software, true), ResetCause::Panic);
        assert_eq!(cause(software, false), ResetCause::Software);
        let frozen = ResetFlags { independent_watchdog: true, pin: true, ..ResetFlags::default() };
        assert_eq!(cause(frozen, false), ResetCause::IndependentWatchdog);
        assert_eq!(cause(ResetFlags { pin: true, ..ResetFlags::default() }, false), ResetCause::Pin);
    }
}
