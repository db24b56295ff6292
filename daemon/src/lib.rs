//! Arduino Trader: the `trader` daemon and its library.
//!
//! The library holds everything the binary does, so that tests and benchmarks drive the same code:
//! the store (eight SQLite databases), demo data, and the command-line interface.

pub mod cli;
pub mod credentials;
pub mod demo;
pub mod display;
pub mod engine;
pub mod legacy;
pub mod link;
pub mod runtime;
pub mod showcase;
pub mod sim;
pub mod store;
