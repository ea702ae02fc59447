//! The `harness` binary's global allocator ([`HugeLarge`], installed with `#[global_allocator]`;
//! `examples/stage_times` of the pipeline crate installs it too, so that the benchmark's floor
//! runs on what a run runs on): the system allocator, except that large blocks get their own
//! anonymous mappings, kept for reuse when freed. Which blocks count as large depends on the
//! command's [`Policy`], latched by [`configure`] in `main` before the first large block:
//!
//! - [`Policy::Arrays`] (`eval`, `pool`, `verify`, …): blocks of 2 MiB or more (CSV
//!   buffers, score columns, sort buffers) get 2 MiB-aligned mappings advised for transparent
//!   huge pages. `harness eval` on 200,000 rows touches ~50 MB in a few large vectors; with
//!   4 KiB pages that is ~12,000 page faults, which on the VMs this runs on cost as much as the
//!   statistics; huge pages take 25 faults. The resident set grows only by the rounding of each
//!   large block to 2 MiB (a general-purpose allocator with huge pages, mimalloc, was as fast
//!   but doubled the peak RSS). Where THP is off or not granted the mappings are ordinary pages.
//! - [`Policy::Streaming`] (`run`, `bench`, `inspect`, `merge`): image and tensor buffers are
//!   allocated and freed continuously, batch after batch (a merge's shard files likewise).
//!   glibc serves blocks up to 32 MiB (its largest mmap threshold, set with the trim threshold
//!   by [`configure`]) from heaps it reuses; only larger blocks — an engine's activations, e.g.
//!   51 MB for a batch of 32 after a ResNet stem — get mappings (advised for huge pages, like
//!   the array policy's), kept for the next block of their length. Measured on 3,000 768×768
//!   PNGs (`ci/bench_pipeline.py`, README): the array policy's huge-page mappings for every
//!   decoded image (2.4 MB, more than its eight kept mappings hold in flight) made `harness run`
//!   ~8 % slower than the system allocator, with a third more system time (a fresh mapping,
//!   its 2 MiB pages cleared, per image); glibc's defaults made tract runs spend a third of
//!   their time in the kernel, faulting in the same activations for every batch.
//!
//! A freed mapping is kept for the next block of the same mapped length (at most
//! [`CACHE_SLOTS`] mappings and the policy's byte budget in all).
//!
//! What it buys is measured, not assumed: `HARNESS_PLAIN_ALLOCATOR=1` makes this allocator pass
//! every block to the system allocator untuned, and `ci/bench_eval.py` times `harness eval` both
//! ways in the same run (see the README's performance section).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// How a command allocates; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// A few large arrays built once (statistics on many cases).
    Arrays,
    /// Buffers of the same few sizes allocated and freed batch after batch (images, tensors).
    Streaming,
}

/// The allocator's mode, latched once: [`configure`] sets it in `main` before any large
/// block, and the first large allocation latches the default ([`Policy::Arrays`]) if nothing
/// was set. It never changes afterwards, so a block's path (mapping or system allocator) is
/// the same at `dealloc` as it was at `alloc`, whatever safe code does later.
static MODE: AtomicU8 = AtomicU8::new(UNSET);
const UNSET: u8 = 0;
const ARRAYS: u8 = 1;
const STREAMING: u8 = 2;
const PLAIN: u8 = 3;

/// Latches `policy`, or the untuned system allocator when `HARNESS_PLAIN_ALLOCATOR` is set
/// (any value but `0` or empty). Call it before the command's work; once the mode is latched
/// (by a first call or a first large allocation), later calls change nothing. Returns whether
/// this call latched the mode.
pub fn configure(policy: Policy) -> bool {
    let plain =
        std::env::var_os("HARNESS_PLAIN_ALLOCATOR").is_some_and(|v| !v.is_empty() && v != "0");
    let mode = match policy {
        _ if plain => PLAIN,
        Policy::Arrays => ARRAYS,
        Policy::Streaming => STREAMING,
    };
    let latched = MODE
        .compare_exchange(UNSET, mode, Ordering::AcqRel, Ordering::Acquire)
        .is_ok();
    if latched && mode == STREAMING {
        keep_freed_memory();
    }
    latched
}

fn mode() -> u8 {
    match MODE.load(Ordering::Acquire) {
        UNSET => match MODE.compare_exchange(UNSET, ARRAYS, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => ARRAYS,
            Err(latched) => latched,
        },
        mode => mode,
    }
}

/// Huge page size on x86-64 and aarch64 Linux (4 KiB base pages).
const HUGE: usize = 2 << 20;

/// Under [`Policy::Streaming`], the smallest block that gets its own mapping: glibc's largest
/// mmap threshold on 64-bit systems (`mallopt` refuses more), below which it reuses its heaps.
const STREAM_LARGE: usize = 32 << 20;

/// The smallest block that gets its own mapping under `mode`; `None` where every block goes
/// to the system allocator.
fn own_mappings_from(mode: u8) -> Option<usize> {
    match mode {
        ARRAYS => Some(HUGE),
        STREAMING => Some(STREAM_LARGE),
        _ => None,
    }
}

/// The bytes of freed mappings kept for reuse under the latched mode.
fn cache_budget() -> usize {
    match mode() {
        STREAMING => STREAM_CACHE_BYTES,
        _ => CACHE_BYTES,
    }
}

/// The allocator; see the module documentation.
pub struct HugeLarge;

#[inline]
fn is_large(layout: &Layout) -> bool {
    // The mode is only read (and latched) for blocks that could be large under some policy.
    layout.size() >= HUGE && is_large_in(mode(), layout)
}

#[inline]
fn is_large_in(mode: u8, layout: &Layout) -> bool {
    cfg!(target_os = "linux")
        && layout.align() <= HUGE
        && own_mappings_from(mode).is_some_and(|from| layout.size() >= from)
}

#[inline]
fn mapped_len(size: usize) -> usize {
    size.div_ceil(HUGE) * HUGE
}

/// At most this many freed mappings are kept for reuse.
const CACHE_SLOTS: usize = 8;
/// Under [`Policy::Arrays`], at most this many bytes of freed mappings are kept (each at most
/// half of it).
const CACHE_BYTES: usize = 64 << 20;
/// Under [`Policy::Streaming`], the same budget: a few batches' activations.
const STREAM_CACHE_BYTES: usize = 512 << 20;

/// Freed mappings kept for reuse: (start, mapped length) per slot, length 0 for an empty slot,
/// behind a spin lock (held for a scan of eight slots; an allocator must not allocate, so no
/// `Mutex` with a heap-allocated queue).
struct MappingCache {
    locked: AtomicBool,
    slots: UnsafeCell<[(usize, usize); CACHE_SLOTS]>,
}

// SAFETY: `slots` is only touched by `with`, which holds `locked` for the whole access.
unsafe impl Sync for MappingCache {}

impl MappingCache {
    const fn new() -> Self {
        MappingCache {
            locked: AtomicBool::new(false),
            slots: UnsafeCell::new([(0, 0); CACHE_SLOTS]),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut [(usize, usize); CACHE_SLOTS]) -> R) -> R {
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        // SAFETY: the lock is held, so this is the only reference to the slots.
        let r = f(unsafe { &mut *self.slots.get() });
        self.locked.store(false, Ordering::Release);
        r
    }

    /// A kept mapping of exactly `len` bytes (its contents stale), if there is one.
    fn take(&self, len: usize) -> Option<*mut u8> {
        self.with(|slots| {
            let slot = slots.iter_mut().find(|(_, l)| *l == len)?;
            let start = std::mem::take(slot).0;
            Some(start as *mut u8)
        })
    }

    /// Keeps the mapping at `start` of `len` bytes when there is room within `budget` bytes;
    /// false when the caller must unmap it.
    fn keep(&self, start: *mut u8, len: usize, budget: usize) -> bool {
        if len > budget / 2 {
            return false;
        }
        self.with(|slots| {
            let held: usize = slots.iter().map(|(_, l)| l).sum();
            match slots.iter_mut().find(|(_, l)| *l == 0) {
                Some(slot) if held + len <= budget => {
                    *slot = (start as usize, len);
                    true
                }
                _ => false,
            }
        })
    }
}

static CACHE: MappingCache = MappingCache::new();

/// A fresh, zeroed, 2 MiB-aligned anonymous mapping of `mapped_len(size)` bytes, or null.
///
/// # Safety
/// None beyond the caller owning the result: it touches no existing memory.
#[cfg(target_os = "linux")]
unsafe fn map_large(size: usize) -> *mut u8 {
    let len = mapped_len(size);
    // Over-allocate by one huge page so that a 2 MiB-aligned start exists, then trim.
    // SAFETY: a new private anonymous mapping at an address of the kernel's choosing overlaps
    // nothing this process uses.
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len + HUGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return std::ptr::null_mut();
    }
    let start = raw as usize;
    let aligned = start.next_multiple_of(HUGE);
    // SAFETY: [start, aligned) and [tail, end) lie inside the mapping just made and nothing
    // refers to them; madvise only advises on [aligned, aligned + len), which stays mapped.
    unsafe {
        if aligned > start {
            libc::munmap(raw, aligned - start);
        }
        let tail = aligned + len;
        let end = start + len + HUGE;
        if end > tail {
            libc::munmap(tail as *mut libc::c_void, end - tail);
        }
        // Advisory: failure (THP disabled) leaves ordinary pages.
        libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
    }
    aligned as *mut u8
}

#[cfg(not(target_os = "linux"))]
unsafe fn map_large(_size: usize) -> *mut u8 {
    unreachable!("is_large is false off Linux")
}

// SAFETY: every block is either a mapping of at least `layout.size()` bytes aligned to 2 MiB
// (≥ `layout.align()`, which `is_large` checks) or the system allocator's; `is_large` depends
// only on the layout and on `MODE`, which is latched before the first block is made and never
// changes, so `dealloc` and `realloc` always hand a block back to the path that made it.
unsafe impl GlobalAlloc for HugeLarge {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_large(&layout) {
            if let Some(kept) = CACHE.take(mapped_len(layout.size())) {
                return kept;
            }
            // SAFETY: no precondition (see map_large).
            unsafe { map_large(layout.size()) }
        } else {
            // SAFETY: the caller's layout has a non-zero size (GlobalAlloc contract).
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(&layout) {
            // A kept mapping, cleared here (cheaper than faulting in a fresh one), else a fresh
            // mapping, which the kernel zero-fills.
            if let Some(kept) = CACHE.take(mapped_len(layout.size())) {
                // SAFETY: a kept mapping is at least `mapped_len(size)` bytes, owned by no one.
                unsafe { kept.write_bytes(0, layout.size()) };
                return kept;
            }
            // SAFETY: no precondition (see map_large).
            unsafe { map_large(layout.size()) }
        } else {
            // SAFETY: the caller's layout has a non-zero size (GlobalAlloc contract).
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_large(&layout) {
            // Kept for the next block of its length, or unmapped.
            #[cfg(target_os = "linux")]
            if !CACHE.keep(ptr, mapped_len(layout.size()), cache_budget()) {
                // SAFETY: `ptr` came from map_large (or the cache, which holds only such
                // mappings) with this layout (same `is_large` verdict), so it starts a mapping
                // of exactly `mapped_len(layout.size())` bytes, which nothing else holds.
                unsafe {
                    libc::munmap(ptr.cast(), mapped_len(layout.size()));
                }
            }
        } else {
            // SAFETY: `ptr` came from the system allocator with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size`, rounded up to `layout.align()`, does not
        // overflow isize (GlobalAlloc::realloc contract), and the alignment is unchanged.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (is_large(&layout), is_large(&new_layout)) {
            // SAFETY: both old and new blocks belong to the system allocator.
            (false, false) => unsafe { System.realloc(ptr, layout, new_size) },
            // Still inside the same mapping: nothing to do.
            (true, true) if mapped_len(new_size) == mapped_len(layout.size()) => ptr,
            _ => {
                // SAFETY: new_layout has a non-zero size (new_size > 0 by contract).
                let new = unsafe { self.alloc(new_layout) };
                if !new.is_null() {
                    // SAFETY: `ptr` is valid for `layout.size()` bytes and `new` for
                    // `new_size`; they are distinct blocks. `ptr` is then freed on its own path.
                    unsafe {
                        std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                new
            }
        }
    }
}

/// Tunes glibc's allocator for a short process that builds a few dozen arrays of 0.1–2 MiB
/// (`harness eval`): serve them from one heap that is never trimmed, so that freed memory is
/// reused instead of unmapped and faulted in again, and advise that heap for transparent huge
/// pages (what `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` does, which cannot be set from inside).
/// On the VMs this runs on a fresh page costs more than the arithmetic done in it: on 200,000
/// rows this takes page faults from 6,000 to 1,000. Blocks of 2 MiB or more still go to
/// [`HugeLarge`]. Call it before the work starts; elsewhere (other libcs) it does nothing.
pub fn tune_for_arrays() {
    if mode() != ARRAYS {
        return;
    }
    keep_freed_memory();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt, sbrk(0) and madvise on the heap's own pages change no memory contents.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 1);
        let before = libc::sbrk(0) as usize;
        // Grow the heap by the top pad now (black_box: the pair must not be optimised away).
        let p = std::hint::black_box(libc::malloc(1 << 20));
        libc::free(p);
        let after = libc::sbrk(0) as usize;
        if before == usize::MAX || after == usize::MAX || after <= before {
            return; // no brk heap (sbrk failed or the block was mapped): nothing to advise
        }
        let start = before.next_multiple_of(HUGE);
        if after > start {
            // Advisory, like HugeLarge's: failure leaves ordinary pages.
            libc::madvise(
                start as *mut libc::c_void,
                after - start,
                libc::MADV_HUGEPAGE,
            );
        }
    }
}

/// Under [`Policy::Streaming`] (and in [`tune_for_arrays`]): glibc serves every block below
/// [`STREAM_LARGE`] from its heaps (its mmap threshold at the largest value it takes, instead
/// of growing towards it one freed block at a time) and never hands freed memory at a heap's
/// top back to the kernel: an engine that needs a few hundred MB per batch would otherwise
/// shrink the heap after every batch and fault the same pages in again for the next (1,500
/// `brk` calls and a third of a tract run's time in the kernel, on 1,000 images). The resident
/// set then stays at its peak instead of falling back after it; the peak is the same.
/// Elsewhere (other libcs) it does nothing.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt changes allocator parameters, no memory contents.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, STREAM_LARGE as i32);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which blocks get their own mapping under each mode: from 2 MiB for arrays, from glibc's
    /// largest mmap threshold when streaming, none when plain or over-aligned.
    #[test]
    #[cfg(target_os = "linux")]
    fn each_policy_maps_its_own_large_blocks() {
        let block = |size| Layout::from_size_align(size, 8).unwrap();
        let cases = [
            (ARRAYS, HUGE - 1, false),
            (ARRAYS, HUGE, true),
            (ARRAYS, 4 << 20, true),
            (STREAMING, 4 << 20, false),
            (STREAMING, STREAM_LARGE - 1, false),
            (STREAMING, STREAM_LARGE, true),
            (STREAMING, 51 << 20, true),
            (PLAIN, 51 << 20, false),
        ];
        for (mode, size, large) in cases {
            assert_eq!(
                is_large_in(mode, &block(size)),
                large,
                "mode {mode}, {size} bytes"
            );
        }
        let over_aligned = Layout::from_size_align(64 << 20, 2 * HUGE).unwrap();
        assert!(!is_large_in(STREAMING, &over_aligned));
    }

    #[test]
    fn the_cache_keeps_mappings_by_exact_length_within_its_limits() {
        let c = MappingCache::new();
        let (a, b) = (0x1000 as *mut u8, 0x2000 as *mut u8);
        assert!(c.keep(a, 4 << 20, CACHE_BYTES));
        assert!(c.keep(b, 2 << 20, CACHE_BYTES));
        assert_eq!(c.take(6 << 20), None, "no mapping of that length");
        assert_eq!(c.take(2 << 20), Some(b));
        assert_eq!(c.take(2 << 20), None, "taken once");
        // Too large for the cache, or beyond its total.
        assert!(!c.keep(b, CACHE_BYTES / 2 + 1, CACHE_BYTES));
        for k in 0..7 {
            assert!(
                c.keep((0x10000 * (k + 1)) as *mut u8, 8 << 20, CACHE_BYTES),
                "slot {k}"
            );
        }
        // 4 + 7 x 8 = 60 MiB held: 8 more would pass 64, and the slots are full anyway.
        assert!(!c.keep(b, 2 << 20, CACHE_BYTES));
        assert_eq!(c.take(4 << 20), Some(a));
        assert!(c.keep(b, 2 << 20, CACHE_BYTES));
    }

    /// A freed large block serves the next block of its mapped length (no fresh mapping); a
    /// zeroed block is always a fresh, zero-filled mapping.
    #[test]
    #[cfg(target_os = "linux")]
    fn a_freed_large_block_is_reused_and_zeroed_blocks_stay_zero() {
        let a = HugeLarge;
        // An odd length that nothing else in the test binary allocates.
        let layout = Layout::from_size_align(13 * HUGE + 7, 8).unwrap();
        // SAFETY: each block is written within its size and freed once, with its layout.
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null());
            p.write_bytes(0xAB, layout.size());
            a.dealloc(p, layout);
            let q = a.alloc(layout);
            assert_eq!(q, p, "the kept mapping is reused");
            a.dealloc(q, layout);
            let z = a.alloc_zeroed(layout);
            assert!((0..layout.size()).step_by(4096).all(|i| *z.add(i) == 0));
            a.dealloc(z, layout);
        }
    }

    /// Contents survive every realloc transition: large in place, large → larger mapping,
    /// large → small, small → large; fresh large blocks are zeroed and 2 MiB-aligned.
    #[test]
    fn realloc_keeps_contents_across_every_transition() {
        let a = HugeLarge;
        // SAFETY: every pointer is used within its block and freed once, with its layout.
        unsafe {
            let layout = Layout::from_size_align(HUGE + 10, 8).unwrap();
            let p = a.alloc_zeroed(layout);
            assert!(!p.is_null());
            if cfg!(target_os = "linux") {
                assert_eq!(p as usize % HUGE, 0);
            }
            assert!((0..layout.size()).all(|i| *p.add(i) == 0));
            for i in 0..layout.size() {
                *p.add(i) = (i % 251) as u8;
            }
            let check = |p: *mut u8, n: usize| (0..n).all(|i| *p.add(i) == (i % 251) as u8);
            let p = a.realloc(p, layout, 2 * HUGE - 1); // same mapping
            let layout = Layout::from_size_align(2 * HUGE - 1, 8).unwrap();
            assert!(check(p, HUGE + 10));
            let p = a.realloc(p, layout, 5 * HUGE); // a new, larger mapping
            let layout = Layout::from_size_align(5 * HUGE, 8).unwrap();
            assert!(check(p, HUGE + 10));
            let p = a.realloc(p, layout, 1000); // to the system allocator
            let layout = Layout::from_size_align(1000, 8).unwrap();
            assert!(check(p, 1000));
            let p = a.realloc(p, layout, 3 * HUGE); // and back
            let layout = Layout::from_size_align(3 * HUGE, 8).unwrap();
            assert!(check(p, 1000));
            a.dealloc(p, layout);
        }
    }
}
