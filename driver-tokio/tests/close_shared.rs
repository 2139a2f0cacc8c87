//! A socket shared through an `Arc` between tasks of a multi-thread runtime is closed by one
//! of them: the `recv` pending in another task ends with `Error::Terminated` (libzmq's
//! `ETERM`).
#![allow(missing_docs)] // reason: test crate

use std::sync::Arc;
use std::time::Duration;

use driver_tokio::{Error, Socket, SocketType};

#[test]
fn close_from_another_task_wakes_recv() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pull = Arc::new(Socket::new(SocketType::Pull));
        pull.bind("tcp://127.0.0.1:*").await.unwrap();
        let waiting = tokio::spawn({
            let pull = pull.clone();
            async move { pull.recv().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let closer = tokio::spawn({
            let pull = pull.clone();
            async move { pull.close().await }
        });
        tokio::time::timeout(Duration::from_secs(5), closer)
            .await
            .expect("close returns")
            .unwrap();
        let err = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("recv woken")
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(Error::of(&err), Some(Error::Terminated)),
            "{err:?}"
        );
    });
}
