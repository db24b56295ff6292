//! The one-shot migrator from the legacy 15+ file layout to the eight databases (legacy-layout.md).

pub mod convert;
