// rust_std.rs - a Rust program whose allocations all go through Rust's
// standard library: Vec growth (finish_grow), format! (format_inner) and
// Box::new. It prints its own truth, per function of the program:
// build_list makes 1 allocation and 2 growth reallocs per call (0 -> 4
// -> 8 -> 16 elements), make_name and make_box 1 per call. real_world.sh
// checks that these are the sites, not the library's functions.

// The optimizer must keep every allocation: each result goes through a
// volatile read (std::hint::black_box is newer than Debian 12's rustc).
#[inline(never)]
fn black_box<T>(x: T) -> T {
    let y = unsafe { std::ptr::read_volatile(&x) };
    std::mem::forget(x);
    y
}

#[inline(never)]
fn build_list(n: usize) -> Vec<u64> {
    let mut v = Vec::new();
    for i in 0..n {
        v.push(i as u64);
    }
    v
}

#[inline(never)]
fn make_name(i: usize) -> String {
    format!("name-{}", i)
}

#[inline(never)]
fn make_box(i: usize) -> Box<[u8; 48]> {
    Box::new([i as u8; 48])
}

fn main() {
    let n = 5000;
    let mut total = 0usize;
    for _ in 0..n {
        total += black_box(build_list(10)).len();
    }
    for i in 0..n {
        total += black_box(make_name(i)).len();
    }
    for i in 0..n {
        total += black_box(make_box(i))[0] as usize;
    }
    println!("truth build_list {}", 3 * n);
    println!("truth make_name {}", n);
    println!("truth make_box {}", n);
    println!("total {}", total);
}
