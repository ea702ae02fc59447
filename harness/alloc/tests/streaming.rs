//! The streaming policy, latched in a process of its own (each integration test file is one):
//! blocks above glibc's mmap threshold are kept when freed and serve the next block of their
//! length, within the streaming budget (a 40 MiB block is more than the array policy keeps),
//! and a later call of `configure` changes nothing.

use harness_alloc::{HugeLarge, Policy, configure};
use std::alloc::{GlobalAlloc, Layout};

#[test]
#[cfg(target_os = "linux")]
fn large_tensors_are_kept_for_the_next_batch() {
    if std::env::var_os("HARNESS_PLAIN_ALLOCATOR").is_some_and(|v| !v.is_empty() && v != "0") {
        eprintln!("HARNESS_PLAIN_ALLOCATOR is set: no mapping is kept; nothing to test");
        return;
    }
    assert!(configure(Policy::Streaming));
    assert!(!configure(Policy::Arrays), "latched already: no effect");
    let a = HugeLarge;
    let layout = Layout::from_size_align(40 << 20, 64).unwrap();
    // SAFETY: each block is written within its size and freed once, with its layout.
    unsafe {
        let p = a.alloc(layout);
        assert!(!p.is_null());
        assert_eq!(
            p as usize % (2 << 20),
            0,
            "a mapping of its own, 2 MiB-aligned"
        );
        p.write_bytes(0xAB, 4096);
        p.add(layout.size() - 1).write(0xCD);
        a.dealloc(p, layout);
        // A fresh mapping would be zero-filled: stale contents show the kept one came back.
        let q = a.alloc(layout);
        assert_eq!(q, p);
        assert_eq!(
            (*q, *q.add(4095), *q.add(layout.size() - 1)),
            (0xAB, 0xAB, 0xCD)
        );
        a.dealloc(q, layout);
        // A zeroed block takes the kept mapping too, cleared.
        let z = a.alloc_zeroed(layout);
        assert_eq!(z, p);
        assert!((0..layout.size()).step_by(4093).all(|i| *z.add(i) == 0));
        assert_eq!(*z.add(layout.size() - 1), 0);
        a.dealloc(z, layout);
    }
}
