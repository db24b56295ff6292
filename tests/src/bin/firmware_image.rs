//! `firmware_image ELF`: the size report and budget check of the board firmware (the test command runs it
//! after the release build; exit 1 when the image is over budget or its vector table is wrong).

fn main() -> std::process::ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: firmware_image ELF");
        return std::process::ExitCode::from(2);
    };
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("{}: {e}", path.to_string_lossy());
            return std::process::ExitCode::FAILURE;
        }
    };
    match system_tests::firmware_image::check(&bytes) {
        Ok(report) => {
            for (name, address, size) in &report.sections {
                println!("  {name:<16} {address:#010x} {size:>8} B");
            }
            println!(
                "flash {} B of {} ({:.1} %), static RAM {} B of {} ({:.1} %); vector table at 0x08000000, SP 0x200c0000",
                report.flash,
                system_tests::firmware_image::FLASH_BUDGET,
                100.0 * report.flash as f64 / system_tests::firmware_image::FLASH_BUDGET as f64,
                report.static_ram,
                system_tests::firmware_image::RAM_BUDGET,
                100.0 * report.static_ram as f64 / system_tests::firmware_image::RAM_BUDGET as f64,
            );
            std::process::ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("{}: {why}", path.to_string_lossy());
            std::process::ExitCode::FAILURE
        }
    }
}
