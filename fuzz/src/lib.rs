//! Support for evc's fuzz targets (see `fuzz_targets/`, run by `cargo xtask fuzz`).
//!
//! **Owns:** the allocation guard every target runs under, and the fixed inputs the targets
//! share (the order schemas, a scratch schema directory).
//!
//! **Does not own:** the code under test; a target only calls the crates' public APIs.
//!
//! The allocation guard is a global allocator around the system one: while a target runs
//! [`guarded`] with a budget, any single allocation larger than that budget aborts the process
//! with a message, which libFuzzer reports as a crash and saves the input. That turns "a
//! declared length of 2^40 was believed before the bytes were checked" into a finding, without
//! AddressSanitizer (which needs a nightly compiler) or libFuzzer's `-malloc_limit_mb` (which
//! needs a sanitizer's malloc hooks).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The largest single allocation allowed right now; `usize::MAX` outside [`guarded`].
static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

/// The system allocator, refusing (by aborting) allocations over [`LIMIT`].
pub struct Guard;

fn check(size: usize) {
    let limit = LIMIT.load(Ordering::Relaxed);
    if size > limit {
        // No allocation here: write the message with a fixed buffer.
        let mut buf = [0u8; 160];
        let msg = format_no_alloc(&mut buf, size, limit);
        let _ = std::io::Write::write_all(&mut std::io::stderr(), msg);
        // Lift the limit so that the backtrace (which allocates) can be shown.
        LIMIT.store(usize::MAX, Ordering::Relaxed);
        eprintln!("{}", std::backtrace::Backtrace::force_capture());
        std::process::abort();
    }
}

fn format_no_alloc(buf: &mut [u8; 160], size: usize, limit: usize) -> &[u8] {
    use std::io::Write;
    let mut cur = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(
        cur,
        "evc-fuzz: an allocation of {size} bytes exceeds this input's budget of {limit} bytes\n"
    );
    let n = cur.position() as usize;
    &buf[..n]
}

// SAFETY: every method forwards to `System` unchanged; `check` only reads an atomic and may
// abort, it never touches the memory handed out.
unsafe impl GlobalAlloc for Guard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

/// The budget for decoding `input_len` bytes: a decoder may hold every byte of the input many
/// times over (a string per byte, a struct per element of at least one byte), plus a fixed
/// 4 MiB (tables built once; an array of up to `MAX_EMPTY_ITEMS` items that take no bytes,
/// as apache-avro `Value`s), but never what a declared length alone asks for.
pub fn budget(input_len: usize) -> usize {
    (4usize << 20).saturating_add(input_len.saturating_mul(512))
}

/// Runs `f` with single allocations limited to `limit` bytes.
pub fn guarded<R>(limit: usize, f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            LIMIT.store(usize::MAX, Ordering::Relaxed);
        }
    }
    let _reset = Reset;
    LIMIT.store(limit, Ordering::Relaxed);
    f()
}

/// Declares the allocation guard as the target's global allocator.
#[macro_export]
macro_rules! use_guard {
    () => {
        #[global_allocator]
        static GUARD: $crate::Guard = $crate::Guard;
    };
}

/// The order schemas of `schemas/com.acme.orders`, every version: (file, text).
pub const ORDER_SCHEMAS: &[(&str, &str)] = &[
    (
        "OrderCreated/v1.avsc",
        include_str!("../../schemas/com.acme.orders/OrderCreated/v1.avsc"),
    ),
    (
        "OrderCreated/v2.avsc",
        include_str!("../../schemas/com.acme.orders/OrderCreated/v2.avsc"),
    ),
    (
        "ItemAdded/v1.avsc",
        include_str!("../../schemas/com.acme.orders/ItemAdded/v1.avsc"),
    ),
    (
        "OrderPaid/v1.avsc",
        include_str!("../../schemas/com.acme.orders/OrderPaid/v1.avsc"),
    ),
    (
        "OrderPaid/v2.avsc",
        include_str!("../../schemas/com.acme.orders/OrderPaid/v2.avsc"),
    ),
    (
        "OrderShipped/v1.avsc",
        include_str!("../../schemas/com.acme.orders/OrderShipped/v1.avsc"),
    ),
];
