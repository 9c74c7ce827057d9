//! Runtime support shared by ferrolb's `no_std` policy components.
//!
//! A component built with `std` for `wasm32-wasip2` imports thirteen `wasi:cli` / `wasi:io`
//! interfaces; ferrolb's policies must import nothing. So the plugins are `#![no_std]` +
//! `alloc`, and this crate supplies what `std` would have: a global allocator (dlmalloc over the
//! linear memory), a panic handler that traps, and `cabi_realloc`, the allocation entry point the
//! canonical ABI calls to pass lists and strings into the guest.
//!
//! It also provides `memcmp`/`bcmp`, which libc would otherwise supply.
//!
//! This is the only crate of the plugin workspace where `unsafe` is allowed: `cabi_realloc` and
//! `memcmp` have to be `extern "C"` exports with raw pointers, and `GlobalAlloc` is an unsafe trait.
#![no_std]

extern crate alloc;

use core::alloc::{GlobalAlloc, Layout};

#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// Panics (including allocation failure) end the call with a trap; the host reports it and discards
/// the instance.
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// The canonical ABI's allocation function (component model `realloc`).
///
/// Called by the host with `old_ptr = null, old_len = 0` to allocate, or with an existing block to
/// grow it. Returns null only if `new_len` is 0 (a dangling, aligned pointer is returned then).
///
/// # Safety
/// The caller (the canonical ABI) guarantees that `old_ptr`/`old_len`/`align` describe a block this
/// allocator handed out earlier, or that `old_len` is 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cabi_realloc(old_ptr: *mut u8, old_len: usize, align: usize, new_len: usize) -> *mut u8 {
    if new_len == 0 {
        return align as *mut u8;
    }
    let Ok(new_layout) = Layout::from_size_align(new_len, align) else { core::arch::wasm32::unreachable() };
    // SAFETY: see the function's contract; layouts are non-zero-sized here.
    let ptr = unsafe {
        if old_len == 0 {
            ALLOCATOR.alloc(new_layout)
        } else {
            let old_layout = Layout::from_size_align_unchecked(old_len, align);
            ALLOCATOR.realloc(old_ptr, old_layout, new_len)
        }
    };
    if ptr.is_null() {
        core::arch::wasm32::unreachable()
    }
    ptr
}

/// The contract version every ferrolb plugin built from this tree implements.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// `memcmp` for the guest: without libc, a `no_std` component that compares byte slices (string
/// ordering, `[u8]` equality) would otherwise import `env::memcmp`, which no host provides.
/// A plain byte loop: LLVM does not turn it back into a `memcmp` call.
///
/// # Safety
/// `a` and `b` must be valid for reads of `n` bytes (the compiler's contract for `memcmp`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: i < n, and both pointers are valid for n bytes.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}

/// `bcmp` (equality-only `memcmp`), which LLVM emits for slice equality.
///
/// # Safety
/// As [`memcmp`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract.
    unsafe { memcmp(a, b, n) }
}
