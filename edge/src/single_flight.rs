//! Single-flight: callers that ask for the same key while a fetch for it is under way wait for
//! that fetch instead of starting their own, so fifty concurrent cache misses cost the origin
//! one request.
//!
//! A group lives in a `thread_local!` of the isolate (requests of one isolate share a thread).
//! The first caller's future is stored as a `Shared` future; later callers clone and await it,
//! and whichever caller polls it drives it. When it finishes it removes itself, so the next
//! miss after that starts a new fetch. `forget` drops flights early (a purchase made their
//! answer stale), and a flight only ever removes its own entry, not a newer one for its key.

use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
    future::Future,
    hash::Hash,
    thread::LocalKey,
};

use futures::future::{FutureExt, LocalBoxFuture, Shared};

type Flight<V> = Shared<LocalBoxFuture<'static, V>>;

#[derive(Debug)]
pub struct SingleFlight<K, V: Clone> {
    flights: RefCell<HashMap<K, (u64, Flight<V>)>>,
    next_id: Cell<u64>,
}

impl<K, V: Clone> Default for SingleFlight<K, V> {
    fn default() -> Self {
        Self {
            flights: RefCell::new(HashMap::new()),
            next_id: Cell::new(0),
        }
    }
}

impl<K: Eq + Hash + Clone + 'static, V: Clone + 'static> SingleFlight<K, V> {
    /// Drops every flight whose key matches, so the next caller starts afresh. Callers already
    /// waiting on a dropped flight still get its answer.
    pub fn forget(&self, mut matches: impl FnMut(&K) -> bool) {
        self.flights.borrow_mut().retain(|key, _| !matches(key));
    }

    fn finished(&self, key: &K, id: u64) {
        let mut flights = self.flights.borrow_mut();
        if flights.get(key).is_some_and(|(current, _)| *current == id) {
            flights.remove(key);
        }
    }
}

/// The answer for `key`: from the flight already under way, or from `start()` run as a new one.
pub async fn share<K, V, F>(
    group: &'static LocalKey<SingleFlight<K, V>>,
    key: K,
    start: impl FnOnce() -> F,
) -> V
where
    K: Eq + Hash + Clone + 'static,
    V: Clone + 'static,
    F: Future<Output = V> + 'static,
{
    let flight = group.with(|flights| {
        if let Some((_, flight)) = flights.flights.borrow().get(&key) {
            return flight.clone();
        }
        let id = flights.next_id.get();
        flights.next_id.set(id + 1);
        let work = start();
        let own_key = key.clone();
        let flight = async move {
            let value = work.await;
            group.with(|flights| flights.finished(&own_key, id));
            value
        }
        .boxed_local()
        .shared();
        flights
            .flights
            .borrow_mut()
            .insert(key, (id, flight.clone()));
        flight
    });
    flight.await
}

#[cfg(test)]
mod tests {
    use std::{cell::Cell, rc::Rc};

    use futures::{channel::oneshot, executor::LocalPool, task::LocalSpawnExt, FutureExt};

    use super::{share, SingleFlight};

    thread_local! {
        static GROUP: SingleFlight<&'static str, u32> = SingleFlight::default();
    }

    #[test]
    fn concurrent_callers_share_one_run_and_the_next_caller_starts_another() {
        let mut pool = LocalPool::new();
        let runs = Rc::new(Cell::new(0));
        let (release, released) = oneshot::channel::<u32>();
        let released = released.shared();
        let answers = Rc::new(Cell::new(0));
        for _ in 0..50 {
            let (runs, released, answers) = (runs.clone(), released.clone(), answers.clone());
            pool.spawner()
                .spawn_local(async move {
                    let value = share(&GROUP, "inventory", || async move {
                        runs.set(runs.get() + 1);
                        released.await.unwrap_or(0)
                    })
                    .await;
                    answers.set(answers.get() + value);
                })
                .unwrap();
        }
        pool.run_until_stalled();
        release.send(1).unwrap();
        pool.run();
        assert_eq!((runs.get(), answers.get()), (1, 50));

        let again = pool.run_until(share(&GROUP, "inventory", || async { 2 }));
        assert_eq!(again, 2);
    }

    #[test]
    fn a_forgotten_flight_is_not_joined_by_later_callers() {
        let mut pool = LocalPool::new();
        let (release, released) = oneshot::channel::<u32>();
        let first = pool
            .spawner()
            .spawn_local_with_handle(share(&GROUP, "item", || async move {
                released.await.unwrap_or(0)
            }))
            .unwrap();
        pool.run_until_stalled();
        GROUP.with(|group| group.forget(|key| *key == "item"));
        let second = pool.run_until(share(&GROUP, "item", || async { 9 }));
        release.send(3).unwrap();
        assert_eq!((pool.run_until(first), second), (3, 9));
    }
}
