//! Single-flight: callers that ask for the same key while a fetch for it is under way wait for
//! that fetch instead of starting their own, so fifty concurrent cache misses cost the origin
//! one request.
//!
//! A group lives in a `thread_local!` of the isolate (requests of one isolate share a thread).
//! The first caller leads: it runs the fetch in its own request and puts the answer in a slot.
//! The others look at the slot on ticks of a timer of their own (`worker_ticks`) instead of
//! being woken by the leader, because workerd ties everything a request does to that request:
//! a waiter woken from the leader's request would build its response in the wrong request
//! ("Cannot perform I/O on behalf of a different request"), and a waiter with no pending work
//! of its own is cancelled as hung. If the leader goes away without an answer (its client
//! disconnected), a waiter takes over. `forget` makes later callers start afresh while those
//! already waiting still get the answer under way.

use std::{
    cell::RefCell, collections::HashMap, future::Future, hash::Hash, rc::Rc, time::Duration,
};

use std::thread::LocalKey;

/// A waiting caller's first look comes after `FIRST_TICK`; each pause doubles up to `LAST_TICK`,
/// so a short fetch is noticed at once and hundreds of callers waiting on a slow one stay cheap.
const FIRST_TICK: Duration = Duration::from_millis(1);
const LAST_TICK: Duration = Duration::from_millis(16);

#[derive(Debug)]
enum Slot<V> {
    Pending,
    Ready(V),
    Abandoned,
}

type SharedSlot<V> = Rc<RefCell<Slot<V>>>;

#[derive(Debug)]
pub struct SingleFlight<K, V> {
    flights: RefCell<HashMap<K, SharedSlot<V>>>,
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        Self {
            flights: RefCell::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V> SingleFlight<K, V> {
    /// Lets later callers for matching keys start a new flight. Callers already waiting still
    /// get the answer of the flight they joined.
    pub fn forget(&self, mut matches: impl FnMut(&K) -> bool) {
        self.flights.borrow_mut().retain(|key, _| !matches(key));
    }

    fn close(&self, key: &K, slot: &SharedSlot<V>, outcome: Slot<V>) {
        *slot.borrow_mut() = outcome;
        let mut flights = self.flights.borrow_mut();
        if flights.get(key).is_some_and(|open| Rc::ptr_eq(open, slot)) {
            flights.remove(key);
        }
    }
}

/// The timer a waiting caller ticks on inside the Worker: 1, 2, 4, 8, then every 16 ms.
pub fn worker_ticks() -> impl FnMut() -> worker::Delay {
    let mut next = FIRST_TICK;
    move || {
        let pause = next;
        next = (next * 2).min(LAST_TICK);
        worker::Delay::from(pause)
    }
}

/// Marks the leader's slot abandoned if the leader is dropped before it answers.
struct Lead<K: Eq + Hash + 'static, V: 'static> {
    group: &'static LocalKey<SingleFlight<K, V>>,
    key: K,
    slot: SharedSlot<V>,
}

impl<K: Eq + Hash + 'static, V: 'static> Drop for Lead<K, V> {
    fn drop(&mut self) {
        if matches!(*self.slot.borrow(), Slot::Pending) {
            self.group
                .with(|group| group.close(&self.key, &self.slot, Slot::Abandoned));
        }
    }
}

/// The answer for `key`: the one a flight under way produces, or `start()`'s as a new flight.
/// `tick` is what a waiting caller sleeps on between looks (`worker_ticks()` in the Worker).
pub async fn share<K, V, F, T>(
    group: &'static LocalKey<SingleFlight<K, V>>,
    key: K,
    start: impl FnOnce() -> F,
    mut tick: impl FnMut() -> T,
) -> V
where
    K: Eq + Hash + Clone + 'static,
    V: Clone + 'static,
    F: Future<Output = V>,
    T: Future<Output = ()>,
{
    while let Some(slot) = group.with(|group| group.flights.borrow().get(&key).cloned()) {
        loop {
            match &*slot.borrow() {
                Slot::Ready(value) => return value.clone(),
                Slot::Abandoned => break,
                Slot::Pending => {}
            }
            tick().await;
        }
    }
    let slot = Rc::new(RefCell::new(Slot::Pending));
    group.with(|group| group.flights.borrow_mut().insert(key.clone(), slot.clone()));
    let lead = Lead { group, key, slot };
    let value = start().await;
    group.with(|group| group.close(&lead.key, &lead.slot, Slot::Ready(value.clone())));
    value
}

#[cfg(test)]
mod tests {
    use std::{
        cell::Cell,
        future::Future,
        pin::Pin,
        rc::Rc,
        task::{Context, Poll},
    };

    use futures::{channel::oneshot, executor::LocalPool, task::LocalSpawnExt, FutureExt};

    use super::{share, SingleFlight};

    thread_local! {
        static GROUP: SingleFlight<&'static str, u32> = SingleFlight::default();
    }

    /// Yields to the executor once, like a short timer.
    #[derive(Default)]
    struct Yield(bool);

    impl Future for Yield {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                self.0 = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
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
                    let tick = {
                        let released = released.clone();
                        move || released.clone().then(|_| Yield::default())
                    };
                    let start = || async move {
                        runs.set(runs.get() + 1);
                        released.await.unwrap_or(0)
                    };
                    let value = share(&GROUP, "inventory", start, tick).await;
                    answers.set(answers.get() + value);
                })
                .unwrap();
        }
        pool.run_until_stalled();
        release.send(1).unwrap();
        pool.run();
        assert_eq!((runs.get(), answers.get()), (1, 50));

        let again = pool.run_until(share(&GROUP, "inventory", || async { 2 }, Yield::default));
        assert_eq!(again, 2);
    }

    #[test]
    fn a_forgotten_flight_is_not_joined_by_later_callers() {
        let mut pool = LocalPool::new();
        let (release, released) = oneshot::channel::<u32>();
        let start = || async move { released.await.unwrap_or(0) };
        let first = pool
            .spawner()
            .spawn_local_with_handle(share(&GROUP, "item", start, Yield::default))
            .unwrap();
        pool.run_until_stalled();
        GROUP.with(|group| group.forget(|key| *key == "item"));
        let second = pool.run_until(share(&GROUP, "item", || async { 9 }, Yield::default));
        release.send(3).unwrap();
        assert_eq!((pool.run_until(first), second), (3, 9));
    }

    #[test]
    fn a_waiter_takes_over_when_the_leader_goes_away() {
        let mut pool = LocalPool::new();
        let (_never_sent, never) = oneshot::channel::<u32>();
        let leader = pool
            .spawner()
            .spawn_local_with_handle(share(
                &GROUP,
                "list",
                || async move { never.await.unwrap_or(0) },
                Yield::default,
            ))
            .unwrap();
        pool.run_until_stalled();
        let (open_gate, gate) = oneshot::channel::<()>();
        let gate = gate.shared();
        let tick = move || gate.clone().map(drop);
        let waiter = pool
            .spawner()
            .spawn_local_with_handle(share(&GROUP, "list", || async { 5 }, tick))
            .unwrap();
        pool.run_until_stalled();
        drop(leader);
        open_gate.send(()).unwrap();
        assert_eq!(pool.run_until(waiter), 5);
    }
}
