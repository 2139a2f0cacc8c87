//! An `inproc://` pair opens no file descriptor: `/proc/self/fd` counted around bind, connect
//! and a thousand round trips, both ends on one thread (a runtime of its own opens
//! descriptors, so a second thread is not counted), for both drivers.
//! The only test of its binary, so nothing else in the process opens descriptors meanwhile.
#![allow(missing_docs)] // reason: test crate

use zmtp_async::{Runtime, Socket};
use zmtp_proto::SocketType;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

async fn exchange<R: Runtime>(ep: &str) {
    let rep = Socket::<R>::new(SocketType::Rep);
    let req = Socket::<R>::new(SocketType::Req);
    // Let the driver tasks run once first.
    R::sleep_until(std::time::Instant::now() + std::time::Duration::from_millis(10)).await;
    let before = open_fds();
    rep.bind(ep).await.unwrap();
    req.connect(ep).await.unwrap();
    for i in 0..1000u32 {
        req.send(i.to_string()).await.unwrap();
        let m = rep.recv().await.unwrap();
        rep.send(m).await.unwrap();
        assert_eq!(req.recv().await.unwrap()[0][..], *i.to_string().as_bytes());
    }
    assert_eq!(open_fds(), before, "an inproc pair opened file descriptors");
    req.close().await;
    rep.close().await;
}

#[test]
fn an_inproc_pair_opens_no_file_descriptor() {
    driver_tokio::Tokio::block_on(exchange::<driver_tokio::Tokio>("inproc://fd-tokio")).unwrap();
    driver_compio::Compio::block_on(exchange::<driver_compio::Compio>("inproc://fd-compio"))
        .unwrap();
}
