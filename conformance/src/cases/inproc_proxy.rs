//! The proxy ([`zmtp_async::Proxy`]) with one side in-process and the other over tcp: a queue
//! (REQ clients over inproc → our ROUTER → DEALER over tcp → a REP worker) and a streamer
//! (PUSH over tcp → PULL → PUSH over inproc → a PULL consumer). Every message arrives once, in
//! order per sender, and the proxy's statistics count each frame once each way.

use std::time::Duration;

use zmtp_async::Proxy;

use crate::cases::inproc::inproc_endpoint;
use crate::util::{join, msg, timeout};
use crate::{Driver, Either, Sock, SocketOptions, SocketType};

const LIMIT: Duration = Duration::from_secs(30);

fn socket<D: Driver>(ty: SocketType) -> Sock<D> {
    let mut o = SocketOptions::default();
    o.linger = Some(Duration::from_secs(2));
    D::socket(ty, o)
}

/// Runs `proxy` until `work` is done; the proxy must not end first.
async fn serve<D: Driver, T>(
    proxy: &mut Proxy<'_, D::Runtime>,
    work: impl std::future::Future<Output = T>,
) -> T {
    match D::race(proxy.run(), timeout::<D, _>(LIMIT, work)).await {
        Either::Left(end) => panic!("{}: the proxy ended early: {end:?}", D::NAME),
        Either::Right(None) => panic!("{}: the exchange through the proxy timed out", D::NAME),
        Either::Right(Some(out)) => out,
    }
}

/// REQ clients connect to the proxy's ROUTER over inproc; its DEALER is bound on tcp, where a
/// REP worker answers. 3 clients × 200 requests, each answered with its own body.
pub async fn inproc_proxy_queue<D: Driver>() {
    const CLIENTS: usize = 3;
    const N: usize = 200;
    let front = socket::<D>(SocketType::Router);
    let front_ep = front
        .bind(&inproc_endpoint("proxy-front"))
        .await
        .expect("bind");
    let back = socket::<D>(SocketType::Dealer);
    let back_ep = back.bind("tcp://127.0.0.1:*").await.expect("bind");
    let worker = socket::<D>(SocketType::Rep);
    worker.connect(&back_ep).await.expect("connect");
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let c = socket::<D>(SocketType::Req);
        c.connect(&front_ep).await.expect("connect");
        clients.push(c);
    }
    let work = async {
        for _ in 0..CLIENTS * N {
            let m = worker.recv().await.expect("worker recv");
            worker.send(m).await.expect("worker send");
        }
    };
    let drive =
        futures_util::future::join_all(clients.iter().enumerate().map(|(c, req)| async move {
            for i in 0..N {
                let body = format!("client {c} request {i}");
                req.send(body.as_str()).await.expect("send");
                let reply = req.recv().await.expect("recv");
                assert_eq!(reply, msg(&[&body]), "the reply to its own request");
            }
        }));
    let mut proxy = Proxy::new(&front, &back);
    serve::<D, _>(&mut proxy, join(work, drive)).await;
    let stats = proxy.statistics();
    // Each request enters as [id, "", body] and leaves the same way; replies likewise.
    let frames = (CLIENTS * N * 3) as u64;
    assert_eq!(stats.frontend_received_frames, frames, "{stats:?}");
    assert_eq!(stats.backend_sent_frames, frames, "{stats:?}");
    assert_eq!(stats.backend_received_frames, frames, "{stats:?}");
    assert_eq!(stats.frontend_sent_frames, frames, "{stats:?}");
    drop(proxy);
    for c in clients {
        c.close().await;
    }
    for s in [worker, front, back] {
        s.close().await;
    }
}

/// A streamer: a PUSH producer over tcp → the proxy's PULL, its PUSH bound on an inproc name →
/// a PULL consumer. 5,000 multipart messages arrive in order, none lost or duplicated.
pub async fn inproc_proxy_streamer<D: Driver>() {
    const N: usize = 5_000;
    let front = socket::<D>(SocketType::Pull);
    let front_ep = front.bind("tcp://127.0.0.1:*").await.expect("bind");
    let back = socket::<D>(SocketType::Push);
    let back_ep = back
        .bind(&inproc_endpoint("proxy-back"))
        .await
        .expect("bind");
    let consumer = socket::<D>(SocketType::Pull);
    consumer.connect(&back_ep).await.expect("connect");
    let producer = socket::<D>(SocketType::Push);
    producer.connect(&front_ep).await.expect("connect");
    let produce = async {
        for i in 0..N {
            let n = i.to_string();
            producer.send([n.as_str(), "payload"]).await.expect("send");
        }
    };
    let consume = async {
        for i in 0..N {
            let m = consumer.recv().await.expect("recv");
            assert_eq!(m, msg(&[&i.to_string(), "payload"]), "message {i}");
        }
    };
    let mut proxy = Proxy::new(&front, &back);
    serve::<D, _>(&mut proxy, join(produce, consume)).await;
    // Nothing more than was sent.
    let extra = timeout::<D, _>(Duration::from_millis(100), consumer.recv()).await;
    assert!(extra.is_none(), "a message too many: {extra:?}");
    let stats = proxy.statistics();
    assert_eq!(stats.frontend_received_frames, (2 * N) as u64, "{stats:?}");
    assert_eq!(stats.backend_sent_frames, (2 * N) as u64, "{stats:?}");
    drop(proxy);
    for s in [producer, consumer, front, back] {
        s.close().await;
    }
}
