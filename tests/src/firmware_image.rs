//! The firmware image checks of the test command: where flash and RAM go, the budget (flash ≤ 64 KiB, static
//! RAM ≤ 32 KiB), and the vector table at 0x0800_0000 whose first word is the initial stack pointer at the end
//! of the 768 KiB RAM (hardware.md §5.5, §6.5).

use object::{Object, ObjectSection, SectionKind};

pub const FLASH_BUDGET: u64 = 64 * 1024;
pub const RAM_BUDGET: u64 = 32 * 1024;
const FLASH_START: u64 = 0x0800_0000;
const FLASH_END: u64 = 0x0820_0000;
const RAM_START: u64 = 0x2000_0000;
const RAM_END: u64 = 0x200C_0000;

/// Bytes of one image, by where they live.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImageReport {
    /// Code, read-only data, the vector table and the initial values of `.data`.
    pub flash: u64,
    /// `.data`, `.bss` and `.uninit` (the stack comes on top, from the end of RAM).
    pub static_ram: u64,
    pub sections: Vec<(String, u64, u64)>,
}

/// Size report and checks of the ELF at `bytes`; `Err` names what is wrong.
pub fn check(bytes: &[u8]) -> Result<ImageReport, String> {
    let elf = object::File::parse(bytes).map_err(|e| format!("not an ELF file: {e}"))?;
    let mut report = ImageReport::default();
    for section in elf.sections() {
        let (name, address, size) = (section.name().unwrap_or("?").to_owned(), section.address(), section.size());
        if size == 0 || address == 0 {
            continue;
        }
        let in_ram = (RAM_START..RAM_END).contains(&address);
        let in_flash = (FLASH_START..FLASH_END).contains(&address);
        if in_flash {
            report.flash += size;
        }
        if in_ram {
            report.static_ram += size;
            // Initialised data is also stored in flash, copied to RAM at reset.
            if section.kind() != SectionKind::UninitializedData && !name.starts_with(".uninit") {
                report.flash += size;
            }
        }
        if in_flash || in_ram {
            report.sections.push((name, address, size));
        }
    }
    let vectors = elf.section_by_name(".vector_table").ok_or("no .vector_table section")?;
    if vectors.address() != FLASH_START {
        return Err(format!(".vector_table at {:#010x}, not at 0x08000000", vectors.address()));
    }
    let data = vectors.data().map_err(|e| e.to_string())?;
    let word = |i: usize| u32::from_le_bytes(data[4 * i..4 * i + 4].try_into().expect("4 bytes"));
    if word(0) as u64 != RAM_END {
        return Err(format!("initial stack pointer {:#010x}, expected the end of RAM 0x200c0000", word(0)));
    }
    if word(1) & 1 == 0 || !(FLASH_START..FLASH_END).contains(&(word(1) as u64)) {
        return Err(format!("reset vector {:#010x} is not a Thumb address in flash", word(1)));
    }
    if report.flash > FLASH_BUDGET {
        return Err(format!("flash {} bytes exceeds the budget of {FLASH_BUDGET}", report.flash));
    }
    if report.static_ram > RAM_BUDGET {
        return Err(format!("static RAM {} bytes exceeds the budget of {RAM_BUDGET}", report.static_ram));
    }
    Ok(report)
}
