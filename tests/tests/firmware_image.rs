//! The checks the test command applies to the board firmware, applied to the images the firmware build made
//! (the test command builds the firmware before the host tests; a plain `cargo test` without it skips).

use std::path::Path;

fn image(name: &str) -> Option<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mcu-firmware/target/thumbv8m.main-none-eabihf/release");
    let path =
        if name == "trader-mcu" {
            dir.join(name)
        } else {
            // A QEMU test program: linked for the AN505, so its vector table is not at 0x0800_0000.
            std::fs::read_dir(dir.join("deps")).ok()?.flatten().map(|e| e.path()).find(|p| {
                p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(name)) && p.extension().is_none()
            })?
        };
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(_) => {
            println!("NOTICE: {} not built (cd mcu-firmware && cargo build --release); skipping", path.display());
            None
        }
    }
}

#[test]
fn the_board_image_fits_its_budget_with_the_vector_table_at_flash_start() {
    let Some(bytes) = image("trader-mcu") else { return };
    let report = system_tests::firmware_image::check(&bytes).unwrap();
    assert!(report.flash > 10_000 && report.static_ram > 1_000, "{report:?}");
    assert!(report.sections.iter().any(|(name, address, _)| name == ".vector_table" && *address == 0x0800_0000));
}

#[test]
fn an_image_linked_elsewhere_is_refused_with_the_reason() {
    let Some(bytes) = image("golden-") else { return };
    let why = system_tests::firmware_image::check(&bytes).unwrap_err();
    assert!(why.contains(".vector_table at 0x10000000"), "{why}");
    assert!(system_tests::firmware_image::check(b"not an elf").unwrap_err().contains("not an ELF"));
}
