//! A TCP relay on std threads that can be frozen: while frozen it keeps every connection open
//! but forwards nothing (bytes read are dropped, and a close is not passed on), exactly what a
//! peer whose host vanished looks like to the other side. Used to check heartbeat timeouts (checklist H3).
//! It can also stall: then it stops reading as well, so what the sender writes piles up in the
//! TCP buffers until its writes block, as they do when the far host stops acknowledging.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

const POLL: Duration = Duration::from_millis(20);

/// A running relay; stops (and closes its connections) when dropped.
#[derive(Debug)]
pub struct Relay {
    endpoint: String,
    frozen: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

/// The flags every pump of a relay watches.
#[derive(Clone)]
struct Flags {
    frozen: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Relay {
    /// Listens on an ephemeral loopback port and forwards each connection to `target`
    /// (`tcp://host:port`).
    pub fn start(target: &str) -> io::Result<Self> {
        let target: SocketAddr = target
            .strip_prefix("tcp://")
            .unwrap_or(target)
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let endpoint = format!("tcp://{}", listener.local_addr()?);
        let flags = Flags {
            frozen: Arc::new(AtomicBool::new(false)),
            stalled: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let f = flags.clone();
        thread::Builder::new()
            .name("relay-accept".into())
            .spawn(move || accept_loop(&listener, target, &f))?;
        Ok(Self {
            endpoint,
            frozen: flags.frozen,
            stalled: flags.stalled,
            stop: flags.stop,
        })
    }

    /// The endpoint to connect to instead of the target.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Stops forwarding (connections stay open; data is dropped) or resumes.
    pub fn set_frozen(&self, frozen: bool) {
        self.frozen.store(frozen, Ordering::SeqCst);
    }

    /// Stops reading in both directions (connections stay open; the senders' writes block
    /// once the TCP buffers are full) or resumes.
    pub fn set_stalled(&self, stalled: bool) {
        self.stalled.store(stalled, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn accept_loop(listener: &TcpListener, target: SocketAddr, flags: &Flags) {
    while !flags.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(2)) else {
                    continue;
                };
                for (from, to) in [
                    (client.try_clone(), server.try_clone()),
                    (Ok(server), Ok(client)),
                ] {
                    let (Ok(from), Ok(to)) = (from, to) else {
                        continue;
                    };
                    let f = flags.clone();
                    let _ = thread::Builder::new()
                        .name("relay-pump".into())
                        .spawn(move || pump(from, to, &f));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(POLL),
            Err(_) => thread::sleep(POLL),
        }
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, flags: &Flags) {
    let (frozen, stalled, stop) = (&*flags.frozen, &*flags.stalled, &*flags.stop);
    let _ = from.set_nonblocking(false);
    let _ = from.set_read_timeout(Some(POLL));
    let _ = to.set_nodelay(true);
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::SeqCst) {
        if stalled.load(Ordering::SeqCst) {
            thread::sleep(POLL);
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if !frozen.load(Ordering::SeqCst) && to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    // A vanished host sends no FIN either: while frozen, keep the other side open.
    while (frozen.load(Ordering::SeqCst) || stalled.load(Ordering::SeqCst))
        && !stop.load(Ordering::SeqCst)
    {
        thread::sleep(POLL);
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
