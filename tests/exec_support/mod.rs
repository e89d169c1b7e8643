//! Starting the built `hmm` binary from integration tests, natively or under emulation.
//!
//! When the suite runs for another architecture (`scripts/qemu-tests.sh tests`), cargo
//! starts each test binary through qemu-user, but a process that test starts is executed
//! by the host kernel, which cannot run a foreign binary unless binfmt_misc is set up (it
//! is not in CI containers). The script therefore names the emulator in
//! `HMM_TEST_EXEC_RUNNER` (e.g. `qemu-aarch64-static`, words separated by spaces) and
//! [`hmm_command`] / [`self_command`] put it in front. Natively the variable is unset and
//! the binary runs directly.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::process::Command;

/// A `Command` running the `hmm` binary cargo built for this test target.
pub fn hmm_command() -> Command {
    command_for(env!("CARGO_BIN_EXE_hmm"))
}

/// A `Command` running this test binary again (tests that kill a child process).
pub fn self_command() -> Command {
    command_for(std::env::current_exe().expect("path of the test binary"))
}

/// A `Command` running `program` (built for the test target), through the emulator when
/// `HMM_TEST_EXEC_RUNNER` names one.
pub fn command_for(program: impl AsRef<OsStr>) -> Command {
    let runner = std::env::var("HMM_TEST_EXEC_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(emulator) => {
            let mut command = Command::new(emulator);
            command.args(words).arg(program);
            command
        }
        None => Command::new(program),
    }
}
