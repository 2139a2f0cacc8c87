//! Heap allocations of an `inproc://` pair on one thread, counted by a global allocator: once
//! warm, moving small messages costs no allocation per message (the message is built inline,
//! moved whole through the connection's queue and the pipe, whose buffers circulate; waking
//! the peer allocates nothing), for both drivers, streaming and in round trips.
#![allow(missing_docs)]
// reason: test crate

use futures_util::future::join;
use zmtp_async::{Runtime, Socket};
use zmtp_proto::SocketType;

use alloc_count::{allocations, Counting};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const WARM: u64 = 5_000;
const COUNTED: u64 = 20_000;

/// Allocations per message of a PUSH/PULL stream (bursts of 100) and of REQ/REP round trips,
/// both ends on this thread.
async fn per_message<R: Runtime>(name: &str) -> (f64, f64) {
    let pull = Socket::<R>::new(SocketType::Pull);
    pull.bind(&format!("inproc://alloc-stream-{name}"))
        .await
        .unwrap();
    let push = Socket::<R>::new(SocketType::Push);
    push.connect(&format!("inproc://alloc-stream-{name}"))
        .await
        .unwrap();
    let body = [7u8; 16];
    let stream = |n: u64| {
        let (push, pull) = (&push, &pull);
        async move {
            for _ in 0..n / 100 {
                let send = async {
                    for _ in 0..100 {
                        push.send_slice(&body).await.unwrap();
                    }
                };
                let recv = async {
                    for _ in 0..100 {
                        std::hint::black_box(pull.recv().await.unwrap());
                    }
                };
                join(send, recv).await;
            }
        }
    };
    stream(WARM).await;
    let before = allocations();
    stream(COUNTED).await;
    let streaming = (allocations() - before) as f64 / COUNTED as f64;

    let rep = Socket::<R>::new(SocketType::Rep);
    rep.bind(&format!("inproc://alloc-rt-{name}"))
        .await
        .unwrap();
    let req = Socket::<R>::new(SocketType::Req);
    req.connect(&format!("inproc://alloc-rt-{name}"))
        .await
        .unwrap();
    let round_trips = |n: u64| {
        let (req, rep) = (&req, &rep);
        async move {
            let serve = async {
                for _ in 0..n {
                    let m = rep.recv().await.unwrap();
                    rep.send(m).await.unwrap();
                }
            };
            let drive = async {
                for _ in 0..n {
                    req.send_slice(&body).await.unwrap();
                    std::hint::black_box(req.recv().await.unwrap());
                }
            };
            join(serve, drive).await;
        }
    };
    round_trips(WARM).await;
    let before = allocations();
    round_trips(COUNTED).await;
    // Two messages per round trip.
    let rt = (allocations() - before) as f64 / (2 * COUNTED) as f64;
    (streaming, rt)
}

fn check(name: &str, (streaming, rt): (f64, f64)) {
    eprintln!(
        "{name}: {streaming:.4} allocations per streamed message, {rt:.4} per round-trip message"
    );
    assert!(
        streaming < 0.01,
        "{name}: {streaming} allocations per streamed message"
    );
    assert!(rt < 0.01, "{name}: {rt} allocations per round-trip message");
}

#[test]
fn tokio_same_thread_pair_does_not_allocate_per_message() {
    let r = driver_tokio::Tokio::block_on(per_message::<driver_tokio::Tokio>("tokio")).unwrap();
    check("tokio", r);
}

#[test]
fn compio_same_thread_pair_does_not_allocate_per_message() {
    let r =
        driver_compio::Compio::block_on(per_message::<driver_compio::Compio>("compio")).unwrap();
    check("compio", r);
}
