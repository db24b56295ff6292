fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let mut b = system_tests::legacy_fixture::Builder::new(&dir, system_tests::legacy_fixture::Lineage::Fresh).unwrap();
    println!("{} daily rows", system_tests::legacy_fixture::production(&mut b));
    b.finish();
}
