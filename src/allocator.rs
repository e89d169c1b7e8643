//! Allocator tuning for a daemon that must stay small for months.
//!
//! glibc gives each thread that allocates its own arena (up to eight per core), and an
//! arena keeps the memory its thread freed. hmm's collector, store, web and script threads
//! each allocate in bursts, so the daemon's resident memory crept up by the sum of every
//! arena's high-water mark: with 100 simulated miners, 20.8 MB after 7 minutes with the
//! default against 16.0 MB with two arenas, and the default kept climbing. Two arenas are
//! plenty for a process that spends its time waiting on devices.
//!
//! musl (the static aarch64 build) has no per-thread arenas, so there is nothing to tune.

/// Arenas glibc may create; see the module documentation for the measurement.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: libc::c_int = 2;

/// Applies the tuning once, at start, before any thread exists. An operator's own
/// `MALLOC_ARENA_MAX` in the environment wins.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes allocator parameters; it is called before any other
        // thread is started, with a parameter glibc documents for this purpose.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        }
    }
}
