//! Starting the built `hmm` binary from integration tests, natively or under emulation.
//!
//! When the suite runs for another architecture (`scripts/qemu-tests.sh tests`), cargo
//! starts each test binary through qemu-user, but a process that test starts is executed
//! by the host kernel, which cannot run a foreign binary unless binfmt_misc is set up (it
//! is not in CI containers). The script therefore names the emulator in
//! `HMM_TEST_EXEC_RUNNER` (e.g. `qemu-aarch64-static`, words separated by spaces) and
//! [`hmm_command`] puts it in front. Natively the variable is unset and the binary runs
//! directly.

use std::process::Command;

/// A `Command` running the `hmm` binary cargo built for this test target.
pub fn hmm_command() -> Command {
    let bin = env!("CARGO_BIN_EXE_hmm");
    let runner = std::env::var("HMM_TEST_EXEC_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(emulator) => {
            let mut command = Command::new(emulator);
            command.args(words).arg(bin);
            command
        }
        None => Command::new(bin),
    }
}
