//! The database's primary fails in the middle of a flash sale: Patroni elects another node,
//! HAProxy routes writes to it, and no purchase answered `201` is lost (synchronous
//! replication). The scenario is `e2e::failover_sale`, the one `bench failover` runs longer.
//!
//! About 60 s on this 2-core machine: the HA stack and the product start in about 20 s, the
//! sale runs 3 s, the failover takes about 3 s, the sale runs 3 s more, the old primary
//! rejoins, then one etcd member is killed and sales go on for 12 s, then HAProxy is restarted.
//! The full-disk test takes about 40 s: its own stack, each node's data on a tmpfs of its own.
//! The frozen-node test (a split-brain attempt) takes about 70 s, a third of it the woken node's
//! rewind and rejoin.

use std::time::Duration;

use e2e::{
    clusters::ThrowawayCluster,
    failover_sale::{run_phase, Fault, HaStack, PhaseOptions},
    ha_cluster::DataDisks,
    origin_server::metric_value,
    ports, OriginConfig, OriginProcess, TestKeys,
};

/// The failover budget: Patroni's ttl 10 s, loop_wait 2 s, retry_timeout 3 s, and the
/// origin's and the Worker's way back (docs/operations.md). Measured 3.1 to 3.7 s for a
/// killed postmaster; the bound leaves room for a busy machine.
const FAILOVER_BUDGET: Duration = Duration::from_secs(25);

fn options() -> PhaseOptions {
    PhaseOptions {
        shoppers: 8,
        before: Duration::from_secs(3),
        after: Duration::from_secs(3),
        give_up: Duration::from_secs(60),
    }
}

async fn metrics(origin: &OriginProcess) -> String {
    reqwest::get(format!("{}/metrics", origin.ops_url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "takes the whole machine: scripts/test runs it alone, after the suite"]
async fn a_sale_loses_no_acknowledged_order_when_the_primary_is_killed() {
    let stack = HaStack::start(1_000_000).await;

    let killed = run_phase(&stack, Fault::KillPostmaster, options()).await;
    println!("{}", killed.lines().join("\n"));
    assert_eq!(killed.violations(), Vec::<String>::new());
    assert!(killed.acknowledged > 0);
    assert!(killed.to_first_sale.unwrap() <= FAILOVER_BUDGET);
    assert!(
        killed.old_leader_rejoined_after.is_some(),
        "the killed primary rejoined by itself"
    );
    // The origin tells which node it writes to now, and that it reconnected.
    let text = metrics(&stack.origin).await;
    let new_port = stack.ha.pg_ports[e2e::ha_cluster::NODES
        .iter()
        .position(|n| *n == killed.new_leader)
        .unwrap()];
    let series = format!("origin_db_server{{server=\"127.0.0.1:{new_port}\",role=\"primary\"}}");
    assert_eq!(metric_value(&text, &series), Some(1.0), "{text}");
    assert!(metric_value(&text, "origin_db_connections_opened_total").unwrap() > 1.0);

    // etcd loses one member of three: the majority keeps Patroni's leader key, so the leader
    // stays and sales go on.
    let leader = stack.ha.leader().await.unwrap();
    assert!(stack.ha.kill_etcd_member(0), "an etcd member to kill");
    let after_etcd_loss = run_phase_without_fault(&stack).await;
    assert_eq!(stack.ha.leader().await.as_deref(), Some(leader.as_str()));
    assert!(after_etcd_loss > 0, "sales went on with two etcd members");

    // HAProxy restarted: every connection through it is cut; the origin's pools reconnect and
    // sales go on without an origin restart.
    stack.ha.restart_haproxy().await;
    let restarted = std::time::Instant::now();
    e2e::wait::until(
        Duration::from_secs(20),
        "a sale after HAProxy restarted",
        || async {
            let token = stack.keys.token(
                stack.shop.org_id,
                api::token::Role::Shopper,
                "after-haproxy-restart",
            );
            let response = stack
                .edge
                .buy(&stack.shop.domain, &token, stack.item_id, 1)
                .header("cf-connecting-ip", "2001:db8:dddd::1")
                .send()
                .await
                .ok()?;
            let status = response.status().as_u16();
            assert!(matches!(status, 201 | 503), "{status}");
            (status == 201).then_some(())
        },
    )
    .await;
    println!(
        "HAProxy restarted: first 201 after {:.1} s",
        restarted.elapsed().as_secs_f64()
    );
}

/// The leader's whole node freezes mid-sale (`SIGSTOP`, as a partition looks): its leader key
/// expires, the synchronous standby takes over, and sales resume with nothing acknowledged
/// lost. Woken once another node sells, the old primary must not take writes (a split-brain
/// attempt): a write sent straight to it is refused, and it rejoins as a replica.
#[tokio::test]
#[ignore = "not in scripts/test yet: sales come back 11 to 28 s after the freeze, the cause unknown (docs/performance.md)"]
async fn a_sale_loses_no_acknowledged_order_when_the_primary_freezes() {
    let stack = HaStack::start(1_000_000).await;

    let frozen = run_phase(&stack, Fault::FreezeNode, options()).await;
    println!("{}", frozen.lines().join("\n"));
    assert_eq!(frozen.violations(), Vec::<String>::new());
    assert!(frozen.acknowledged > 0);
    assert!(frozen.to_first_sale.unwrap() <= FAILOVER_BUDGET);
    let write = frozen.old_primary_write.as_deref().unwrap_or_default();
    assert!(!write.starts_with("committed"), "{write}");
    assert!(
        frozen.old_leader_rejoined_after.is_some(),
        "the woken primary rejoined by itself"
    );
}

/// The leader's disk fills mid-sale. While its Postgres runs it refuses what needs new space,
/// and shoppers get `503` with `Retry-After`, never a `500`; once its WAL needs a segment it
/// cannot create it stops, Patroni fails over, and sales resume on the synchronous standby
/// with nothing acknowledged lost; with its disk freed the old primary rejoins.
#[tokio::test]
#[ignore = "takes the whole machine: scripts/test runs it alone, after the suite"]
async fn a_sale_loses_no_acknowledged_order_when_the_primary_disk_fills() {
    let stack = HaStack::start_with(1_000_000, DataDisks::OwnTmpfs { mib: 1024 }).await;

    let full = run_phase(&stack, Fault::DiskFull, options()).await;
    println!("{}", full.lines().join("\n"));
    assert_eq!(full.violations(), Vec::<String>::new());
    assert!(full.acknowledged > 0);
    assert!(
        full.while_down.get(&503).copied().unwrap_or(0) > 0,
        "shoppers were told to come back while the disk was full: {:?}",
        full.while_down
    );
    assert!(full.to_first_sale.unwrap() <= FAILOVER_BUDGET);
    assert!(
        full.old_leader_rejoined_after.is_some(),
        "the old primary rejoined once its disk was freed"
    );
}

/// Buys through the Worker for longer than Patroni's ttl (10 s); returns the 201s.
async fn run_phase_without_fault(stack: &HaStack) -> usize {
    let until = std::time::Instant::now() + Duration::from_secs(12);
    let mut sold = 0;
    while std::time::Instant::now() < until {
        // Each purchase a different shopper, as in a sale (one client's write budget is small).
        let token = stack.keys.token(
            stack.shop.org_id,
            api::token::Role::Shopper,
            &format!("after-etcd-loss-{sold}"),
        );
        // A connection the cluster cut (a node rejoining, a member restarting) fails its one
        // transaction with a 503 and Retry-After; the shopper retries with the same key.
        let request = stack
            .edge
            .buy(&stack.shop.domain, &token, stack.item_id, 1)
            .header("cf-connecting-ip", format!("2001:db8:eeee:{sold:x}::1"));
        let mut status = 0;
        for _ in 0..5 {
            let response = request.try_clone().unwrap().send().await.unwrap();
            status = response.status().as_u16();
            let body = response.text().await.unwrap();
            assert!(matches!(status, 201 | 503), "{status}: {body}");
            if status == 201 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert_eq!(status, 201, "a sale within five tries");
        sold += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sold
}

#[tokio::test]
async fn an_origin_started_before_its_database_waits_not_ready_then_serves() {
    let port = ports::free_port();
    let keys = TestKeys::new();
    let config = OriginConfig {
        database_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        jwks: keys.public_jwks(),
        env: Vec::new(),
    };
    let mut origin = OriginProcess::spawn_on(ports::free_port(), ports::free_port(), &config);
    let http = reqwest::Client::new();
    let healthz = format!("{}/healthz", origin.ops_url);
    e2e::wait::until(Duration::from_secs(30), "the origin listening", || async {
        http.get(&healthz).send().await.ok().map(drop)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(origin.is_running(), "the origin did not exit");
    let live = http.get(&healthz).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let ready = http
        .get(format!("{}/readyz", origin.ops_url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let api = http
        .get(format!(
            "{}/api/tenant/00000000-0000-0000-0000-000000000000/inventory",
            origin.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 503);
    assert!(api.headers().contains_key("retry-after"));
    assert_eq!(
        api.headers()["content-type"],
        "application/problem+json",
        "a problem+json refusal"
    );

    // The database comes up where the origin looks: it migrates and becomes ready by itself.
    let _cluster = ThrowawayCluster::primary_on(port).unwrap();
    origin.wait_ready().await;
    assert!(origin.is_running());
}
