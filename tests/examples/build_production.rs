//! Builds the production-size legacy directory (65 securities × 20 years) at the given path, for profiling the
//! migrator by hand: `cargo run --release -p system-tests --example build_production /tmp/prod/data`.

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let mut b = system_tests::legacy_fixture::Builder::new(&dir, system_tests::legacy_fixture::Lineage::Fresh).unwrap();
    println!("{} daily rows", system_tests::legacy_fixture::production(&mut b));
    b.finish();
}
