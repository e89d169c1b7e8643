//! The `hmm` binary: parses nothing itself, hands the arguments to [`hmm::cli::run`].

fn main() {
    std::process::exit(hmm::cli::run(std::env::args_os().skip(1).collect()));
}
