//! First checks of the tokio driver over real sockets.
#![allow(missing_docs)]

use std::time::Duration;

use driver_tokio::{Msg, Socket, SocketType};

#[tokio::test]
async fn req_rep_tcp() {
    let rep = Socket::new(SocketType::Rep);
    let ep = rep.bind("tcp://127.0.0.1:*").await.unwrap();
    assert!(ep.starts_with("tcp://127.0.0.1:") && !ep.ends_with(":*"));
    let req = Socket::new(SocketType::Req);
    req.connect(&ep).await.unwrap();
    for i in 0..100 {
        req.send(format!("q{i}")).await.unwrap();
        let q = rep.recv().await.unwrap();
        rep.send(q).await.unwrap();
        let r = req.recv().await.unwrap();
        assert_eq!(r, Msg::from(format!("q{i}")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_pull_many_in_order() {
    let pull = Socket::new(SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    const N: u32 = 100_000;
    let sender = tokio::spawn(async move {
        for i in 0..N {
            push.send(i.to_be_bytes().to_vec()).await.unwrap();
        }
        push
    });
    for i in 0..N {
        let m = tokio::time::timeout(Duration::from_secs(10), pull.recv())
            .await
            .expect("timed out")
            .unwrap();
        assert_eq!(&m[0][..], &i.to_be_bytes());
    }
    sender.await.unwrap();
}

#[tokio::test]
async fn pub_sub_ipc() {
    let dir = std::env::temp_dir().join(format!("zmtp-tokio-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let ep = format!("ipc://{}/ps.sock", dir.display());
    let publ = Socket::new(SocketType::Pub);
    publ.bind(&ep).await.unwrap();
    let sub = Socket::new(SocketType::Sub);
    sub.subscribe("A").await.unwrap();
    sub.connect(&ep).await.unwrap();
    // Wait for the subscription to reach the publisher.
    let got = loop {
        publ.send("A-hello").await.unwrap();
        publ.send("B-nope").await.unwrap();
        match tokio::time::timeout(Duration::from_millis(50), sub.recv()).await {
            Ok(m) => break m.unwrap(),
            Err(_) => continue,
        }
    };
    assert_eq!(got, Msg::from("A-hello"));
}

#[tokio::test]
async fn burst_then_sleep_is_delivered_without_further_calls() {
    let pull = Socket::new(SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    for i in 0..500u32 {
        push.send(vec![0u8; 100 + i as usize]).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut n = 0;
    while let Some(_m) = pull.try_recv().unwrap() {
        n += 1;
    }
    assert_eq!(n, 500);
}

/// While a `recv` waits, readiness wakes only its task (the driver task is left asleep). A
/// second task that waits on the same socket and gives up must not leave the first one
/// stranded: its wait ends, readiness wakes the driver again, and the driver's round wakes
/// the first receiver.
#[tokio::test]
async fn a_waiting_receiver_gets_its_message_after_another_task_gave_up() {
    let router = Socket::new(SocketType::Router);
    let ep = router.bind("tcp://127.0.0.1:*").await.unwrap();
    let dealer = std::sync::Arc::new(Socket::new(SocketType::Dealer));
    dealer.connect(&ep).await.unwrap();
    dealer.send("hello").await.unwrap();
    let hello = router.recv().await.unwrap();
    let waiting = {
        let dealer = dealer.clone();
        tokio::spawn(async move { dealer.recv().await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Another task's `recv` waits (taking over the readiness wake-ups), then gives up.
    let gave_up = tokio::time::timeout(Duration::from_millis(20), dealer.recv()).await;
    assert!(gave_up.is_err(), "nothing was sent yet");
    router
        .send(Msg::from([hello[0].clone(), "reply".into()]))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the first receiver was left waiting")
        .unwrap();
    assert_eq!(got, Msg::from("reply"));
}
