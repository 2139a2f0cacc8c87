//! Two sockets of one thread over `inproc://`: where sockets never leave their thread
//! (compio), the pair is joined by a pipe of that thread and moving messages takes no lock —
//! the calling thread's count of the transport's locks (shared pipes, backlogs of bound
//! names) stays where it was — and waking the peer takes neither a lock nor an atomic
//! read-modify-write of its signal: the count of the signals' shared operations stays where
//! it was too (issue 19: "a same-thread pair must not pay for it (no lock, no atomic wake)").
//! tokio's sockets may move between threads, so a tokio pair takes the shared pipe's lock and
//! the signals' (which shows the counts are live), and so does a compio connector on another
//! thread than its binder.
#![allow(missing_docs)]
// reason: test crate

use futures_util::future::join;
use zmtp_async::{inproc_locks, shared_signal_ops, Runtime, Socket};
use zmtp_proto::SocketType;

const MESSAGES: u64 = 2_000;

/// PULL and REP bound to `inproc://pair-{stream,rt}-NAME`, PUSH and REQ connected to them
/// after the binds or, with `connect_first`, before them; the first exchange made.
async fn joined_pairs<R: Runtime>(
    name: &str,
    connect_first: bool,
) -> (Socket<R>, Socket<R>, Socket<R>, Socket<R>) {
    let (pull, push) = (
        Socket::<R>::new(SocketType::Pull),
        Socket::<R>::new(SocketType::Push),
    );
    let (rep, req) = (
        Socket::<R>::new(SocketType::Rep),
        Socket::<R>::new(SocketType::Req),
    );
    let stream = format!("inproc://pair-stream-{name}");
    let rt = format!("inproc://pair-rt-{name}");
    if connect_first {
        push.connect(&stream).await.unwrap();
        req.connect(&rt).await.unwrap();
        // Their rounds run (the dials are made, the names still unbound) before the binds.
        R::sleep_until(std::time::Instant::now() + std::time::Duration::from_millis(20)).await;
    }
    pull.bind(&stream).await.unwrap();
    rep.bind(&rt).await.unwrap();
    if !connect_first {
        push.connect(&stream).await.unwrap();
        req.connect(&rt).await.unwrap();
    }
    // The first exchange makes the connections.
    push.send_slice(b"hello").await.unwrap();
    assert_eq!(&pull.recv().await.unwrap()[0][..], b"hello");
    req.send_slice(b"hello").await.unwrap();
    rep.send(rep.recv().await.unwrap()).await.unwrap();
    req.recv().await.unwrap();
    (pull, push, rep, req)
}

/// Streams PUSH → PULL and runs REQ/REP round trips between two sockets of this thread,
/// the connecting sides connected after the bind or, with `connect_first`, before it;
/// returns how many of the transport's locks and of the signals' shared operations this
/// thread took meanwhile (setup excluded), and how the sockets' pipes look.
async fn locks_of_a_same_thread_pair<R: Runtime>(
    name: &str,
    connect_first: bool,
) -> (u64, u64, String) {
    let (pull, push, rep, req) =
        joined_pairs::<R>(&format!("{name}-{connect_first}"), connect_first).await;

    let before = inproc_locks();
    let signal_before = shared_signal_ops();
    let send = async {
        for i in 0..MESSAGES {
            push.send_slice(&i.to_le_bytes()).await.unwrap();
        }
    };
    let recv = async {
        for i in 0..MESSAGES {
            assert_eq!(&pull.recv().await.unwrap()[0][..], &i.to_le_bytes());
        }
    };
    join(send, recv).await;
    let serve = async {
        for _ in 0..MESSAGES {
            let m = rep.recv().await.unwrap();
            rep.send(m).await.unwrap();
        }
    };
    let drive = async {
        for i in 0..MESSAGES {
            req.send_slice(&i.to_le_bytes()).await.unwrap();
            assert_eq!(&req.recv().await.unwrap()[0][..], &i.to_le_bytes());
        }
    };
    join(serve, drive).await;
    let locks = inproc_locks() - before;
    let signal_ops = shared_signal_ops() - signal_before;
    let probe = format!("{:?} {:?}", push.inproc_probe(), rep.inproc_probe());
    // The connecting sides go: the bound sides see them go, through whichever pipe.
    drop((push, req));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while pull.peer_count() + rep.peer_count() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "connect_first={connect_first}: the bound sides still have peers"
        );
        R::sleep_until(std::time::Instant::now() + std::time::Duration::from_millis(1)).await;
    }
    (locks, signal_ops, probe)
}

#[test]
fn a_compio_same_thread_pair_takes_no_lock() {
    // Connected after the bind, then before it (the pipe moves to the thread at the bind).
    for connect_first in [false, true] {
        let (locks, signal_ops, probe) = driver_compio::Compio::block_on(
            locks_of_a_same_thread_pair::<driver_compio::Compio>("compio", connect_first),
        )
        .unwrap();
        assert!(
            probe.contains(" local side") && !probe.contains(" shared side"),
            "connect_first={connect_first}: {probe}"
        );
        assert_eq!(
            locks, 0,
            "in-process locks taken by a same-thread compio pair (connect_first={connect_first})"
        );
        assert_eq!(
            signal_ops, 0,
            "locked or atomic signal operations of a same-thread compio pair \
             (connect_first={connect_first})"
        );
    }
}

#[test]
fn a_tokio_same_thread_pair_takes_the_shared_pipe_lock() {
    let (locks, signal_ops, probe) = driver_tokio::Tokio::block_on(locks_of_a_same_thread_pair::<
        driver_tokio::Tokio,
    >("tokio", true))
    .unwrap();
    assert!(
        probe.contains(" shared side") && !probe.contains(" local side"),
        "{probe}"
    );
    assert!(
        locks >= 2 * MESSAGES / 100,
        "only {locks} shared-pipe locks"
    );
    assert!(
        signal_ops >= 2 * MESSAGES / 100,
        "only {signal_ops} shared signal operations"
    );
}

#[test]
fn a_compio_connector_on_another_thread_gets_the_shared_pipe() {
    use driver_compio::Compio;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let received = Arc::new(AtomicBool::new(false));
    let received_all = received.clone();
    let binder = std::thread::spawn(move || {
        Compio::block_on(async move {
            let pull = Socket::<Compio>::new(SocketType::Pull);
            pull.bind("inproc://pair-cross-thread").await.unwrap();
            bound_tx.send(()).unwrap();
            for i in 0..MESSAGES {
                assert_eq!(&pull.recv().await.unwrap()[0][..], &i.to_le_bytes());
            }
            let probe = format!("{:?}", pull.inproc_probe());
            received_all.store(true, Ordering::Release);
            probe
        })
        .unwrap()
    });
    bound_rx.recv().unwrap();
    let (locks, probe) = Compio::block_on(async {
        let push = Socket::<Compio>::new(SocketType::Push);
        push.connect("inproc://pair-cross-thread").await.unwrap();
        let before = inproc_locks();
        for i in 0..MESSAGES {
            push.send_slice(&i.to_le_bytes()).await.unwrap();
        }
        let probe = format!("{:?}", push.inproc_probe());
        let locks = inproc_locks() - before;
        // The socket stays until the binder took everything.
        while !received.load(Ordering::Acquire) {
            Compio::sleep_until(std::time::Instant::now() + std::time::Duration::from_millis(1))
                .await;
        }
        (locks, probe)
    })
    .unwrap();
    let binder_probe = binder.join().unwrap();
    assert!(
        probe.contains(" shared side") && !probe.contains(" local side"),
        "{probe}"
    );
    assert!(binder_probe.contains(" shared side"), "{binder_probe}");
    assert!(
        locks > 0,
        "a cross-thread pair takes the shared pipe's lock"
    );
}

#[test]
fn a_compio_same_thread_pair_on_two_tasks_wakes_without_lock_or_atomic() {
    // The receiver and the replier run on a task of their own (not `join`ed with the sender
    // on one task): every wake goes to another task of the thread.
    use driver_compio::Compio;
    let (locks, signal_ops) = Compio::block_on(async {
        let (pull, push, rep, req) = joined_pairs::<Compio>("tasks", false).await;

        let before = (inproc_locks(), shared_signal_ops());
        let receiver = compio::runtime::spawn(async move {
            for i in 0..MESSAGES {
                assert_eq!(&pull.recv().await.unwrap()[0][..], &i.to_le_bytes());
            }
            for _ in 0..MESSAGES {
                let m = rep.recv().await.unwrap();
                rep.send(m).await.unwrap();
            }
        });
        for i in 0..MESSAGES {
            push.send_slice(&i.to_le_bytes()).await.unwrap();
        }
        for i in 0..MESSAGES {
            req.send_slice(&i.to_le_bytes()).await.unwrap();
            assert_eq!(&req.recv().await.unwrap()[0][..], &i.to_le_bytes());
        }
        receiver.await.unwrap();
        (inproc_locks() - before.0, shared_signal_ops() - before.1)
    })
    .unwrap();
    assert_eq!(locks, 0, "in-process locks of a two-task compio pair");
    assert_eq!(
        signal_ops, 0,
        "locked or atomic signal operations of a two-task compio pair"
    );
}

#[test]
fn a_tokio_socket_and_a_compio_socket_talk_over_inproc() {
    // Not a pair the issue requires: the shared pipe joins any two runtimes of one process.
    use driver_compio::Compio;
    use driver_tokio::Tokio;
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        Tokio::block_on(async move {
            let rep = Socket::<Tokio>::new(SocketType::Rep);
            let pull = Socket::<Tokio>::new(SocketType::Pull);
            rep.bind("inproc://tokio-compio-rt").await.unwrap();
            pull.bind("inproc://tokio-compio-stream").await.unwrap();
            bound_tx.send(()).unwrap();
            for i in 0..MESSAGES {
                assert_eq!(&pull.recv().await.unwrap()[0][..], &i.to_le_bytes());
            }
            for _ in 0..MESSAGES {
                let m = rep.recv().await.unwrap();
                rep.send(m).await.unwrap();
            }
            // The last reply is on its way until the socket is closed: leaving the runtime
            // before that would drop it with the driver task.
            rep.close().await;
            pull.close().await;
        })
        .unwrap();
    });
    bound_rx.recv().unwrap();
    Compio::block_on(async {
        let req = Socket::<Compio>::new(SocketType::Req);
        let push = Socket::<Compio>::new(SocketType::Push);
        req.connect("inproc://tokio-compio-rt").await.unwrap();
        push.connect("inproc://tokio-compio-stream").await.unwrap();
        for i in 0..MESSAGES {
            push.send_slice(&i.to_le_bytes()).await.unwrap();
        }
        for i in 0..MESSAGES {
            req.send_slice(&i.to_le_bytes()).await.unwrap();
            assert_eq!(&req.recv().await.unwrap()[0][..], &i.to_le_bytes());
        }
        let probe = format!("{:?}", push.inproc_probe());
        assert!(probe.contains(" shared side"), "{probe}");
    })
    .unwrap();
    server.join().unwrap();
}
