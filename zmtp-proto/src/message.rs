//! Multipart messages.
//!
//! A ZeroMQ message is one or more frames that travel atomically (RFC 23 §"Framing", checklist F4).
//! [`Msg`] stores its frames in a small vector: messages of up to [`INLINE_FRAMES`] frames need
//! no heap allocation of their own. A [`Frame`] of up to [`INLINE_FRAME_BYTES`] bytes keeps its
//! bytes inline (as libzmq's "very small messages" do), so small frames cost no allocation and
//! no reference count; larger frames are [`Bytes`], so cloning a message for fan-out or slicing
//! it out of the receive arena only bumps a reference count.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use bytes::Bytes;
use smallvec::SmallVec;

/// The largest frame a [`Frame`] stores inline, without a heap allocation or reference count.
pub const INLINE_FRAME_BYTES: usize = 23;

/// One frame of a message: an immutable byte string.
///
/// Frames of up to [`INLINE_FRAME_BYTES`] bytes made by [`Frame::copy_from_slice`] (and every
/// such frame the receive path decodes) are stored inline; anything else is a [`Bytes`]. Either
/// way a frame reads as a `&[u8]` (it dereferences to one) and compares by content.
///
/// ```
/// use bytes::Bytes;
/// use zmtp_proto::Frame;
///
/// let small = Frame::copy_from_slice(b"tick");
/// assert!(small.is_inline());
/// assert_eq!(small, b"tick"[..]);
/// let large = Frame::from(Bytes::from(vec![7u8; 100]));
/// assert_eq!(large.len(), 100);
/// let back: Bytes = small.into_bytes();
/// assert_eq!(&back[..], b"tick");
/// ```
#[derive(Clone)]
pub struct Frame(Repr);

// Two variants in the 32 bytes of a `Bytes`: the compiler keeps the tag in a niche of `Bytes`
// (see the `frame_is_as_small_as_bytes` test), so a `Msg` is no larger than with plain `Bytes`.
//
// An inline frame is 24 bytes: the frame's bytes, zero-padded, then its length in the last.
#[derive(Clone)]
enum Repr {
    Shared(Bytes),
    Inline([u8; INLINE_FRAME_BYTES + 1]),
}

/// The 24 bytes of an inline frame of `data` (at most [`INLINE_FRAME_BYTES`]), built from a few
/// overlapping fixed-size loads rather than a variable-length `memcpy` (whose narrow stores,
/// read back as whole words when the frame moves on, stall store forwarding).
#[inline(always)]
fn inline_words(data: &[u8]) -> [u8; INLINE_FRAME_BYTES + 1] {
    let n = data.len();
    debug_assert!(n <= INLINE_FRAME_BYTES);
    let word = |at: usize| u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"));
    // The top `k` (< 8) bytes of `w`, moved to the bottom.
    let top = |w: u64, k: usize| if k == 0 { 0 } else { w >> (8 * (8 - k)) };
    let (w0, w1, w2) = if n >= 16 {
        (word(0), word(8), top(word(n - 8), n - 16))
    } else if n >= 8 {
        (word(0), top(word(n - 8), n - 8), 0)
    } else if n >= 4 {
        let half = |at: usize| {
            u64::from(u32::from_le_bytes(
                data[at..at + 4].try_into().expect("4 bytes"),
            ))
        };
        (half(0) | (top(half(n - 4) << 32, n - 4) << 32), 0, 0)
    } else if n > 0 {
        let (a, b, c) = (data[0], data[n / 2], data[n - 1]);
        let w = u64::from(a) | u64::from(b) << (8 * (n / 2)) | u64::from(c) << (8 * (n - 1));
        (w, 0, 0)
    } else {
        (0, 0, 0)
    };
    let w2 = w2 | (n as u64) << 56;
    let mut out = [0; INLINE_FRAME_BYTES + 1];
    out[..8].copy_from_slice(&w0.to_le_bytes());
    out[8..16].copy_from_slice(&w1.to_le_bytes());
    out[16..].copy_from_slice(&w2.to_le_bytes());
    out
}

impl Frame {
    /// An empty frame.
    ///
    /// ```
    /// # use zmtp_proto::Frame;
    /// assert!(Frame::new().is_empty());
    /// ```
    #[inline]
    pub const fn new() -> Self {
        Self(Repr::Inline([0; INLINE_FRAME_BYTES + 1]))
    }

    /// A frame holding a copy of `data`: inline up to [`INLINE_FRAME_BYTES`] bytes, otherwise
    /// one allocation.
    ///
    /// ```
    /// # use zmtp_proto::Frame;
    /// let f = Frame::copy_from_slice(&[1, 2, 3]);
    /// assert_eq!(&f[..], &[1, 2, 3]);
    /// ```
    #[inline]
    pub fn copy_from_slice(data: &[u8]) -> Self {
        if data.len() <= INLINE_FRAME_BYTES {
            Self(Repr::Inline(inline_words(data)))
        } else {
            Self(Repr::Shared(Bytes::copy_from_slice(data)))
        }
    }

    /// A frame of static bytes (no copy, no allocation).
    ///
    /// ```
    /// # use zmtp_proto::Frame;
    /// assert_eq!(Frame::from_static(b"hi"), b"hi"[..]);
    /// ```
    #[inline]
    pub const fn from_static(data: &'static [u8]) -> Self {
        Self(Repr::Shared(Bytes::from_static(data)))
    }

    /// The frame's bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Shared(b) => b,
            Repr::Inline(data) => &data[..usize::from(data[INLINE_FRAME_BYTES])],
        }
    }

    /// True if the bytes are stored inline (no allocation, no reference count).
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline(_))
    }

    /// The frame as [`Bytes`]: free for a frame that is one already, a copy (of at most
    /// [`INLINE_FRAME_BYTES`] bytes) for an inline frame.
    ///
    /// ```
    /// # use zmtp_proto::Frame;
    /// assert_eq!(&Frame::copy_from_slice(b"x").into_bytes()[..], b"x");
    /// ```
    pub fn into_bytes(self) -> Bytes {
        match self.0 {
            Repr::Shared(b) => b,
            Repr::Inline(_) => Bytes::copy_from_slice(self.as_slice()),
        }
    }

    /// Like [`Frame::into_bytes`], from a reference (a reference count or a small copy).
    pub fn to_bytes(&self) -> Bytes {
        self.clone().into_bytes()
    }

    /// `bytes` as a frame, copied inline if it is small enough (to be cloned often).
    pub(crate) fn compact(bytes: &Bytes) -> Self {
        if bytes.len() <= INLINE_FRAME_BYTES {
            Self::copy_from_slice(bytes)
        } else {
            Self(Repr::Shared(bytes.clone()))
        }
    }

    /// An inline frame's whole storage: its bytes, zero padding, and its length in the last
    /// byte (so an encoder can copy a fixed size).
    #[inline]
    pub(crate) fn inline_storage(&self) -> Option<&[u8; INLINE_FRAME_BYTES + 1]> {
        match &self.0 {
            Repr::Inline(data) => Some(data),
            Repr::Shared(_) => None,
        }
    }

    /// The frame's [`Bytes`] if it is not stored inline (large frames, for zero-copy writes).
    #[inline]
    pub(crate) fn as_shared(&self) -> Option<&Bytes> {
        match &self.0 {
            Repr::Shared(b) => Some(b),
            Repr::Inline(_) => None,
        }
    }
}

impl Default for Frame {
    fn default() -> Self {
        Self::new()
    }
}

impl Deref for Frame {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Frame {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for Frame {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for Frame {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Frame {}

/// Hashes like a `[u8]` (and like [`Bytes`]), as [`Borrow`] requires.
impl Hash for Frame {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl PartialOrd for Frame {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Frame {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

macro_rules! frame_eq {
    ($($t:ty),*) => {$(
        impl PartialEq<$t> for Frame {
            fn eq(&self, other: &$t) -> bool {
                self.as_slice() == AsRef::<[u8]>::as_ref(other)
            }
        }
        impl PartialEq<Frame> for $t {
            fn eq(&self, other: &Frame) -> bool {
                AsRef::<[u8]>::as_ref(self) == other.as_slice()
            }
        }
    )*};
}
frame_eq!([u8], &[u8], Bytes, Vec<u8>, str, &str);

impl<const N: usize> PartialEq<[u8; N]> for Frame {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.as_slice() == other
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Frame {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.as_slice() == *other
    }
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Escaped(self).fmt(f)
    }
}

impl From<Bytes> for Frame {
    #[inline]
    fn from(b: Bytes) -> Self {
        Self(Repr::Shared(b))
    }
}

impl From<&'static str> for Frame {
    fn from(s: &'static str) -> Self {
        Self::from_static(s.as_bytes())
    }
}

impl From<&'static [u8]> for Frame {
    fn from(s: &'static [u8]) -> Self {
        Self::from_static(s)
    }
}

impl From<Vec<u8>> for Frame {
    fn from(v: Vec<u8>) -> Self {
        Self(Repr::Shared(Bytes::from(v)))
    }
}

impl From<String> for Frame {
    fn from(s: String) -> Self {
        Self(Repr::Shared(Bytes::from(s)))
    }
}

impl From<bytes::BytesMut> for Frame {
    fn from(b: bytes::BytesMut) -> Self {
        Self(Repr::Shared(b.freeze()))
    }
}

impl From<Frame> for Bytes {
    fn from(f: Frame) -> Self {
        f.into_bytes()
    }
}

/// Number of frames a [`Msg`] stores inline before it spills to the heap.
pub(crate) const INLINE_FRAMES: usize = 3;

/// A multipart message: an ordered list of frames.
///
/// ```
/// use zmtp_proto::Msg;
///
/// let msg = Msg::from(["header", "", "body"]);
/// assert_eq!(msg.len(), 3);
/// assert_eq!(&msg[2][..], b"body");
/// assert_eq!(Msg::from("hello").first().unwrap(), &b"hello"[..]);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Msg {
    frames: SmallVec<[Frame; INLINE_FRAMES]>,
}

impl Msg {
    /// An empty message with no frames (not valid on the wire; push at least one frame).
    pub fn new() -> Self {
        Self::default()
    }

    /// A one-frame message holding a copy of `data` (inline, with no allocation, up to
    /// [`INLINE_FRAME_BYTES`] bytes): what `zmq_send` does with a caller's buffer.
    ///
    /// ```
    /// # use zmtp_proto::Msg;
    /// let buf = [0u8; 16];
    /// let msg = Msg::copy_from_slice(&buf);
    /// assert_eq!(msg.byte_len(), 16);
    /// ```
    #[inline]
    pub fn copy_from_slice(data: &[u8]) -> Self {
        Self::from(Frame::copy_from_slice(data))
    }

    /// A message made of the given frames.
    ///
    /// ```
    /// # use zmtp_proto::Msg;
    /// let msg = Msg::from_frames([&b"a"[..], &b"b"[..]]);
    /// assert_eq!(msg.len(), 2);
    /// ```
    pub fn from_frames<I, F>(frames: I) -> Self
    where
        I: IntoIterator<Item = F>,
        F: Into<Frame>,
    {
        Self {
            frames: frames.into_iter().map(Into::into).collect(),
        }
    }

    /// Appends a frame.
    ///
    /// ```
    /// # use zmtp_proto::Msg;
    /// let mut msg = Msg::new();
    /// msg.push("x");
    /// assert_eq!(msg.len(), 1);
    /// ```
    pub fn push(&mut self, frame: impl Into<Frame>) {
        self.frames.push(frame.into());
    }

    /// Inserts a frame in front of the others (used for ROUTER identities and envelopes).
    pub fn push_front(&mut self, frame: impl Into<Frame>) {
        self.frames.insert(0, frame.into());
    }

    /// Removes and returns the first frame.
    pub fn pop_front(&mut self) -> Option<Frame> {
        if self.frames.is_empty() {
            None
        } else {
            Some(self.frames.remove(0))
        }
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True when the message has no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The first frame, if any.
    pub fn first(&self) -> Option<&Frame> {
        self.frames.first()
    }

    /// The last frame, if any.
    pub fn last(&self) -> Option<&Frame> {
        self.frames.last()
    }

    /// Total size of all frame bodies in bytes.
    pub fn byte_len(&self) -> usize {
        self.frames.iter().map(|f| f.len()).sum()
    }

    /// Iterates over the frames.
    pub fn iter(&self) -> std::slice::Iter<'_, Frame> {
        self.frames.iter()
    }

    /// The frames as a slice.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// Removes the first `n` frames and returns them as a message of their own (a broker
    /// taking the routing envelope off a request).
    ///
    /// ```
    /// # use zmtp_proto::Msg;
    /// let mut msg = Msg::from(["peer-7", "", "job"]);
    /// let envelope = msg.split_front(2);
    /// assert_eq!(envelope, Msg::from(["peer-7", ""]));
    /// assert_eq!(msg, Msg::from("job"));
    /// // Asking for more frames than there are takes them all.
    /// assert_eq!(msg.split_front(5), Msg::from("job"));
    /// assert!(msg.is_empty());
    /// ```
    pub fn split_front(&mut self, n: usize) -> Self {
        let n = n.min(self.frames.len());
        let front = self.frames.drain(..n).collect();
        Self { frames: front }
    }

    /// Appends all frames of `other`, leaving the frames of `self` in front (a broker putting
    /// an envelope back in front of a reply).
    ///
    /// ```
    /// # use zmtp_proto::Msg;
    /// let mut reply = Msg::from(["peer-7", ""]);
    /// reply.extend_from(Msg::from(["done", "42"]));
    /// assert_eq!(reply, Msg::from(["peer-7", "", "done", "42"]));
    /// ```
    pub fn extend_from(&mut self, other: Self) {
        self.frames.extend(other.frames);
    }

    /// Moves all frames of `other` to the end of `self`, leaving `other` empty (its spilled
    /// allocation, if any, is kept).
    ///
    /// ```
    /// # use zmtp_proto::Msg;
    /// let mut a = Msg::from("a");
    /// let mut b = Msg::from(["b", "c"]);
    /// a.append(&mut b);
    /// assert_eq!((a.len(), b.len()), (3, 0));
    /// ```
    pub fn append(&mut self, other: &mut Self) {
        self.frames.extend(other.frames.drain(..));
    }

    /// Inserts all frames of `front` before the frames of `self` (the frames are cloned:
    /// a large body's `Bytes` is shared, not copied).
    ///
    /// ```
    /// # use zmtp_proto::Msg;
    /// let envelope = Msg::from(["peer-7", ""]);
    /// let mut reply = Msg::from("done");
    /// reply.prepend(&envelope);
    /// assert_eq!(reply, Msg::from(["peer-7", "", "done"]));
    /// assert_eq!(envelope.len(), 2, "the envelope is left as it was");
    /// ```
    pub fn prepend(&mut self, front: &Self) {
        self.frames.insert_many(0, front.frames.iter().cloned());
    }

    /// Drops the first `n` frames (all of them if there are fewer).
    pub(crate) fn drop_front(&mut self, n: usize) {
        let n = n.min(self.frames.len());
        self.frames.drain(..n);
    }

    /// Moves the first `n` frames to `dst`, replacing what it held (its spilled allocation,
    /// if any, is reused).
    pub(crate) fn move_front_to(&mut self, n: usize, dst: &mut Self) {
        let n = n.min(self.frames.len());
        dst.frames.clear();
        dst.frames.extend(self.frames.drain(..n));
    }

    /// Inserts clones of `front` before the frames of `self`.
    pub(crate) fn prepend_frames(&mut self, front: &[Frame]) {
        self.frames.insert_many(0, front.iter().cloned());
    }

    /// Removes all frames, keeping any spilled allocation for reuse.
    pub fn clear(&mut self) {
        self.frames.clear();
    }

    /// Consumes the message and returns its frames as a vector.
    pub fn into_vec(self) -> Vec<Frame> {
        self.frames.into_vec()
    }
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        for frame in &self.frames {
            list.entry(&Escaped(frame));
        }
        list.finish()
    }
}

struct Escaped<'a>(&'a [u8]);

impl std::fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const MAX: usize = 64;
        write!(f, "b\"")?;
        for &b in self.0.iter().take(MAX) {
            write!(f, "{}", std::ascii::escape_default(b))?;
        }
        if self.0.len() > MAX {
            write!(f, "\"…({} bytes)", self.0.len())
        } else {
            write!(f, "\"")
        }
    }
}

impl std::ops::Index<usize> for Msg {
    type Output = Frame;
    fn index(&self, index: usize) -> &Frame {
        &self.frames[index]
    }
}

impl<'a> IntoIterator for &'a Msg {
    type Item = &'a Frame;
    type IntoIter = std::slice::Iter<'a, Frame>;
    fn into_iter(self) -> Self::IntoIter {
        self.frames.iter()
    }
}

impl IntoIterator for Msg {
    type Item = Frame;
    type IntoIter = smallvec::IntoIter<[Frame; INLINE_FRAMES]>;
    fn into_iter(self) -> Self::IntoIter {
        self.frames.into_iter()
    }
}

impl<F: Into<Frame>> FromIterator<F> for Msg {
    fn from_iter<T: IntoIterator<Item = F>>(iter: T) -> Self {
        Self::from_frames(iter)
    }
}

impl From<Frame> for Msg {
    #[inline]
    fn from(frame: Frame) -> Self {
        let mut frames = SmallVec::new();
        frames.push(frame);
        Self { frames }
    }
}

impl From<Bytes> for Msg {
    #[inline]
    fn from(frame: Bytes) -> Self {
        Self::from(Frame::from(frame))
    }
}

impl From<&'static str> for Msg {
    fn from(s: &'static str) -> Self {
        Self::from(Frame::from(s))
    }
}

impl From<&'static [u8]> for Msg {
    fn from(s: &'static [u8]) -> Self {
        Self::from(Frame::from(s))
    }
}

impl From<String> for Msg {
    fn from(s: String) -> Self {
        Self::from(Frame::from(s))
    }
}

impl From<Vec<u8>> for Msg {
    fn from(v: Vec<u8>) -> Self {
        Self::from(Frame::from(v))
    }
}

impl<F: Into<Frame>, const N: usize> From<[F; N]> for Msg {
    fn from(v: [F; N]) -> Self {
        Self::from_frames(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_is_as_small_as_bytes() {
        // The inline variant must not make frames (and so messages) larger.
        assert_eq!(std::mem::size_of::<Frame>(), std::mem::size_of::<Bytes>());
    }

    #[test]
    fn inline_frames_hold_exactly_their_bytes() {
        let source: Vec<u8> = (1..=40).collect();
        for n in 0..=source.len() {
            let data = &source[..n];
            let frame = Frame::copy_from_slice(data);
            assert_eq!(frame.is_inline(), n <= INLINE_FRAME_BYTES, "length {n}");
            assert_eq!(&frame[..], data, "length {n}");
            assert_eq!(frame.len(), n);
            assert_eq!(frame.clone(), frame);
            assert_eq!(&frame.to_bytes()[..], data);
        }
        // Bytes past the end of a short frame never leak in (every byte value, every length).
        for n in 0..=INLINE_FRAME_BYTES {
            let data = vec![0xff; n];
            assert_eq!(&Frame::copy_from_slice(&data)[..], &data[..]);
        }
    }

    #[test]
    fn frames_compare_and_hash_by_content() {
        use std::collections::hash_map::DefaultHasher;
        let hash = |f: &dyn Fn(&mut DefaultHasher)| {
            let mut h = DefaultHasher::new();
            f(&mut h);
            h.finish()
        };
        let inline = Frame::copy_from_slice(b"identity");
        let shared = Frame::from(Bytes::from_static(b"identity"));
        assert!(inline.is_inline() && !shared.is_inline());
        assert_eq!(inline, shared);
        assert_eq!(hash(&|h| inline.hash(h)), hash(&|h| shared.hash(h)));
        assert_eq!(
            hash(&|h| inline.hash(h)),
            hash(&|h| b"identity"[..].hash(h))
        );
        assert_eq!(inline, "identity");
        assert_eq!(inline, b"identity");
        assert!(Frame::copy_from_slice(b"a") < Frame::copy_from_slice(b"b"));
        assert_eq!(format!("{:?}", Frame::copy_from_slice(b"a\n")), "b\"a\\n\"");
    }
}
