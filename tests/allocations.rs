//! Heap allocations per request on the hottest paths, counted by an allocator wrapper, so a
//! change that brings per-request allocation back fails here (speed itself is measured in
//! `benches/`, not asserted). Counts are per thread: the dashboard runs on a current-thread
//! runtime in this thread, and other tests' threads are not counted.
#![allow(unsafe_code, clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Empty;
use taskdeck::{Dashboard, PasswordBackend, Role, Scheduler};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, size) }
    }
}

fn count() {
    // `try_with`: the thread-local may already be gone while a thread exits.
    let on = COUNTING.try_with(Cell::get).unwrap_or(false);
    if on {
        let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path).body(Empty::new()).unwrap()
}

/// Allocations made while answering `req` (the third time: caches and lazy statics warm).
fn allocations(
    rt: &tokio::runtime::Runtime,
    d: &Dashboard,
    req: impl Fn() -> Request<Empty<Bytes>>,
) -> (StatusCode, usize) {
    let mut last = (StatusCode::OK, 0);
    for _ in 0..3 {
        let r = req();
        ALLOCS.with(|a| a.set(0));
        COUNTING.with(|c| c.set(true));
        // Pinned here and handed over by reference: a debug build of tokio boxes a future
        // over 2 KiB that `block_on` is given by value, an allocation that is the test's, not
        // the dashboard's (`serve` boxes each request's future once, in every build).
        let fut = d.handle(r);
        let mut fut = std::pin::pin!(fut);
        let resp = rt.block_on(fut.as_mut());
        COUNTING.with(|c| c.set(false));
        last = (resp.status(), ALLOCS.with(Cell::get));
    }
    last
}

#[test]
fn hot_paths_allocate_little() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s = Scheduler::builder().build().unwrap();
    s.register("job", |_ctx: taskdeck::TaskContext| async { Ok(()) });
    let d = rt.block_on(async {
        let s = s.clone();
        let hash = PasswordBackend::hash("pw").unwrap();
        Dashboard::builder(s)
            .prefix("/dashboard")
            .auth(
                PasswordBackend::new()
                    .user("u", &hash, Role::Admin)
                    .unwrap(),
            )
            .secret(b"0123456789abcdef0123456789abcdef0123")
            .build()
            .unwrap()
    });
    let first = rt.block_on(d.handle(get("/dashboard/assets/app.css")));
    let etag = first.headers().get("etag").unwrap().clone();

    // Figures when this test was written: 5, 2 and 2 (13, 12 and 7 before the work on them).
    let (status, n) = allocations(&rt, &d, || get("/dashboard/tasks"));
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(n <= 5, "the sign-in redirect made {n} allocations");

    let (status, n) = allocations(&rt, &d, || get("/dashboard/health"));
    assert_eq!(status, StatusCode::OK);
    assert!(n <= 2, "/health made {n} allocations");

    let (status, n) = allocations(&rt, &d, || {
        let mut r = get("/dashboard/assets/app.css");
        r.headers_mut().insert("if-none-match", etag.clone());
        r
    });
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(n <= 2, "asset revalidation made {n} allocations");

    // The signed-in tasks page and its JSON twin, 50 rows of 60 tasks.
    rt.block_on(async {
        for i in 0..60 {
            let t = taskdeck::Task::new(format!("task-{i:02}"), "job")
                .every(std::time::Duration::from_secs(60 + i));
            s.add(t).await.unwrap();
        }
    });
    let login = Request::post("/dashboard/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .body(http_body_util::Full::new(Bytes::from_static(
            b"username=u&password=pw",
        )))
        .unwrap();
    let r = rt.block_on(d.handle(login));
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    // Kept rows (see the crate docs on performance) make a page's cost independent of its
    // rows: 50 rows allocate no more than 10 (whose pager links carry one more parameter).
    // Figures when written: 45 and 22 (173 and 75 before the work on them, growing with the
    // rows); the next page's cursor (the pager's link, `next_after`) added a few to each.
    let signed_in = |path: &str| {
        allocations(&rt, &d, || {
            let mut r = get(path);
            r.headers_mut().insert("cookie", cookie.parse().unwrap());
            r
        })
    };
    for (path, most) in [("/dashboard/tasks", 50), ("/dashboard/api/tasks", 28)] {
        let (status, n) = signed_in(path);
        assert_eq!(status, StatusCode::OK);
        assert!(n <= most, "{path} made {n} allocations");
        let (status, few) = signed_in(&format!("{path}?per_page=10"));
        assert_eq!(status, StatusCode::OK);
        assert!(
            n <= few,
            "{path}: 50 rows made {n} allocations, 10 rows {few}"
        );
    }
}
