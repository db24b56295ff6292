//! `deploy/flash-mcu.sh --dry-run` prints exactly the commands of hardware.md §5.3 (the build machines have no
//! board and no OpenOCD; this is how the flashing path is tested).

use std::path::Path;
use std::process::Command;

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/flash-mcu.sh")
}

fn dry_run(args: &[&str]) -> (i32, Vec<String>) {
    let out = Command::new("bash").arg(script()).arg("--dry-run").args(args).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    (out.status.code().unwrap(), text.lines().map(str::to_owned).collect())
}

const OPENOCD: &str = "/opt/openocd/bin/openocd -s /opt/openocd -f openocd_gpiod.cfg";

#[test]
fn flashing_backs_up_the_whole_flash_first_then_programs_through_the_shared_flash_steps() {
    let (code, lines) = dry_run(&["--elf", "/usr/lib/trader/mcu-firmware.elf"]);
    assert_eq!(code, 0);
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/arduino/arduino-trader/unoq/trader-flash.cfg");
    let cfg = cfg.canonicalize().unwrap();
    let expected = [
        "systemctl stop trader.service".to_owned(),
        "gpioset -c /dev/gpiochip1 -t0 37=0".to_owned(),
        "mkdir -p /var/lib/trader/mcu-backup".to_owned(),
        format!(
            "{OPENOCD} -c 'reset_config srst_only srst_push_pull; init; reset halt; mdw 0x40022040; \
             dump_image /var/lib/trader/mcu-backup/flash-2MiB.bin 0x08000000 0x200000; reset run; shutdown'"
        ),
        "# then: check the size is 2097152 bytes, write /var/lib/trader/mcu-backup/flash-2MiB.bin.sha256 and \
         /var/lib/trader/mcu-backup/FLASH_OPTR"
            .to_owned(),
        format!("{OPENOCD} -c 'set filename0 /usr/lib/trader/mcu-firmware.elf' -f {}", cfg.display()),
        "systemctl start trader.service".to_owned(),
    ];
    let got: Vec<&str> = lines.iter().map(|l| l.trim_end()).collect();
    assert_eq!(got, expected.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn the_flash_steps_are_the_ones_arduino_cli_runs_too() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/arduino/arduino-trader/unoq");
    let cfg = std::fs::read_to_string(dir.join("trader-flash.cfg")).unwrap();
    let steps: Vec<&str> = cfg.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).collect();
    assert_eq!(
        steps,
        [
            "reset_config srst_only srst_nogate srst_push_pull connect_assert_srst",
            "init",
            "reset halt",
            "program ${filename0} verify reset",
            "shutdown"
        ]
    );
    let platform = std::fs::read_to_string(dir.join("platform.txt")).unwrap();
    assert!(platform.contains(r#"upload -f "{runtime.platform.path}/trader-flash.cfg""#));
    assert!(std::fs::read_to_string(dir.join("boards.txt")).unwrap().contains("mcu.upload.extension=elf"));
}

#[test]
fn restoring_programs_the_backup_at_flash_start_and_leaves_the_daemon_stopped() {
    let (code, lines) = dry_run(&["--restore-backup"]);
    assert_eq!(code, 0);
    assert!(lines.iter().any(|l| l.trim_end()
        == format!(
            "{OPENOCD} -c 'reset_config srst_only srst_push_pull; init; reset halt; \
             program /var/lib/trader/mcu-backup/flash-2MiB.bin 0x08000000 verify reset; shutdown'"
        )));
    assert!(!lines.iter().any(|l| l.starts_with("systemctl start")));
}

#[test]
fn an_unknown_option_is_bad_usage() {
    let out = Command::new("bash").arg(script()).arg("--frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown argument '--frobnicate'"));
}
