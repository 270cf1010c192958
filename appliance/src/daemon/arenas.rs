//! glibc's malloc arenas, capped before the daemon starts its threads.
//!
//! glibc gives a thread that finds the heap busy an arena of its own, up to eight per core,
//! and an arena keeps what was freed in it for later. The daemon's threads (the runtime's,
//! the face workers, the keyframe decoders, the database's) each pass megabytes of frames
//! and tensors through malloc, and the arenas' kept memory added up: a 60 s run of
//! `dipper-bench community` peaked at 906 MB with the default and at 538 MB with two
//! arenas, indexing as fast (README, "Benchmark: community"). `MALLOC_ARENA_MAX` in the
//! environment, an operator's choice, is left as it is.

/// Arenas the daemon's threads share.
const ARENAS: i32 = 2;

/// Caps the arenas, unless the environment already does.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub(crate) fn cap() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    // SAFETY: `mallopt` sets one of the allocator's parameters and has no other effect; it
    // is called before the daemon starts any thread, and a refusal (0) only leaves glibc's
    // default in place.
    let set = unsafe { libc::mallopt(libc::M_ARENA_MAX, ARENAS) };
    if set == 0 {
        tracing::warn!("glibc refused to cap its malloc arenas; memory use may be higher");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn cap() {}
