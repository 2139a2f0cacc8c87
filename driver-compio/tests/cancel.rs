//! Cancel safety: `recv()` and `send()` futures raced against short timers and dropped when
//! they lose, under load. Nothing may be lost, duplicated or reordered: the futures own no
//! I/O operation (those live in the driver task), so dropping one cancels nothing in the
//! kernel.
#![allow(missing_docs)] // reason: test crate

use std::pin::pin;
use std::time::{Duration, Instant};

use compio::time::{sleep, timeout};
use driver_compio::{Msg, Socket, SocketOptions, SocketType};
use futures_util::future::{select, Either};

/// A sequence-numbered message of `size` bytes.
fn seq(i: u64, size: usize) -> Msg {
    let mut body = i.to_be_bytes().to_vec();
    body.resize(size, 0xA5);
    Msg::from(body)
}

fn seq_of(m: &Msg, size: usize) -> u64 {
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].len(), size);
    assert!(m[0][8..].iter().all(|&b| b == 0xA5), "corrupted body");
    u64::from_be_bytes(m[0][..8].try_into().unwrap())
}

/// A cheap pseudo-random sequence for the timer lengths.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Half the time a timer of zero (it wins whenever the other side is not ready at once),
/// half the time 0–300 µs.
async fn short_timer(rng: &mut Lcg) {
    let d = if rng.below(2) == 0 {
        Duration::ZERO
    } else {
        Duration::from_micros(rng.below(300))
    };
    sleep(d).await;
}

#[compio::test]
async fn recv_raced_against_a_timer_loses_nothing() {
    const N: u64 = 30_000;
    let pull = Socket::new(SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    let sender = compio::runtime::spawn(async move {
        for i in 0..N {
            push.send(seq(i, 24)).await.unwrap();
            if i % 64 == 63 {
                // Pauses make the receiver wait, so that the timer often wins.
                sleep(Duration::from_micros(200)).await;
            }
        }
        push
    });
    let mut rng = Lcg(7);
    let (mut next, mut cancelled) = (0, 0u64);
    let deadline = Instant::now() + Duration::from_secs(60);
    while next < N {
        assert!(Instant::now() < deadline, "only {next} of {N} received");
        let recv = pin!(pull.recv());
        let timer = pin!(short_timer(&mut rng));
        match select(recv, timer).await {
            Either::Left((m, _)) => {
                assert_eq!(seq_of(&m.unwrap(), 24), next, "lost or reordered");
                next += 1;
            }
            Either::Right(((), _)) => cancelled += 1,
        }
    }
    eprintln!("{cancelled} receives cancelled");
    assert!(cancelled > 100, "the timer won only {cancelled} times");
    let push = sender.await.unwrap();
    sleep(Duration::from_millis(50)).await;
    assert_eq!(pull.try_recv().unwrap(), None, "a message was duplicated");
    push.close().await;
    pull.close().await;
}

#[compio::test]
async fn send_raced_against_a_timer_at_the_hwm_loses_nothing() {
    const N: u64 = 20_000;
    const SIZE: usize = 1024;
    let mut small = SocketOptions::default();
    small.sndhwm = 10;
    small.rcvhwm = 10;
    let pull = Socket::with_options(SocketType::Pull, small.clone());
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let push = Socket::with_options(SocketType::Push, small);
    push.connect(&ep).await.unwrap();
    // A slow receiver keeps the sender at its high-water mark.
    let receiver = compio::runtime::spawn(async move {
        for i in 0..N {
            let m = timeout(Duration::from_secs(10), pull.recv())
                .await
                .expect("receiver starved")
                .unwrap();
            assert_eq!(seq_of(&m, SIZE), i, "lost or reordered");
            if i % 100 == 99 {
                sleep(Duration::from_millis(1)).await;
            }
        }
        let extra = timeout(Duration::from_millis(200), pull.recv()).await;
        assert!(extra.is_err(), "a message was duplicated: {extra:?}");
        pull
    });
    let mut rng = Lcg(11);
    let (mut i, mut cancelled) = (0, 0u64);
    let deadline = Instant::now() + Duration::from_secs(60);
    while i < N {
        assert!(Instant::now() < deadline, "only {i} of {N} sent");
        let send = pin!(push.send(seq(i, SIZE)));
        let timer = pin!(short_timer(&mut rng));
        match select(send, timer).await {
            Either::Left((r, _)) => {
                r.unwrap();
                i += 1;
            }
            // Dropped: the message was not queued, so the same number goes again.
            Either::Right(((), _)) => cancelled += 1,
        }
    }
    eprintln!("{cancelled} sends cancelled");
    assert!(cancelled > 10, "the timer won only {cancelled} times");
    let pull = receiver.await.unwrap();
    push.close().await;
    pull.close().await;
}
