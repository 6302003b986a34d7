//! glibc malloc settings for the platform's processes.
//!
//! By default glibc serves allocations above a threshold that moves at
//! run time (128 KiB at first, then the size of the last large block
//! freed) straight from the kernel, and hands freed memory at the top of
//! the heap back once more than twice that threshold is free. A
//! compliance run allocates and frees tens of megabytes of vectors, so
//! every run faulted its memory in afresh from the kernel: at 10,000
//! computers that was about a third of the calculation's time. With the
//! threshold fixed at its maximum (32 MiB) and up to 128 MiB of freed heap
//! kept for the next run, the calculation took about 30% less time (the
//! compliance bench, `tests/benches/compliance.rs`). Blocks above 32 MiB
//! still come from and go back to the kernel. The 128 MiB are kept per
//! malloc arena (glibc makes up to 8 per core, one per thread that
//! allocates at once), so a many-core host can keep more than that in
//! all; set `GLIBC_TUNABLES` yourself (for example with
//! `glibc.malloc.arena_max`) to bound it under a tight memory limit.
//!
//! The settings are glibc tunables, which are read when a process starts:
//! [`apply`] starts the program again with them.

/// The tunables [`apply`] sets.
pub const TUNABLES: &str =
    "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=134217728";

/// Set in the environment of the fresh start, so it never starts again:
/// glibc may drop `GLIBC_TUNABLES` itself (in secure mode, e.g. a binary
/// given file capabilities), which must not make [`apply`] loop.
const STARTED_AGAIN: &str = "ESTATE_MALLOC_TUNED";

/// Replaces this process with a fresh start of the same program and
/// arguments under [`TUNABLES`], unless this is that fresh start already
/// or `GLIBC_TUNABLES` is set (by an operator, whose choice stands). Call
/// it first thing in `main`, before any thread starts. Returns when
/// nothing needs doing, when the C library is not glibc, or when starting
/// again fails (the process then goes on with glibc's defaults).
pub fn apply() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;

        if std::env::var_os(STARTED_AGAIN).is_some() || std::env::var_os("GLIBC_TUNABLES").is_some()
        {
            return;
        }
        let Ok(program) = std::env::current_exe() else {
            return;
        };
        let mut arguments = std::env::args_os();
        let mut command = std::process::Command::new(program);
        if let Some(name) = arguments.next() {
            command.arg0(name);
        }
        let error = command
            .args(arguments)
            .env("GLIBC_TUNABLES", TUNABLES)
            .env(STARTED_AGAIN, "1")
            .exec();
        eprintln!("starting with malloc settings {TUNABLES} failed ({error}); going on without");
    }
}
