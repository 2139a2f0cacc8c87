//! Cancel safety: `recv()` raced against a short timer under load, and `send()` raced against
//! a timer at the high-water mark, in a loop; whichever loses is dropped. No message may be
//! lost, duplicated or corrupted (design notes, "Cancel safety falls out of the same design").
//!
//! The race is [`Driver::race`] (the tokio instance uses `tokio::select!`); one case uses the
//! runtime-agnostic [`util::select`](crate::util::select) explicitly.

use std::time::{Duration, Instant};

use futures_util::future::Either;

use crate::peer::{Peer, PeerKind, PeerOptions};
use crate::util::{check_seq, join, select, seq_frame, seq_msg, yield_now, Rng};
use crate::{Driver, Msg, SendError, Sock, SocketType};

/// Messages in the receive race.
const RECV_N: u64 = 20_000;
/// Messages in the send race.
const SEND_N: u64 = 2_000;
/// Their size: 16 MB in all, far more than the kernel's socket buffers hold, so the sender
/// really sits at its high-water mark.
const SEND_SIZE: usize = 8 * 1024;
const SIZE: usize = 24;

/// A short timer: half the time a bare yield (cancels whatever is not ready at once), half
/// the time a sleep of 0–500 µs.
async fn short_timer<D: Driver>(rng: &mut Rng) {
    if rng.below(2) == 0 {
        yield_now().await;
    } else {
        D::sleep(Duration::from_micros(rng.below(500))).await;
    }
}

/// Receives `RECV_N` sequence messages on `sock`, each `recv()` raced against a short timer
/// (with [`Driver::race`], or [`select`] if `portable`). Returns how many receives were
/// cancelled.
async fn recv_racing<D: Driver>(sock: &Sock<D>, portable: bool) -> u64 {
    let mut rng = Rng::new();
    let mut next = 0;
    let mut cancelled = 0;
    let deadline = Instant::now() + Duration::from_secs(40);
    while next < RECV_N {
        assert!(
            Instant::now() < deadline,
            "{}: only {next} of {RECV_N} received",
            D::NAME
        );
        let mut timer_rng = rng.clone();
        rng.next_u64();
        let timer = async move { short_timer::<D>(&mut timer_rng).await };
        let won = if portable {
            select(sock.recv(), timer).await
        } else {
            D::race(sock.recv(), timer).await
        };
        match won {
            Either::Left(Ok(m)) => {
                if let Err(e) = check_seq(&m, next, SIZE) {
                    panic!("{}: after {cancelled} cancelled receives: {e}", D::NAME);
                }
                next += 1;
            }
            Either::Left(Err(e)) => panic!("{}: recv failed: {e}", D::NAME),
            Either::Right(()) => cancelled += 1,
        }
    }
    cancelled
}

async fn assert_nothing_more<D: Driver>(sock: &Sock<D>) {
    D::sleep(Duration::from_millis(100)).await;
    let extra = sock.try_recv().expect("try_recv");
    assert!(extra.is_none(), "a message was duplicated: {extra:?}");
}

async fn cancel_recv<D: Driver>(kind: PeerKind, portable: bool) {
    let pull = D::socket(SocketType::Pull, PeerOptions::default().to_socket_options());
    let ep = pull.bind("tcp://127.0.0.1:*").await.expect("bind");
    let push = Peer::<D>::new(kind, SocketType::Push);
    push.connect(&ep).await;
    let receive = recv_racing::<D>(&pull, portable);
    // Bursts with short gaps: the receiver alternates between a full queue and an empty one,
    // so both outcomes of the race happen often.
    let send = push.send_seq_paced(RECV_N, SIZE, 500, Duration::from_millis(2));
    let ((), cancelled) = join(send, receive).await;
    eprintln!("{cancelled} receives cancelled");
    assert!(
        cancelled > 0,
        "the timer never won: the case proved nothing"
    );
    assert_nothing_more::<D>(&pull).await;
    push.close().await;
    pull.close().await;
}

/// `recv()` raced against a timer while our PUSH floods it.
pub async fn cancel_recv_ours<D: Driver>() {
    cancel_recv::<D>(PeerKind::Ours, false).await;
}

/// `recv()` raced against a timer while libzmq floods it.
pub async fn cancel_recv_libzmq<D: Driver>() {
    cancel_recv::<D>(PeerKind::Libzmq, false).await;
}

/// `recv()` raced with the runtime-agnostic `select` (built on `poll_fn`).
pub async fn cancel_recv_portable_select<D: Driver>() {
    cancel_recv::<D>(PeerKind::Ours, true).await;
}

/// Messages sent with `send_slice` in the send race: below the zero-copy threshold, so they
/// take the direct path into the coalescing buffer when the peer's queue is empty.
const SLICE_SIZE: usize = 4 * 1024;

/// `send()` (or, with `sliced`, `send_slice()`) raced against a timer at the high-water mark.
async fn cancel_send<D: Driver>(kind: PeerKind, sliced: bool) {
    let (count, size) = if sliced {
        (2 * SEND_N, SLICE_SIZE)
    } else {
        (SEND_N, SEND_SIZE)
    };
    let small = PeerOptions {
        sndhwm: Some(10),
        rcvhwm: Some(10),
        ..PeerOptions::default()
    };
    let pull = Peer::<D>::with(kind, SocketType::Pull, &small);
    let ep = pull.bind("tcp://127.0.0.1:*").await;
    let push = D::socket(SocketType::Push, small.to_socket_options());
    push.connect(&ep).await.expect("connect");
    let send = async {
        let mut rng = Rng::new();
        let mut cancelled = 0u64;
        let mut i = 0;
        let deadline = Instant::now() + Duration::from_secs(40);
        while i < count {
            assert!(Instant::now() < deadline, "only {i} of {count} sent");
            let mut timer_rng = rng.clone();
            rng.next_u64();
            let timer = async move { short_timer::<D>(&mut timer_rng).await };
            let body = seq_frame(i, size);
            let sending = async {
                if sliced {
                    push.send_slice(&body).await
                } else {
                    push.send(Msg::from(body.clone())).await
                }
            };
            match D::race(sending, timer).await {
                Either::Left(Ok(())) => i += 1,
                Either::Left(Err(e)) => panic!("{}: send failed: {e}", D::NAME),
                // Dropped: the message was not queued; the same number goes again.
                Either::Right(()) => cancelled += 1,
            }
        }
        cancelled
    };
    // The receiver is slow: it starts late and pauses 5 ms every 100 messages, so the sender
    // sits at its HWM.
    let recv = async {
        D::sleep(Duration::from_millis(200)).await;
        pull.recv_seq(count, size, 100, Duration::from_millis(5))
            .await;
    };
    let (cancelled, ()) = join(send, recv).await;
    eprintln!("{cancelled} sends cancelled");
    assert!(
        cancelled > 0,
        "the timer never won: the case proved nothing"
    );
    // Nothing after the last one (no duplicate was queued by a cancelled send).
    let extra = pull.recv_timeout(Duration::from_millis(200)).await;
    assert!(extra.is_none(), "a message was duplicated: {extra:?}");
    push.close().await;
    pull.close().await;
}

/// `send()` raced against a timer at the HWM, to our PULL.
pub async fn cancel_send_at_hwm_ours<D: Driver>() {
    cancel_send::<D>(PeerKind::Ours, false).await;
}

/// `send()` raced against a timer at the HWM, to libzmq.
pub async fn cancel_send_at_hwm_libzmq<D: Driver>() {
    cancel_send::<D>(PeerKind::Libzmq, false).await;
}

/// `send_slice()` raced against a timer at the HWM, to our PULL.
pub async fn cancel_send_slice_at_hwm_ours<D: Driver>() {
    cancel_send::<D>(PeerKind::Ours, true).await;
}

/// `send_slice()` raced against a timer at the HWM, to libzmq.
pub async fn cancel_send_slice_at_hwm_libzmq<D: Driver>() {
    cancel_send::<D>(PeerKind::Libzmq, true).await;
}

/// `try_send` at the HWM hands the message back untouched; everything accepted is delivered
/// once the peer appears, followed by the message handed back and sent again.
pub async fn try_send_at_hwm_hands_back<D: Driver>() {
    let mut opts = PeerOptions::default().to_socket_options();
    opts.sndhwm = 5;
    let push = D::socket(SocketType::Push, opts);
    let ep = crate::util::free_tcp_endpoint();
    push.connect(&ep).await.expect("connect");
    let mut accepted = 0;
    let refused = loop {
        match push.try_send(seq_msg(accepted, SIZE)) {
            Ok(()) => accepted += 1,
            Err(SendError { error, msg }) => {
                assert_eq!(error, crate::Error::WouldBlock, "refusal reason");
                break msg;
            }
        }
        assert!(
            accepted <= 1000,
            "no high-water mark: {accepted} messages accepted"
        );
    };
    assert_eq!(
        refused,
        seq_msg(accepted, SIZE),
        "the refused message comes back intact"
    );
    assert!(accepted >= 5, "HWM 5 accepted only {accepted}");
    let pull = Peer::<D>::new(PeerKind::Ours, SocketType::Pull);
    pull.bind(&ep).await;
    crate::util::within::<D, _>(
        Duration::from_secs(10),
        "send after HWM",
        push.send(refused),
    )
    .await
    .expect("send");
    pull.recv_seq(accepted + 1, SIZE, 0, Duration::ZERO).await;
    push.close().await;
    pull.close().await;
}
