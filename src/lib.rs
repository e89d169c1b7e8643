//! hmm, the Home Miner Manager: one binary that polls a home mining fleet, stores its
//! telemetry in redb, prices its electricity by the Octopus Agile tariff, runs user
//! scripts, publishes to Home Assistant over MQTT and serves a status page.
//!
//! Each module is one box of DESIGN.md's data flow; they talk through the plain types in
//! [`model`] and each other's small public APIs. `main.rs` only calls [`cli::run`].

pub mod allocator;
pub mod bench;
pub mod cli;
pub mod collector;
pub mod config;
pub mod control;
pub mod daemon;
pub mod demo;
pub mod devices;
pub mod difficulty;
pub mod feeds;
pub mod fleet;
pub mod logging;
pub mod model;
pub mod mqtt;
pub mod script;
pub mod simulate;
pub mod status;
pub mod store;
pub mod ukclock;
pub mod units;
pub mod web;
