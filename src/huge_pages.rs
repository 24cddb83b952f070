//! A global allocator that asks Linux for transparent huge pages on large blocks.
//!
//! A million-particle system keeps ~500 MB in a few dozen arrays, streamed every step. On
//! 4 KiB pages the partners a pair loop reads lie on thousands of pages, more than the TLB
//! holds, and the hardware prefetchers stop at every page's end. Where the kernel's THP
//! mode is `madvise` (Debian's default), `MADV_HUGEPAGE` on a block's 2 MiB-aligned
//! interior lets it back those with 2 MiB pages; in mode `always` it changes nothing, in
//! `never` the kernel ignores it. The advice is only a hint: allocation, contents and
//! results do not depend on it. Measured effect: `docs/performance.md`.

use std::alloc::{GlobalAlloc, Layout, System};

/// The huge page size on x86-64 and most aarch64 kernels.
const HUGE_PAGE: usize = 2 << 20;

/// Blocks from this size are advised. From 4 MiB, which adds the thick slurry's pair list,
/// that case ran slower, and arrays smaller than that mostly stay in the last-level cache.
pub const ADVISED_FROM: usize = 4 * HUGE_PAGE;

/// [`System`], with [`advise`] on every block of [`ADVISED_FROM`] bytes or more.
pub struct HugePages;

// SAFETY: every call forwards to `System` with the same arguments; `advise` only hints
// at how to back memory the block already owns.
unsafe impl GlobalAlloc for HugePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, which `System` shares.
        let p = unsafe { System.alloc(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as in `dealloc`; the caller upholds `realloc`'s contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        advise(p, new_size);
        p
    }
}

/// The whole huge pages inside `len` bytes from `start`: (first address, length), if any.
pub fn huge_interior(start: usize, len: usize) -> Option<(usize, usize)> {
    let first = start.checked_next_multiple_of(HUGE_PAGE)?;
    let end = start.checked_add(len)? / HUGE_PAGE * HUGE_PAGE;
    (end > first).then(|| (first, end - first))
}

/// Hints that the block at `p` of `len` bytes be backed by huge pages, if it is large.
fn advise(p: *mut u8, len: usize) {
    if p.is_null() || len < ADVISED_FROM {
        return;
    }
    #[cfg(target_os = "linux")]
    if let Some((first, bytes)) = huge_interior(p as usize, len) {
        // SAFETY: the range lies inside the block just allocated (page-aligned, as madvise
        // wants); MADV_HUGEPAGE neither reads nor changes its contents. An error (a kernel
        // without THP) leaves the block as it was, which is all a hint can promise.
        unsafe {
            libc::madvise(first as *mut libc::c_void, bytes, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interior_is_the_whole_huge_pages_inside() {
        let h = HUGE_PAGE;
        assert_eq!(huge_interior(0, 2 * h), Some((0, 2 * h)));
        assert_eq!(huge_interior(4096, 3 * h), Some((h, 2 * h)));
        assert_eq!(huge_interior(4096, 2 * h), Some((h, h)));
        assert_eq!(huge_interior(4096, 2 * h - 4096), Some((h, h)));
        assert_eq!(huge_interior(4096, 2 * h - 8192), None);
        assert_eq!(huge_interior(h - 16, h + 16), Some((h, h)));
        assert_eq!(huge_interior(h + 1, h), None);
        assert_eq!(huge_interior(usize::MAX - 10, 5), None);
    }

    /// The `VmFlags` of the mapping holding `addr`, from `/proc/self/smaps`.
    #[cfg(target_os = "linux")]
    fn vm_flags(addr: usize) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            let range = line.split_whitespace().next().and_then(|r| r.split_once('-'));
            if let Some((a, b)) = range {
                if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                    inside = (a..b).contains(&addr);
                    continue;
                }
            }
            if let Some(flags) = line.strip_prefix("VmFlags:") {
                if inside {
                    return Some(flags.trim().to_owned());
                }
            }
        }
        None
    }

    /// On a kernel with transparent huge pages, a large block's interior is marked for them
    /// (`hg`), a block below the threshold is not. Without THP there is no advice to check.
    #[cfg(target_os = "linux")]
    #[test]
    fn large_blocks_are_marked_for_huge_pages() {
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists() {
            return;
        }
        let marked = |addr: usize| vm_flags(addr).is_some_and(|f| f.split(' ').any(|x| x == "hg"));
        let len = 2 * ADVISED_FROM;
        // SAFETY: a fresh private anonymous mapping, advised, inspected and unmapped here.
        unsafe {
            let map = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(map, libc::MAP_FAILED);
            let (first, _) = huge_interior(map as usize, len).unwrap();
            advise(map.cast(), ADVISED_FROM - 1);
            assert!(!marked(first), "{:?}", vm_flags(first));
            advise(map.cast(), len);
            assert!(marked(first), "{:?}", vm_flags(first));
            libc::munmap(map, len);

            let layout = Layout::from_size_align(len, 8).unwrap();
            let p = HugePages.alloc(layout);
            assert!(!p.is_null());
            let (first, _) = huge_interior(p as usize, len).unwrap();
            assert!(marked(first), "{:?}", vm_flags(first));
            HugePages.dealloc(p, layout);
        }
    }

    #[test]
    fn advised_blocks_keep_their_contents() {
        let a = HugePages;
        let n = ADVISED_FROM + 12_345;
        let layout = Layout::from_size_align(n, 8).unwrap();
        // SAFETY: a non-zero layout; each block is used within its size and freed once with
        // its layout.
        unsafe {
            let p = a.alloc_zeroed(layout);
            assert!(!p.is_null());
            let block = std::slice::from_raw_parts_mut(p, n);
            assert!(block.iter().all(|&b| b == 0));
            for (i, b) in block.iter_mut().enumerate() {
                *b = (i % 251) as u8;
            }
            let q = a.realloc(p, layout, 2 * n);
            assert!(!q.is_null());
            let grown = std::slice::from_raw_parts(q, n);
            assert!(grown.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
            a.dealloc(q, Layout::from_size_align(2 * n, 8).unwrap());
        }
    }
}
