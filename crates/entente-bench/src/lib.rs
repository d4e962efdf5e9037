//! Benchmarks and the crash harness of Entente, apart from the product crates (no product crate
//! depends on this one). Each module measures one thing, prints nothing itself and returns its
//! figures, which the `entente-bench` binary prints and writes to `bench-results/`.

pub mod alerts;
pub(crate) mod common;
pub mod crash;
pub mod import;
pub mod load;
pub mod search;
pub mod statements;
pub mod sync;
pub(crate) mod words;
