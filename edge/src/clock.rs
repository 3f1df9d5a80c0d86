//! Wall-clock milliseconds as the Workers runtime gives them. `std::time` has no clock on
//! `wasm32-unknown-unknown`; `Date.now()` does, and workerd advances it only across I/O, which
//! is all the precision the caches and the limiter need.

pub fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}
