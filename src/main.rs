//! The `hmm` binary: parses nothing itself, tunes the allocator and hands the arguments to
//! [`hmm::cli::run`].

fn main() {
    hmm::allocator::tune();
    std::process::exit(hmm::cli::run(std::env::args_os().skip(1).collect()));
}
