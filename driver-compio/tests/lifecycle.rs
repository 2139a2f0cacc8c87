//! What the compio driver does around the protocol: listeners, closing, linger, monitor
//! events, ipc files.
#![allow(missing_docs)] // reason: test crate

use std::time::Duration;

use compio::time::{sleep, timeout};
use driver_compio::{MonitorEvent, Msg, Socket, SocketEvent, SocketOptions, SocketType};

#[compio::test]
async fn unbind_releases_the_port() {
    let pull = Socket::new(SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    pull.unbind(&ep).await.unwrap();
    // The accept in flight is cancelled and the listening socket closed by the driver.
    let mut rebound = None;
    for _ in 0..50 {
        sleep(Duration::from_millis(10)).await;
        if let Ok(e) = pull.bind(&ep).await {
            rebound = Some(e);
            break;
        }
    }
    assert_eq!(rebound.as_deref(), Some(ep.as_str()));
    // And the new listener works.
    let push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    push.send("again").await.unwrap();
    assert_eq!(pull.recv().await.unwrap(), Msg::from("again"));
}

#[compio::test]
async fn close_flushes_what_was_queued() {
    let pull = Socket::new(SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    for i in 0..1000u32 {
        push.send(i.to_be_bytes().to_vec()).await.unwrap();
    }
    // Default linger (forever): close returns once everything left.
    timeout(Duration::from_secs(10), push.close())
        .await
        .expect("close hung");
    for i in 0..1000u32 {
        let m = timeout(Duration::from_secs(5), pull.recv())
            .await
            .expect("message lost")
            .unwrap();
        assert_eq!(&m[0][..], &i.to_be_bytes());
    }
}

#[compio::test]
async fn close_gives_up_after_linger() {
    let mut options = SocketOptions::default();
    options.linger = Some(Duration::from_millis(50));
    let push = Socket::with_options(SocketType::Push, options);
    // Nobody listens there: the message can never leave.
    push.connect("tcp://127.0.0.1:9").await.unwrap();
    push.send("stuck").await.unwrap();
    let started = std::time::Instant::now();
    timeout(Duration::from_secs(5), push.close())
        .await
        .expect("linger ignored");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[compio::test]
async fn ipc_file_is_removed_when_the_socket_closes() {
    let path = std::env::temp_dir().join(format!("zmtp-compio-life-{}.sock", std::process::id()));
    let ep = format!("ipc://{}", path.display());
    let rep = Socket::new(SocketType::Rep);
    rep.bind(&ep).await.unwrap();
    assert!(path.exists());
    rep.close().await;
    assert!(!path.exists());
    // A stale file left by a dead process is replaced on bind.
    std::fs::write(&path, b"stale").unwrap();
    let rep = Socket::new(SocketType::Rep);
    assert_eq!(rep.bind(&ep).await.unwrap(), ep);
    rep.close().await;
}

#[compio::test]
async fn monitor_reports_the_connection_and_ends_with_the_socket() {
    let rep = Socket::new(SocketType::Rep);
    let mut events = rep.monitor();
    let ep = rep.bind("tcp://127.0.0.1:*").await.unwrap();
    let req = Socket::new(SocketType::Req);
    req.connect(&ep).await.unwrap();
    req.send("hi").await.unwrap();
    rep.recv().await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let e = timeout(Duration::from_secs(5), events.next())
            .await
            .expect("event missing")
            .expect("stream ended early");
        seen.push(e);
    }
    assert_eq!(
        seen[0],
        MonitorEvent::Listening {
            endpoint: ep.clone()
        }
    );
    assert!(matches!(&seen[1], MonitorEvent::Accepted { endpoint, .. } if *endpoint == ep));
    assert!(matches!(
        &seen[2],
        MonitorEvent::Socket(SocketEvent::HandshakeSucceeded { .. })
    ));
    drop(req);
    rep.close().await;
    // After close: maybe a Disconnected, then the end.
    let mut rest = Vec::new();
    while let Some(e) = timeout(Duration::from_secs(5), events.next())
        .await
        .expect("monitor did not end")
    {
        rest.push(e);
    }
    assert!(rest.len() <= 2, "unexpected events: {rest:?}");
}

#[compio::test]
async fn slow_receiver_pauses_reading_and_resumes() {
    let mut options = SocketOptions::default();
    options.rcvhwm = 5;
    let pull = Socket::with_options(SocketType::Pull, options);
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    let sender = compio::runtime::spawn(async move {
        for i in 0..20_000u32 {
            push.send(i.to_be_bytes().to_vec()).await.unwrap();
        }
        push
    });
    // Let the receive high-water mark fill up and reading pause, then drain everything.
    sleep(Duration::from_millis(50)).await;
    for i in 0..20_000u32 {
        let m = timeout(Duration::from_secs(5), pull.recv())
            .await
            .expect("reading never resumed")
            .unwrap();
        assert_eq!(&m[0][..], &i.to_be_bytes());
    }
    sender.await.unwrap().close().await;
}
