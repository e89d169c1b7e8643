//! Serves the status page over the in-memory demo fleet, to look at the design and for
//! scripts/browser-check.sh before `hmm demo` exists.
//!
//! `cargo run --example web_preview -- [ADDR] [MINERS]` (defaults 127.0.0.1:8080, 5).
//! Prints the URL on stdout, then serves until killed.

use std::sync::Arc;
use std::time::Duration;

use hmm::web::memory::MemoryBackend;
use hmm::web::{WebSettings, start};

fn main() {
    hmm::logging::init();
    let mut args = std::env::args().skip(1);
    let bind = args.next().unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let miners: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(5);
    let backend = MemoryBackend::demo(hmm::units::now_ms(), miners, Duration::from_secs(60), 7);
    let settings = WebSettings {
        bind,
        ..WebSettings::default()
    };
    let server = match start(&settings, Arc::new(backend)) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("web_preview: {error}");
            std::process::exit(1);
        }
    };
    println!("http://{}/", server.local_addr());
    loop {
        std::thread::park();
    }
}
