//! Idleness and load (issue 16): an idle socket sleeps (its driver task is polled only when
//! something happens, never on a periodic tick); a slow consumer costs its own messages only
//! (PUB drops for it alone, PUSH waits at the high-water mark) with memory bounded; a ROUTER
//! serves 1,000 peers at once and many connect/disconnect cycles without leaking descriptors
//! or routing-table entries.

use std::time::{Duration, Instant};

use crate::peer::PeerOptions;
use crate::util::{is_handshake, msg, wait_event, within};
use crate::{Driver, Sock, SocketType};

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
