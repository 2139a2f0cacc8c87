//! A prefix trie of subscriptions with reference counts (checklist S1).
//!
//! Subscriptions are additive: subscribing to "A" twice needs two cancellations. Each node keeps
//! a count per subscriber key; matching walks the message's first frame once, visiting every node
//! on its path, so the cost is the length of the topic plus the number of matches, however many
//! subscriptions exist. Nodes left empty by a cancellation are freed, so memory follows the live
//! subscriptions.

/// A subscription trie keyed by subscriber `K` (a peer for PUB/XPUB, `()` for SUB/XSUB).
///
/// ```
/// use zmtp_proto::socket::SubscriptionTrie;
///
/// let mut t = SubscriptionTrie::new();
/// assert!(t.add(b"A", 1u32));    // first subscription to "A"
/// assert!(!t.add(b"A", 2u32));   // "A" already had a subscriber
/// let mut hits = Vec::new();
/// t.matches(b"ABC", |k| hits.push(k));
/// hits.sort();
/// assert_eq!(hits, [1, 2]);
/// assert_eq!(t.remove(b"A", 1), Some(false)); // still subscribed by 2
/// assert_eq!(t.remove(b"A", 2), Some(true));  // last one gone
/// assert_eq!(t.remove(b"A", 2), None);        // no such subscription
/// ```
#[derive(Debug, Clone)]
pub struct SubscriptionTrie<K> {
    nodes: Vec<Node<K>>,
    free: Vec<u32>,
    len: usize,
}

#[derive(Debug, Clone)]
struct Node<K> {
    children: Vec<(u8, u32)>,
    subs: Vec<(K, u32)>,
}

impl<K> Node<K> {
    fn empty() -> Self {
        Self {
            children: Vec::new(),
            subs: Vec::new(),
        }
    }
}

const ROOT: u32 = 0;

impl<K: Copy + Eq> Default for SubscriptionTrie<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Copy + Eq> SubscriptionTrie<K> {
    /// An empty trie.
    pub fn new() -> Self {
        Self {
            nodes: vec![Node::empty()],
            free: Vec::new(),
            len: 0,
        }
    }

    /// Number of subscriptions (with repetitions).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there are no subscriptions.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn child(&self, node: u32, byte: u8) -> Option<u32> {
        let children = &self.nodes[node as usize].children;
        children
            .binary_search_by_key(&byte, |&(b, _)| b)
            .ok()
            .map(|i| children[i].1)
    }

    fn find(&self, topic: &[u8]) -> Option<u32> {
        let mut node = ROOT;
        for &b in topic {
            node = self.child(node, b)?;
        }
        Some(node)
    }

    fn alloc(&mut self) -> u32 {
        if let Some(i) = self.free.pop() {
            i
        } else {
            self.nodes.push(Node::empty());
            (self.nodes.len() - 1) as u32
        }
    }

    /// Adds one subscription of `key` to `topic`. Returns true if `topic` had no subscriber
    /// before (what XPUB reports without `xpub_verbose`).
    pub fn add(&mut self, topic: &[u8], key: K) -> bool {
        let mut node = ROOT;
        for &b in topic {
            node = match self.child(node, b) {
                Some(n) => n,
                None => {
                    let n = self.alloc();
                    let children = &mut self.nodes[node as usize].children;
                    let at = children.partition_point(|&(c, _)| c < b);
                    children.insert(at, (b, n));
                    n
                }
            };
        }
        self.len += 1;
        let subs = &mut self.nodes[node as usize].subs;
        let first = subs.is_empty();
        match subs.iter_mut().find(|(k, _)| *k == key) {
            Some((_, count)) => *count += 1,
            None => subs.push((key, 1)),
        }
        first
    }

    /// Removes one subscription of `key` to `topic`. Returns `None` if there was none,
    /// `Some(true)` if `topic` now has no subscriber at all.
    pub fn remove(&mut self, topic: &[u8], key: K) -> Option<bool> {
        let node = self.find(topic)?;
        let subs = &mut self.nodes[node as usize].subs;
        let i = subs.iter().position(|(k, _)| *k == key)?;
        subs[i].1 -= 1;
        if subs[i].1 == 0 {
            subs.swap_remove(i);
        }
        self.len -= 1;
        let last = subs.is_empty();
        if last {
            self.prune(topic);
        }
        Some(last)
    }

    /// True if `key` holds a subscription to exactly `topic`.
    pub fn contains(&self, topic: &[u8], key: K) -> bool {
        self.find(topic)
            .is_some_and(|n| self.nodes[n as usize].subs.iter().any(|(k, _)| *k == key))
    }

    /// Removes every subscription of `key`; calls `gone` with each topic that has no
    /// subscriber left (XPUB reports these as unsubscriptions when a peer goes away, S4).
    pub fn remove_key(&mut self, key: K, mut gone: impl FnMut(&[u8])) {
        self.remove_key_with(key, |topic, last| {
            if last {
                gone(topic);
            }
        });
    }

    /// Removes every subscription of `key`; calls `f` with each of its topics and whether
    /// that topic has no subscriber left (XPUB with `xpub_verboser` reports them all).
    pub fn remove_key_with(&mut self, key: K, mut f: impl FnMut(&[u8], bool)) {
        let mut removed = Vec::new();
        let mut path = Vec::new();
        self.collect_key(ROOT, key, &mut path, &mut removed);
        for (topic, last) in removed {
            if last {
                self.prune(&topic);
            }
            f(&topic, last);
        }
    }

    fn collect_key(
        &mut self,
        node: u32,
        key: K,
        path: &mut Vec<u8>,
        removed: &mut Vec<(Vec<u8>, bool)>,
    ) {
        let subs = &mut self.nodes[node as usize].subs;
        if let Some(i) = subs.iter().position(|(k, _)| *k == key) {
            self.len -= subs[i].1 as usize;
            subs.swap_remove(i);
            removed.push((path.clone(), subs.is_empty()));
        }
        let children = self.nodes[node as usize].children.clone();
        for (b, child) in children {
            path.push(b);
            self.collect_key(child, key, path, removed);
            path.pop();
        }
    }

    /// Frees the nodes on `topic`'s path that hold nothing any more.
    fn prune(&mut self, topic: &[u8]) {
        let mut path = Vec::with_capacity(topic.len() + 1);
        let mut node = ROOT;
        path.push(node);
        for &b in topic {
            match self.child(node, b) {
                Some(n) => node = n,
                None => return,
            }
            path.push(node);
        }
        for depth in (1..path.len()).rev() {
            let n = path[depth];
            let nd = &self.nodes[n as usize];
            if !nd.subs.is_empty() || !nd.children.is_empty() {
                break;
            }
            let parent = &mut self.nodes[path[depth - 1] as usize].children;
            let byte = topic[depth - 1];
            if let Ok(i) = parent.binary_search_by_key(&byte, |&(c, _)| c) {
                parent.remove(i);
            }
            self.free.push(n);
        }
    }

    /// Calls `f` with the key of every subscription that is a prefix of `data`. A key subscribed
    /// to several matching prefixes is reported once per prefix.
    pub fn matches(&self, data: &[u8], mut f: impl FnMut(K)) {
        let mut node = ROOT;
        let mut i = 0;
        loop {
            for &(k, _) in &self.nodes[node as usize].subs {
                f(k);
            }
            let Some(&b) = data.get(i) else { return };
            match self.child(node, b) {
                Some(n) => node = n,
                None => return,
            }
            i += 1;
        }
    }

    /// True if any subscription is a prefix of `data`.
    #[inline]
    pub fn is_match(&self, data: &[u8]) -> bool {
        let mut node = ROOT;
        for &b in data {
            if !self.nodes[node as usize].subs.is_empty() {
                return true;
            }
            match self.child(node, b) {
                Some(n) => node = n,
                None => return false,
            }
        }
        !self.nodes[node as usize].subs.is_empty()
    }

    /// Calls `f` once with every distinct subscribed topic (used to re-send subscriptions on a
    /// new connection, S3).
    pub fn for_each_topic(&self, mut f: impl FnMut(&[u8])) {
        let mut path = Vec::new();
        self.walk(ROOT, &mut path, &mut f);
    }

    fn walk(&self, node: u32, path: &mut Vec<u8>, f: &mut impl FnMut(&[u8])) {
        if !self.nodes[node as usize].subs.is_empty() {
            f(path);
        }
        for &(b, child) in &self.nodes[node as usize].children {
            path.push(b);
            self.walk(child, path, f);
            path.pop();
        }
    }

    /// Number of live nodes (for memory checks).
    pub fn node_count(&self) -> usize {
        self.nodes.len() - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checklist S1: the empty subscription matches everything; "" + "A" behaves like "".
    #[test]
    fn empty_subscription_matches_all() {
        let mut t = SubscriptionTrie::new();
        t.add(b"", ());
        assert!(t.is_match(b""));
        assert!(t.is_match(b"anything"));
        t.add(b"A", ());
        t.remove(b"", ());
        assert!(!t.is_match(b"B"));
        assert!(t.is_match(b"AB"));
    }

    /// Checklist S1: subscriptions are additive, "A"+"A" needs two cancels.
    #[test]
    fn additive_subscriptions() {
        let mut t = SubscriptionTrie::new();
        t.add(b"A", ());
        t.add(b"A", ());
        assert_eq!(t.remove(b"A", ()), Some(false));
        assert!(t.is_match(b"A"));
        assert_eq!(t.remove(b"A", ()), Some(true));
        assert!(!t.is_match(b"A"));
        assert_eq!(t.node_count(), 1, "nodes are freed");
    }

    #[test]
    fn remove_key_reports_emptied_topics() {
        let mut t = SubscriptionTrie::new();
        t.add(b"x", 1);
        t.add(b"xy", 1);
        t.add(b"xy", 2);
        t.add(b"z", 1);
        let mut gone = Vec::new();
        t.remove_key(1, |topic| gone.push(topic.to_vec()));
        gone.sort();
        assert_eq!(gone, vec![b"x".to_vec(), b"z".to_vec()]);
        assert_eq!(t.len(), 1);
        let mut hits = Vec::new();
        t.matches(b"xyz", |k| hits.push(k));
        assert_eq!(hits, [2]);
        let mut topics = Vec::new();
        t.for_each_topic(|tp| topics.push(tp.to_vec()));
        assert_eq!(topics, vec![b"xy".to_vec()]);
    }
}
