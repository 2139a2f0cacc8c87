//! First checks of the compio driver over real sockets.
#![allow(missing_docs)] // test crate

use std::time::Duration;

use compio::time::{sleep, timeout};
use driver_compio::{Msg, Socket, SocketType};

#[compio::test]
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

#[compio::test]
async fn push_pull_many_in_order() {
    let pull = Socket::new(SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    const N: u32 = 100_000;
    let sender = compio::runtime::spawn(async move {
        for i in 0..N {
            push.send(i.to_be_bytes().to_vec()).await.unwrap();
        }
        push
    });
    for i in 0..N {
        let m = timeout(Duration::from_secs(10), pull.recv())
            .await
            .expect("timed out")
            .unwrap();
        assert_eq!(&m[0][..], &i.to_be_bytes());
    }
    sender.await.unwrap();
}

#[compio::test]
async fn pub_sub_ipc() {
    let dir = std::env::temp_dir().join(format!("zmtp-compio-{}", std::process::id()));
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
        match timeout(Duration::from_millis(50), sub.recv()).await {
            Ok(m) => break m.unwrap(),
            Err(_) => continue,
        }
    };
    assert_eq!(got, Msg::from("A-hello"));
    drop(publ);
    let _ = std::fs::remove_dir_all(&dir);
}

#[compio::test]
async fn pair_over_abstract_ipc() {
    let ep = format!("ipc://@zmtp-compio-pair-{}", std::process::id());
    let a = Socket::new(SocketType::Pair);
    assert_eq!(a.bind(&ep).await.unwrap(), ep);
    let b = Socket::new(SocketType::Pair);
    b.connect(&ep).await.unwrap();
    b.send("ping").await.unwrap();
    assert_eq!(a.recv().await.unwrap(), Msg::from("ping"));
    a.send("pong").await.unwrap();
    assert_eq!(b.recv().await.unwrap(), Msg::from("pong"));
}

#[compio::test]
async fn burst_then_sleep_is_delivered_without_further_calls() {
    let pull = Socket::new(SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    for i in 0..500u32 {
        push.send(vec![0u8; 100 + i as usize]).await.unwrap();
    }
    sleep(Duration::from_millis(200)).await;
    let mut n = 0;
    while let Some(m) = pull.try_recv().unwrap() {
        assert_eq!(m[0].len(), 100 + n);
        n += 1;
    }
    assert_eq!(n, 500);
}
