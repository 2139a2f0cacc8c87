//! What only the tokio driver offers: sockets shared between tasks of a multi-thread runtime.
//! (Everything both drivers do is in the conformance suite, `tests/conformance.rs`.)
#![allow(missing_docs)] // reason: test crate

use std::time::Duration;

use driver_tokio::{Msg, Socket, SocketType};

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
