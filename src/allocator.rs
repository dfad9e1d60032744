//! The process's allocator: mimalloc, set up to give memory back.
//!
//! Declared here rather than in `main.rs` so that every binary of the crate (the server, the
//! tests, the benches) runs on the allocator the server runs on.

/// mimalloc instead of glibc's malloc: a request allocates and frees many small objects
/// (headers, JSON values, ids), which mimalloc's per-thread free lists serve with fewer
/// instructions and no arena consolidation (bench/README.md, "Fifth session of 3 December 2026":
/// -6 % instructions per request for the HTTP floor, -12 % for a client read, -14 % for an access
/// decision).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `arena_eager_commit` option (its number in mimalloc.h's `mi_option_e`, the same in
/// mimalloc v2 and v3; libmimalloc-sys exports no constant for it).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Arenas committed on demand. With mimalloc's default (its first arena, 1 GiB of address space,
/// committed eagerly on Linux) a server held about 20 MiB more resident for the same work
/// (measured, bench/README.md "Memory": 66.7 against 42.7 MiB after start, 79.9 against 63.5
/// after 20 client creations); `MIMALLOC_ARENA_EAGER_COMMIT=0` showed the same gain, which this
/// makes the default. It must be set before the first allocation reserves that arena, which
/// happens before `main` runs (the runtime's own allocations): hence a constructor.
#[ctor::ctor(unsafe)]
fn commit_arenas_on_demand() {
    // SAFETY: runs once, before main and before any other thread exists (`mi_option_set` is not
    // thread-safe); the option takes a plain integer.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0) };
}

/// Asks the allocator to hand freed memory back to the system now. Memory freed by a thread
/// other than the one that allocated it (Argon2's buffers: made on a blocking thread, released
/// by a task) otherwise stays resident until the allocating thread allocates again, which an
/// idle blocking thread never does. Costly (it visits every heap): call it rarely.
pub fn return_freed_memory() {
    // SAFETY: `mi_collect` takes no pointer and may be called from any thread.
    unsafe { libmimalloc_sys::mi_collect(true) };
}
