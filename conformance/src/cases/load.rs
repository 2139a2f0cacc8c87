//! Idleness and load (issue 16): an idle socket sleeps (its driver task is polled only when
//! something happens, never on a periodic tick); a slow consumer costs its own messages only
//! (PUB drops for it alone, PUSH waits at the high-water mark) with memory bounded; a ROUTER
//! serves 1,000 peers at once and many connect/disconnect cycles without leaking descriptors
//! or routing-table entries.

use std::cell::Cell;
use std::time::{Duration, Instant};

use crate::cases::faults::{fill_to_hwm, FILL_SIZE};
use crate::peer::{Peer, PeerKind, PeerOptions};
use crate::util::{is_handshake, join, msg, seq_msg, timeout, wait_event, within};
use crate::{Driver, Either, Msg, Sock, SocketType};

// ---- idle sockets sleep ----------------------------------------------------------------------

/// How long the idle sockets are watched.
const IDLE: Duration = Duration::from_secs(2);

/// "An idle socket with no deadline wakes no more than twice in a second": a bound PULL with
/// no peer, and a PUSH connected to a PULL (no heartbeats, the handshake done, one message
/// delivered), left alone for 2 s while the application sleeps, are each polled by their
/// driver task at most twice per second ([`Sock::driver_polls`]). The counter counts: a
/// message arriving afterwards polls the receiving socket's driver.
pub async fn idle_sockets_sleep<D: Driver>() {
    let options = PeerOptions::default().to_socket_options();
    let lonely = D::socket(SocketType::Pull, options.clone());
    lonely.bind("tcp://127.0.0.1:*").await.expect("bind");
    let pull = D::socket(SocketType::Pull, options.clone());
    let ep = pull.bind("tcp://127.0.0.1:*").await.expect("bind");
    let push = D::socket(SocketType::Push, options);
    let mut mon = push.monitor();
    push.connect(&ep).await.expect("connect");
    wait_event::<D, _>(&mut mon, Duration::from_secs(5), "handshake", is_handshake).await;
    push.send(msg(&["hello"])).await.expect("send");
    let got = within::<D, _>(Duration::from_secs(5), "recv", pull.recv()).await;
    assert_eq!(got.expect("recv"), msg(&["hello"]));
    // Let whatever follows the exchange settle.
    D::sleep(Duration::from_millis(200)).await;

    let sockets: [(&str, &Sock<D>); 3] = [
        ("a bound PULL with no peer", &lonely),
        ("a bound PULL with one connection", &pull),
        ("a connected PUSH", &push),
    ];
    let before: Vec<u64> = sockets.iter().map(|(_, s)| s.driver_polls()).collect();
    let started = Instant::now();
    D::sleep(IDLE).await;
    let idle = started.elapsed();
    let limit = 2 * idle.as_secs().max(1);
    for ((what, s), before) in sockets.iter().zip(&before) {
        assert!(*before > 0, "{}: {what}: the counter never moved", D::NAME);
        let polls = s.driver_polls() - before;
        eprintln!(
            "{}: {what}: {polls} driver polls in {idle:?} ({:.2}/s)",
            D::NAME,
            polls as f64 / idle.as_secs_f64()
        );
        assert!(
            polls <= limit,
            "{}: {what}: {polls} driver polls in {idle:?} while idle (at most {limit})",
            D::NAME
        );
    }

    // The counter counts: a message arriving wakes the receiving socket's driver.
    let before = pull.driver_polls();
    push.send(msg(&["wake"])).await.expect("send");
    D::sleep(Duration::from_millis(100)).await;
    assert!(
        pull.driver_polls() > before,
        "{}: a message arrived without a driver poll",
        D::NAME
    );
    let got = within::<D, _>(Duration::from_secs(5), "recv", pull.recv()).await;
    assert_eq!(got.expect("recv"), msg(&["wake"]));
    for s in [lonely, pull, push] {
        within::<D, _>(Duration::from_secs(5), "close", s.close()).await;
    }
}

// ---- slow consumers --------------------------------------------------------------------------

/// The process's resident set, in KiB (`VmRSS` of `/proc/self/status`).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Messages the PUB sends in [`slow_subscriber_dropped_alone`].
const PUB_N: u64 = 10_000;

/// Their body: 16 KiB, shared (160 MB pass through the fast subscriber).
const PUB_BODY: usize = 16 * 1024;

/// How far the resident set may grow while a slow consumer is stalled: far less than what
/// passes (an unbounded queue for the stalled subscriber would hold most of 160 MB), and
/// generous, because the other cases running in the process at the same time count too.
const RSS_BOUND_KIB: u64 = 96 * 1024;

/// A message of [`slow_subscriber_dropped_alone`]: its number, then the shared body.
fn numbered(i: u64, body: &bytes::Bytes) -> Msg {
    [
        bytes::Bytes::copy_from_slice(&i.to_be_bytes()),
        body.clone(),
    ]
    .into_iter()
    .collect()
}

fn number(m: &Msg) -> u64 {
    u64::from_be_bytes(m[0][..8].try_into().expect("a message number"))
}

/// §1.12 (PUB: "drop per subscriber; never blocks"): our PUB (`sndhwm` 100) serves two
/// subscribers of `kind`; the slow one (`rcvhwm` 10) reads nothing while 10,000 messages of
/// 16 KiB go out; the fast one reads all along (the test paces the publisher so the fast one
/// is never more than 50 messages behind). No `send` of the PUB waits; the fast subscriber
/// gets every message, in order; the slow one, drained at the end, got an in-order subset with
/// gaps (the PUB dropped for it alone) and is still served. The resident set grows by less
/// than [`RSS_BOUND_KIB`].
async fn slow_subscriber_dropped_alone<D: Driver>(kind: PeerKind) {
    const BATCH: u64 = 50;
    let mut options = PeerOptions::default().to_socket_options();
    options.sndhwm = 100;
    let publ = D::socket(SocketType::Pub, options);
    let ep = publ.bind("tcp://127.0.0.1:*").await.expect("bind");
    let fast = Peer::<D>::new(kind, SocketType::Sub);
    let slow_options = PeerOptions {
        rcvhwm: Some(10),
        ..PeerOptions::default()
    };
    let slow = Peer::<D>::with(kind, SocketType::Sub, &slow_options);
    for sub in [&fast, &slow] {
        sub.subscribe(b"").await;
        sub.connect(&ep).await;
        // Until this subscriber has the probe (subscriptions travel asynchronously).
        let mut synced = false;
        for _ in 0..100 {
            publ.send(msg(&["sync"])).await.expect("send");
            if sub.recv_timeout(Duration::from_millis(100)).await.is_some() {
                synced = true;
                break;
            }
        }
        assert!(synced, "{}: the subscription never took effect", D::NAME);
    }
    for sub in [&fast, &slow] {
        for late in sub.drain(Duration::from_millis(100)).await {
            assert_eq!(late, msg(&["sync"]));
        }
    }

    let body = bytes::Bytes::from(vec![0x5a; PUB_BODY]);
    let rss_before = rss_kib();
    let rss_peak = Cell::new(rss_before);
    let received = Cell::new(0u64);
    let started = Instant::now();
    let publisher = async {
        for i in 0..PUB_N {
            if i % BATCH == 0 {
                // Pace: the fast subscriber catches up before the next batch.
                while received.get() < i {
                    D::sleep(Duration::from_millis(1)).await;
                }
                rss_peak.set(rss_peak.get().max(rss_kib()));
            }
            match D::race(
                publ.send(numbered(i, &body)),
                D::sleep(Duration::from_secs(1)),
            )
            .await
            {
                Either::Left(r) => r.expect("send"),
                Either::Right(()) => panic!("{}: PUB send {i} blocked", D::NAME),
            }
        }
    };
    let reader = async {
        for i in 0..PUB_N {
            let m = fast.recv().await;
            assert_eq!(
                (number(&m), m[1].len()),
                (i, PUB_BODY),
                "{}: the fast subscriber lost or reordered a message",
                D::NAME
            );
            received.set(i + 1);
        }
    };
    join(publisher, reader).await;
    let took = started.elapsed();
    let slow_got = slow.drain(Duration::from_millis(300)).await;
    let numbers: Vec<u64> = slow_got.iter().map(number).collect();
    let grew = rss_peak.get().saturating_sub(rss_before);
    eprintln!(
        "{}: {kind}: {PUB_N} messages of {PUB_BODY} B in {took:?}; the fast subscriber got \
         all; the stalled one {} (first {:?}, last {:?}); RSS {rss_before} KiB before, peak \
         +{grew} KiB",
        D::NAME,
        numbers.len(),
        numbers.first(),
        numbers.last()
    );
    assert!(
        !numbers.is_empty() && (numbers.len() as u64) < PUB_N,
        "{}: the stalled subscriber got {} of {PUB_N}: the PUB did not drop for it",
        D::NAME,
        numbers.len()
    );
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "{}: the stalled subscriber's messages are out of order",
        D::NAME
    );
    assert!(
        grew < RSS_BOUND_KIB,
        "{}: the resident set grew by {grew} KiB with a stalled subscriber",
        D::NAME
    );
    // Both are still served.
    publ.send(msg(&["end"])).await.expect("send");
    assert_eq!(fast.recv().await, msg(&["end"]));
    assert_eq!(slow.recv().await, msg(&["end"]));
    fast.close().await;
    slow.close().await;
    within::<D, _>(Duration::from_secs(5), "close", publ.close()).await;
}

/// §1.12 (PUSH: "block; SHALL NOT drop"): our PUSH (`sndhwm` 10) sends 64 KiB messages to a
/// PULL of `kind` (`rcvhwm` 10) that reads nothing, until it stays at the high-water mark; a
/// further `send` then waits (it has not completed 500 ms later) and the resident set has
/// grown by less than [`RSS_BOUND_KIB`]. Once the PULL reads, everything arrives, the waiting
/// message last, in order and none lost.
async fn slow_pull_blocks_push<D: Driver>(kind: PeerKind) {
    let pull_options = PeerOptions {
        rcvhwm: Some(10),
        ..PeerOptions::default()
    };
    let pull = Peer::<D>::with(kind, SocketType::Pull, &pull_options);
    let ep = pull.bind("tcp://127.0.0.1:*").await;
    let mut options = PeerOptions::default().to_socket_options();
    options.sndhwm = 10;
    let push = D::socket(SocketType::Push, options);
    push.connect(&ep).await.expect("connect");
    let rss_before = rss_kib();
    let n = fill_to_hwm::<D>(&push, 0).await;
    let blocked =
        timeout::<D, _>(Duration::from_millis(500), push.send(seq_msg(n, FILL_SIZE))).await;
    assert!(
        blocked.is_none(),
        "{}: send at the high-water mark completed: {blocked:?}",
        D::NAME
    );
    let grew = rss_kib().saturating_sub(rss_before);
    eprintln!(
        "{}: {kind}: PUSH at the high-water mark after {n} messages of {FILL_SIZE} B; RSS \
         +{grew} KiB",
        D::NAME
    );
    assert!(
        grew < RSS_BOUND_KIB,
        "{}: the resident set grew by {grew} KiB behind a stalled PULL",
        D::NAME
    );
    let (sent, ()) = join(
        within::<D, _>(
            Duration::from_secs(10),
            "the send that waited",
            push.send(seq_msg(n, FILL_SIZE)),
        ),
        pull.recv_seq(n + 1, FILL_SIZE, 0, Duration::ZERO),
    )
    .await;
    sent.expect("send");
    let extra = pull.drain(Duration::from_millis(100)).await;
    assert!(
        extra.is_empty(),
        "{}: {} extra messages",
        D::NAME,
        extra.len()
    );
    pull.close().await;
    within::<D, _>(Duration::from_secs(5), "close", push.close()).await;
}

/// Slow consumers of our PUB and PUSH: our own SUBs and PULL.
pub async fn slow_consumer_ours<D: Driver>() {
    slow_subscriber_dropped_alone::<D>(PeerKind::Ours).await;
    slow_pull_blocks_push::<D>(PeerKind::Ours).await;
}

/// Slow consumers of our PUB and PUSH: libzmq SUBs and PULL.
pub async fn slow_consumer_libzmq<D: Driver>() {
    slow_subscriber_dropped_alone::<D>(PeerKind::Libzmq).await;
    slow_pull_blocks_push::<D>(PeerKind::Libzmq).await;
}
