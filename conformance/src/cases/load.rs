//! Idleness and load (issue 16): an idle socket sleeps (its driver task is polled only when
//! something happens, never on a periodic tick); a slow consumer costs its own messages only
//! (PUB drops for it alone, PUSH waits at the high-water mark) with memory bounded; a ROUTER
//! serves 1,000 peers at once and many connect/disconnect cycles without leaking descriptors
//! or routing-table entries.

use std::cell::Cell;
use std::time::{Duration, Instant};

use bytes::Bytes;
use zmtp_async::Monitor;
use zmtp_proto::Frame;

use crate::cases::faults::{fill_to_hwm, FILL_SIZE};
use crate::peer::{Peer, PeerKind, PeerOptions};
use crate::util::{is_disconnect, is_handshake, join, msg, seq_msg, timeout, wait_event, within};
use crate::{Driver, Either, Error, Msg, Sock, SocketType};

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

// ---- a ROUTER at scale -----------------------------------------------------------------------

/// Descriptors open in the process (`/proc/self/fd`).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// How many more descriptors than before may be open once everything closed: other cases run
/// in the process at the same time (two test threads) and open their own (42 more were seen
/// in a full run, libzmq peers' contexts hold several each). A leak of one per connection
/// would show 1,000 or 10,000.
const FD_SLACK: usize = 200;

/// A bound ROUTER with `router_mandatory` (a message for an id it does not hold fails), and
/// its monitor.
async fn mandatory_router<D: Driver>() -> (Sock<D>, Monitor<D::Runtime>, String) {
    let mut options = PeerOptions::default().to_socket_options();
    options.router_mandatory = true;
    let router = D::socket(SocketType::Router, options);
    let mon = router.monitor();
    let ep = router.bind("tcp://127.0.0.1:*").await.expect("bind");
    (router, mon, ep)
}

/// A DEALER of ours connected to `ep`, named `dealer-N` for even `n`, unnamed (the ROUTER
/// makes up an id) for odd.
async fn dealer<D: Driver>(ep: &str, n: usize) -> Sock<D> {
    let mut options = PeerOptions::default().to_socket_options();
    options.linger = Some(Duration::ZERO);
    if n.is_multiple_of(2) {
        options.connection.routing_id = format!("dealer-{n}").into();
    }
    let d = D::socket(SocketType::Dealer, options);
    d.connect(ep).await.expect("connect");
    d
}

/// Every DEALER sends `[round, n]`; the ROUTER answers each `[round, n, "re"]` to the id it
/// came with; every DEALER gets its own answer. Returns the ids, by DEALER.
async fn router_round<D: Driver>(
    router: &Sock<D>,
    dealers: &[(usize, Sock<D>)],
    round: &str,
) -> Vec<Frame> {
    for (n, d) in dealers {
        d.send(msg(&[round, &n.to_string()])).await.expect("send");
    }
    let mut ids = vec![Frame::default(); dealers.len()];
    let first = dealers.first().map_or(0, |(n, _)| *n);
    for _ in dealers {
        let mut m = within::<D, _>(Duration::from_secs(20), "a DEALER's message", router.recv())
            .await
            .expect("recv");
        let id = m.pop_front().expect("an id");
        assert_eq!(m[0], round.as_bytes(), "{}: round", D::NAME);
        let n: usize = std::str::from_utf8(&m[1])
            .ok()
            .and_then(|s| s.parse().ok())
            .expect("a DEALER number");
        if n.is_multiple_of(2) {
            assert_eq!(
                id,
                format!("dealer-{n}").as_bytes(),
                "{}: a named id",
                D::NAME
            );
        }
        m.push(Bytes::from_static(b"re"));
        m.push_front(id.clone());
        router.send(m).await.expect("reply");
        ids[n - first] = id;
    }
    for (n, d) in dealers {
        let got = within::<D, _>(Duration::from_secs(20), "a reply", d.recv()).await;
        assert_eq!(
            got.expect("recv"),
            msg(&[round, &n.to_string(), "re"]),
            "{}: DEALER {n} got another's reply",
            D::NAME
        );
    }
    ids
}

/// Closes the DEALERs, waits for the ROUTER's `Disconnected` for each, and checks that the
/// ROUTER kept none of their ids: a message for each fails (`router_mandatory`).
async fn leave<D: Driver>(
    router: &Sock<D>,
    mon: &mut Monitor<D::Runtime>,
    dealers: Vec<(usize, Sock<D>)>,
    ids: &[Frame],
) {
    let n = dealers.len();
    for (_, d) in dealers {
        within::<D, _>(Duration::from_secs(5), "close", d.close()).await;
    }
    for _ in 0..n {
        wait_event::<D, _>(mon, Duration::from_secs(20), "Disconnected", is_disconnect).await;
    }
    for id in ids {
        let mut gone = msg(&["gone"]);
        gone.push_front(id.clone());
        let r = router.try_send(gone).map_err(|e| e.error);
        assert_eq!(
            r,
            Err(Error::Unroutable),
            "{}: the ROUTER still routes to {id:?} after its peer left",
            D::NAME
        );
    }
}

/// Waits (up to 10 s) until at most `limit` descriptors are open; returns how many are.
async fn fds_settle<D: Driver>(limit: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = open_fds();
        if n <= limit || Instant::now() >= deadline {
            return n;
        }
        D::sleep(Duration::from_millis(20)).await;
    }
}

/// Peers of [`router_thousand_peers`].
const PEERS: usize = 1000;

/// R3 at scale: 1,000 of our DEALERs (every other one named) connect to our ROUTER at once
/// and exchange two rounds of messages; each gets its own replies (named ids as given). Then
/// all leave: the ROUTER reports each `Disconnected`, routes to none of their ids any more
/// (`router_mandatory`), and the process's descriptors return to where they were (they
/// counted at least two per connection while the peers were there).
pub async fn router_thousand_peers<D: Driver>() {
    let fds_before = open_fds();
    let (router, mut mon, ep) = mandatory_router::<D>().await;
    let started = Instant::now();
    let mut dealers = Vec::with_capacity(PEERS);
    for n in 0..PEERS {
        dealers.push((n, dealer::<D>(&ep, n).await));
    }
    let ids = router_round::<D>(&router, &dealers, "one").await;
    let again = router_round::<D>(&router, &dealers, "two").await;
    assert_eq!(ids, again, "{}: the ids changed between rounds", D::NAME);
    let fds_peak = open_fds();
    let exchanged = started.elapsed();
    assert!(
        fds_peak + FD_SLACK >= fds_before + 2 * PEERS,
        "{}: {fds_peak} descriptors open with {PEERS} connections ({fds_before} before)",
        D::NAME
    );
    leave::<D>(&router, &mut mon, dealers, &ids).await;
    let fds_after = fds_settle::<D>(fds_before + FD_SLACK).await;
    eprintln!(
        "{}: {PEERS} peers: two rounds in {exchanged:?}; descriptors {fds_before} before, \
         {fds_peak} with the peers, {fds_after} after they left ({:?} in all)",
        D::NAME,
        started.elapsed()
    );
    assert!(
        fds_after <= fds_before + FD_SLACK,
        "{}: {fds_after} descriptors open after the peers left ({fds_before} before)",
        D::NAME
    );
    within::<D, _>(Duration::from_secs(5), "close", router.close()).await;
}

/// Connect/disconnect cycles in [`router_connect_cycles`] (3 s on tokio, debug build).
const CYCLES: usize = 10_000;

/// DEALERs connected at once in each batch of [`router_connect_cycles`].
const BATCH: usize = 50;

/// R3 under churn: our DEALERs come to our ROUTER in batches of 50 (every other one named,
/// each name used once), exchange a message each and leave, for 10,000 connections in
/// all. After each batch the ROUTER routes to none of the ids that left (`router_mandatory`);
/// at the end the descriptors are back to where they were, and the resident set has grown by
/// less than 64 MiB since the first batch.
pub async fn router_connect_cycles<D: Driver>() {
    let total = CYCLES;
    let fds_before = open_fds();
    let (router, mut mon, ep) = mandatory_router::<D>().await;
    let started = Instant::now();
    let mut rss_first = None;
    let mut n = 0;
    while n < total {
        let batch = BATCH.min(total - n);
        let mut dealers = Vec::with_capacity(batch);
        for k in n..n + batch {
            dealers.push((k, dealer::<D>(&ep, k).await));
        }
        let ids = router_round::<D>(&router, &dealers, "cycle").await;
        leave::<D>(&router, &mut mon, dealers, &ids).await;
        n += batch;
        rss_first.get_or_insert_with(rss_kib);
    }
    let took = started.elapsed();
    let fds_after = fds_settle::<D>(fds_before + FD_SLACK).await;
    let grew = rss_kib().saturating_sub(rss_first.unwrap_or_default());
    eprintln!(
        "{}: {total} connect/disconnect cycles in {took:?} ({:?} each); descriptors \
         {fds_before} before, {fds_after} after; RSS +{grew} KiB since the first batch",
        D::NAME,
        took / total.max(1) as u32
    );
    assert!(
        fds_after <= fds_before + FD_SLACK,
        "{}: {fds_after} descriptors open after {total} cycles ({fds_before} before)",
        D::NAME
    );
    assert!(
        grew < 64 * 1024,
        "{}: the resident set grew by {grew} KiB over {total} cycles",
        D::NAME
    );
    within::<D, _>(Duration::from_secs(5), "close", router.close()).await;
}
