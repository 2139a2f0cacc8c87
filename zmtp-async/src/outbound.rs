//! What `send` and `try_send` take: owned messages (moved in, zero-copy) and borrowed bytes
//! (copied, as `zmq_send` copies), through one trait, [`IntoOutbound`].

use bytes::Bytes;
use zmtp_proto::{Frame, Msg};

use crate::state::Outbound;

/// Anything [`Socket::send`](crate::Socket::send) and
/// [`Socket::try_send`](crate::Socket::try_send) take.
///
/// * Owned data is moved into the message, zero-copy: [`Msg`], [`Frame`], [`Bytes`],
///   `Vec<u8>`, `String`, and arrays of them (one frame each).
/// * Borrowed data is copied, as `zmq_send` copies, and need not outlive the call: `&str`,
///   `&[u8]`, `&[u8; N]`, `&String`, `&Vec<u8>` are one frame (for DEALER, PUSH and PAIR the
///   bytes go straight into the socket's coalescing buffer: one copy, no allocation for bodies
///   under 8 KiB); an array of references (`[&str; N]`, `[&[u8]; N]`) is one frame each.
///
/// A string literal is borrowed data, so it is copied. On DEALER, PUSH and PAIR a body
/// under 8 KiB costs no allocation (a memcpy into the write buffer; `tests/alloc_send.rs`
/// measures 0 per 16 B message, borrowed or owned). A larger body, and on the other types a
/// body over 23 bytes (smaller ones are stored inline), is copied into a message of its own:
/// for a 16 KiB literal on PUSH, measured 2.0 allocations per message more than
/// `Msg::from(literal)`, which wraps it zero-copy. Pass `Msg::from(literal)` where that
/// matters.
///
/// ```
/// # compio::runtime::Runtime::new().unwrap().block_on(async {
/// use driver_compio::{Msg, Socket, SocketType};
/// let pull = Socket::new(SocketType::Pull);
/// let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
/// let push = Socket::new(SocketType::Push);
/// push.connect(&ep).await.unwrap();
/// let line = String::from("a line read at run time");
/// push.send(line.as_str()).await.unwrap(); // borrowed: copied
/// let buf = vec![1u8, 2, 3];
/// push.send(&buf[..]).await.unwrap();
/// push.send([line.as_str(), "second frame"]).await.unwrap(); // borrowed parts
/// push.send(Msg::from(["owned", "frames"])).await.unwrap(); // owned: moved
/// drop(line);
/// assert_eq!(&pull.recv().await.unwrap()[0][..], b"a line read at run time");
/// assert_eq!(&pull.recv().await.unwrap()[0][..], &[1, 2, 3]);
/// assert_eq!(pull.recv().await.unwrap().len(), 2);
/// # });
/// ```
pub trait IntoOutbound<'a> {
    /// The message as the socket takes it.
    fn into_outbound(self) -> Outbound<'a>;
}

impl<'a> IntoOutbound<'a> for Outbound<'a> {
    fn into_outbound(self) -> Self {
        self
    }
}

macro_rules! owned {
    ($($t:ty),*) => {$(
        impl IntoOutbound<'_> for $t {
            fn into_outbound(self) -> Outbound<'static> {
                Outbound::Msg(Msg::from(self))
            }
        }
        impl<const N: usize> IntoOutbound<'_> for [$t; N] {
            fn into_outbound(self) -> Outbound<'static> {
                Outbound::Msg(self.into_iter().map(Frame::from).collect())
            }
        }
    )*};
}

owned!(Frame, Bytes, Vec<u8>, String);

impl IntoOutbound<'_> for Msg {
    fn into_outbound(self) -> Outbound<'static> {
        Outbound::Msg(self)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> IntoOutbound<'a> for &'a T {
    fn into_outbound(self) -> Outbound<'a> {
        Outbound::Slice(self.as_ref())
    }
}

impl<T: AsRef<[u8]> + ?Sized, const N: usize> IntoOutbound<'_> for [&T; N] {
    fn into_outbound(self) -> Outbound<'static> {
        Outbound::Msg(
            self.into_iter()
                .map(|part| Frame::copy_from_slice(part.as_ref()))
                .collect(),
        )
    }
}

impl Outbound<'_> {
    /// The message as an owned [`Msg`] (borrowed bytes copied), to hand back in a
    /// [`SendError`](zmtp_proto::SendError).
    pub fn into_msg(self) -> Msg {
        match self {
            Self::Msg(msg) => msg,
            Self::Slice(body) => Msg::copy_from_slice(body),
        }
    }
}
