//! Multipart messages.
//!
//! A ZeroMQ message is one or more frames that travel atomically (RFC 23 §"Framing", checklist F4).
//! [`Msg`] stores the frames as [`Bytes`] in a small vector: messages of up to
//! [`INLINE_FRAMES`] frames need no heap allocation of their own, and cloning a message for
//! fan-out only bumps reference counts.

use bytes::Bytes;
use smallvec::SmallVec;

/// Number of frames a [`Msg`] stores inline before it spills to the heap.
pub const INLINE_FRAMES: usize = 3;

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
    frames: SmallVec<[Bytes; INLINE_FRAMES]>,
}

impl Msg {
    /// An empty message with no frames (not valid on the wire; push at least one frame).
    pub fn new() -> Self {
        Self::default()
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
        F: Into<Bytes>,
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
    pub fn push(&mut self, frame: impl Into<Bytes>) {
        self.frames.push(frame.into());
    }

    /// Inserts a frame in front of the others (used for ROUTER identities and envelopes).
    pub fn push_front(&mut self, frame: impl Into<Bytes>) {
        self.frames.insert(0, frame.into());
    }

    /// Removes and returns the first frame.
    pub fn pop_front(&mut self) -> Option<Bytes> {
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
    pub fn first(&self) -> Option<&Bytes> {
        self.frames.first()
    }

    /// The last frame, if any.
    pub fn last(&self) -> Option<&Bytes> {
        self.frames.last()
    }

    /// Total size of all frame bodies in bytes.
    pub fn byte_len(&self) -> usize {
        self.frames.iter().map(Bytes::len).sum()
    }

    /// Iterates over the frames.
    pub fn iter(&self) -> std::slice::Iter<'_, Bytes> {
        self.frames.iter()
    }

    /// The frames as a slice.
    pub fn frames(&self) -> &[Bytes] {
        &self.frames
    }

    /// Removes the first `n` frames and returns them as a message of their own.
    pub fn split_front(&mut self, n: usize) -> Self {
        let n = n.min(self.frames.len());
        let front = self.frames.drain(..n).collect();
        Self { frames: front }
    }

    /// Appends all frames of `other`, leaving the frames of `self` in front.
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

    /// Inserts all frames of `front` before the frames of `self`.
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
    pub(crate) fn prepend_frames(&mut self, front: &[Bytes]) {
        self.frames.insert_many(0, front.iter().cloned());
    }

    /// Removes all frames, keeping any spilled allocation for reuse.
    pub fn clear(&mut self) {
        self.frames.clear();
    }

    /// Consumes the message and returns its frames as a vector.
    pub fn into_vec(self) -> Vec<Bytes> {
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
    type Output = Bytes;
    fn index(&self, index: usize) -> &Bytes {
        &self.frames[index]
    }
}

impl<'a> IntoIterator for &'a Msg {
    type Item = &'a Bytes;
    type IntoIter = std::slice::Iter<'a, Bytes>;
    fn into_iter(self) -> Self::IntoIter {
        self.frames.iter()
    }
}

impl IntoIterator for Msg {
    type Item = Bytes;
    type IntoIter = smallvec::IntoIter<[Bytes; INLINE_FRAMES]>;
    fn into_iter(self) -> Self::IntoIter {
        self.frames.into_iter()
    }
}

impl<F: Into<Bytes>> FromIterator<F> for Msg {
    fn from_iter<T: IntoIterator<Item = F>>(iter: T) -> Self {
        Self::from_frames(iter)
    }
}

impl From<Bytes> for Msg {
    fn from(frame: Bytes) -> Self {
        let mut frames = SmallVec::new();
        frames.push(frame);
        Self { frames }
    }
}

impl From<&'static str> for Msg {
    fn from(s: &'static str) -> Self {
        Self::from(Bytes::from_static(s.as_bytes()))
    }
}

impl From<&'static [u8]> for Msg {
    fn from(s: &'static [u8]) -> Self {
        Self::from(Bytes::from_static(s))
    }
}

impl From<String> for Msg {
    fn from(s: String) -> Self {
        Self::from(Bytes::from(s))
    }
}

impl From<Vec<u8>> for Msg {
    fn from(v: Vec<u8>) -> Self {
        Self::from(Bytes::from(v))
    }
}

impl<F: Into<Bytes>, const N: usize> From<[F; N]> for Msg {
    fn from(v: [F; N]) -> Self {
        Self::from_frames(v)
    }
}
