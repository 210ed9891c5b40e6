//! The process allocator: jemalloc, tuned for a long-running server that
//! holds a large, slowly changing set of watch-cached objects.
//!
//! glibc's malloc keeps up to eight arenas per core and returns little of
//! what is freed, so at 1,000 Stages and 10,000 Freight its peak RSS was
//! about twice the live set; capping its arenas halved that but cost 40%
//! more CPU per promotion hop. jemalloc with one arena per CPU, a
//! background thread that purges dirty pages after 250 ms, and no muzzy
//! (lazily freed) pages keeps RSS close to the live set at the same CPU
//! cost (purging after 1 s instead, peak RSS at 1,000 Stages x 10,000
//! Freight was 141–157 MB over three runs; after 250 ms, 136 for the
//! chain and 149 for the fan-out, CPU per hop unchanged). Thread caches keep only size classes up to 1 KiB: with
//! jemalloc's default (32 KiB) they held freed JSON buffers, 7–10 MB more
//! peak RSS at 1,000 Stages in the scale benchmark. The settings can be
//! overridden at run time through jemalloc's `_RJEM_MALLOC_CONF`
//! environment variable (jemalloc's own syntax).

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc reads its compiled-in options from this symbol (the crate
/// builds jemalloc with the `_rjem_` prefix) before the first allocation.
#[used]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &[u8; 95] =
    b"percpu_arena:percpu,background_thread:true,dirty_decay_ms:250,muzzy_decay_ms:0,tcache_max:1024\0";
