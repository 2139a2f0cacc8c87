//! A prefix trie of subscriptions with reference counts (checklist S1).
//!
//! Subscriptions are additive: subscribing to "A" twice needs two cancellations. Each node keeps
//! a count per subscriber key; matching walks the message's first frame once, visiting every node
//! on its path, so the cost is the length of the topic plus the number of matches, however many
//! subscriptions exist.
//!
//! The trie is a radix tree: an edge carries the run of bytes up to the next branch or
//! subscription, so a topic costs one node and its distinct suffix, not a node per byte (a
//! million random 32-byte topics take about 150 MB instead of 2.7 GB: `docs/reliability.md`).
//! Nodes left empty by a cancellation are freed and a node left with one child and no
//! subscription is merged into it, so memory follows the live subscriptions.

/// A subscription trie keyed by subscriber `K` (a peer for PUB/XPUB, `()` for SUB/XSUB).
/// `add` and `remove` tell whether a topic gained its first or lost its last subscriber
/// (test `add_remove_report_first_and_last`).
#[derive(Debug, Clone)]
pub(crate) struct SubscriptionTrie<K> {
    nodes: Vec<Node<K>>,
    free: Vec<u32>,
    len: usize,
}

#[derive(Debug, Clone)]
struct Node<K> {
    /// The bytes on the edge from the parent (empty for the root).
    label: Box<[u8]>,
    /// Children by the first byte of their label, sorted.
    children: Vec<(u8, u32)>,
    subs: Vec<(K, u32)>,
}

impl<K> Node<K> {
    fn new(label: &[u8]) -> Self {
        Self {
            label: label.into(),
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

/// The length of the common prefix of `a` and `b`.
fn common(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl<K: Copy + Eq> SubscriptionTrie<K> {
    /// An empty trie.
    pub(crate) fn new() -> Self {
        Self {
            nodes: vec![Node::new(b"")],
            free: Vec::new(),
            len: 0,
        }
    }

    /// Number of subscriptions (with repetitions).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn node(&self, n: u32) -> &Node<K> {
        &self.nodes[n as usize]
    }

    fn node_mut(&mut self, n: u32) -> &mut Node<K> {
        &mut self.nodes[n as usize]
    }

    /// The child of `node` whose label starts with `byte`, and its position among the children.
    fn child(&self, node: u32, byte: u8) -> Result<(usize, u32), usize> {
        let children = &self.node(node).children;
        children
            .binary_search_by_key(&byte, |&(b, _)| b)
            .map(|i| (i, children[i].1))
    }

    /// The child of `node` that `rest` continues into, if its whole label matches.
    fn step(&self, node: u32, rest: &[u8]) -> Option<u32> {
        let (_, c) = self.child(node, *rest.first()?).ok()?;
        rest.starts_with(&self.node(c).label).then_some(c)
    }

    /// The nodes from the root to the node of exactly `topic`, if it exists.
    fn path(&self, topic: &[u8]) -> Option<Vec<u32>> {
        let mut path = vec![ROOT];
        let mut rest = topic;
        while !rest.is_empty() {
            let c = self.step(*path.last().expect("root"), rest)?;
            rest = &rest[self.node(c).label.len()..];
            path.push(c);
        }
        Some(path)
    }

    fn find(&self, topic: &[u8]) -> Option<u32> {
        let mut node = ROOT;
        let mut rest = topic;
        while !rest.is_empty() {
            node = self.step(node, rest)?;
            rest = &rest[self.node(node).label.len()..];
        }
        Some(node)
    }

    fn alloc(&mut self, node: Node<K>) -> u32 {
        if let Some(i) = self.free.pop() {
            self.nodes[i as usize] = node;
            i
        } else {
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        }
    }

    fn release(&mut self, n: u32) {
        // Drop the node's allocations now; the slot is reused by the next `alloc`.
        self.nodes[n as usize] = Node::new(b"");
        self.free.push(n);
    }

    /// The node of exactly `topic`, made if missing (splitting an edge where `topic` ends or
    /// branches inside it).
    fn make(&mut self, topic: &[u8]) -> u32 {
        let mut node = ROOT;
        let mut rest = topic;
        while let Some(&first) = rest.first() {
            let (at, c) = match self.child(node, first) {
                Ok(found) => found,
                Err(at) => {
                    let leaf = self.alloc(Node::new(rest));
                    self.node_mut(node).children.insert(at, (first, leaf));
                    return leaf;
                }
            };
            let label_len = self.node(c).label.len();
            let shared = common(&self.node(c).label, rest);
            if shared == label_len {
                node = c;
                rest = &rest[shared..];
                continue;
            }
            // Split the edge to `c` after `shared` bytes.
            let label = std::mem::take(&mut self.node_mut(c).label);
            self.node_mut(c).label = label[shared..].into();
            let mut mid = Node::new(&label[..shared]);
            mid.children.push((label[shared], c));
            let mid = self.alloc(mid);
            self.node_mut(node).children[at].1 = mid;
            if shared == rest.len() {
                return mid;
            }
            let leaf = self.alloc(Node::new(&rest[shared..]));
            let children = &mut self.node_mut(mid).children;
            let pos = children.partition_point(|&(b, _)| b < rest[shared]);
            children.insert(pos, (rest[shared], leaf));
            return leaf;
        }
        node
    }

    /// Adds one subscription of `key` to `topic`. Returns true if `topic` had no subscriber
    /// before (what XPUB reports without `xpub_verbose`).
    pub(crate) fn add(&mut self, topic: &[u8], key: K) -> bool {
        let node = self.make(topic);
        self.len += 1;
        let subs = &mut self.node_mut(node).subs;
        let first = subs.is_empty();
        match subs.iter_mut().find(|(k, _)| *k == key) {
            Some((_, count)) => *count += 1,
            None => subs.push((key, 1)),
        }
        first
    }

    /// Removes one subscription of `key` to `topic`. Returns `None` if there was none,
    /// `Some(true)` if `topic` now has no subscriber at all.
    pub(crate) fn remove(&mut self, topic: &[u8], key: K) -> Option<bool> {
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
    pub(crate) fn contains(&self, topic: &[u8], key: K) -> bool {
        self.find(topic)
            .is_some_and(|n| self.node(n).subs.iter().any(|(k, _)| *k == key))
    }

    /// Removes every subscription of `key`; calls `gone` with each topic that has no
    /// subscriber left (XPUB reports these as unsubscriptions when a peer goes away, S4).
    #[cfg(test)]
    pub(crate) fn remove_key(&mut self, key: K, mut gone: impl FnMut(&[u8])) {
        self.remove_key_with(key, |topic, last| {
            if last {
                gone(topic);
            }
        });
    }

    /// Removes every subscription of `key`; calls `f` with each of its topics and whether
    /// that topic has no subscriber left (XPUB with `xpub_verboser` reports them all).
    pub(crate) fn remove_key_with(&mut self, key: K, mut f: impl FnMut(&[u8], bool)) {
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
        for i in 0..self.node(node).children.len() {
            let child = self.node(node).children[i].1;
            let len = path.len();
            path.extend_from_slice(&self.node(child).label);
            self.collect_key(child, key, path, removed);
            path.truncate(len);
        }
    }

    /// Restores the radix shape on `topic`'s path after its node lost its last subscriber:
    /// a node with no subscriber and no child goes, one with no subscriber and one child is
    /// merged into that child.
    fn prune(&mut self, topic: &[u8]) {
        let Some(path) = self.path(topic) else { return };
        for depth in (1..path.len()).rev() {
            let n = path[depth];
            let parent = path[depth - 1];
            let node = self.node(n);
            if !node.subs.is_empty() {
                return;
            }
            match node.children.len() {
                0 => {
                    let first = node.label[0];
                    let at = self.child(parent, first).expect("listed").0;
                    self.node_mut(parent).children.remove(at);
                    self.release(n);
                    // The parent may now be empty, or a pass-through: go on up.
                }
                1 => {
                    let (_, only) = node.children[0];
                    let mut label = node.label.to_vec();
                    label.extend_from_slice(&self.node(only).label);
                    let merged = Node {
                        label: label.into(),
                        children: std::mem::take(&mut self.node_mut(only).children),
                        subs: std::mem::take(&mut self.node_mut(only).subs),
                    };
                    self.nodes[n as usize] = merged;
                    self.release(only);
                    return;
                }
                _ => return,
            }
        }
    }

    /// Calls `f` with the key of every subscription that is a prefix of `data`. A key subscribed
    /// to several matching prefixes is reported once per prefix.
    pub(crate) fn matches(&self, data: &[u8], mut f: impl FnMut(K)) {
        let mut node = ROOT;
        let mut rest = data;
        loop {
            for &(k, _) in &self.node(node).subs {
                f(k);
            }
            match self.step(node, rest) {
                Some(c) => {
                    rest = &rest[self.node(c).label.len()..];
                    node = c;
                }
                None => return,
            }
        }
    }

    /// True if any subscription is a prefix of `data`.
    #[inline]
    pub(crate) fn is_match(&self, data: &[u8]) -> bool {
        let mut node = ROOT;
        let mut rest = data;
        loop {
            if !self.node(node).subs.is_empty() {
                return true;
            }
            match self.step(node, rest) {
                Some(c) => {
                    rest = &rest[self.node(c).label.len()..];
                    node = c;
                }
                None => return false,
            }
        }
    }

    /// Calls `f` once with every distinct subscribed topic (used to re-send subscriptions on a
    /// new connection, S3).
    pub(crate) fn for_each_topic(&self, mut f: impl FnMut(&[u8])) {
        let mut path = Vec::new();
        self.walk(ROOT, &mut path, &mut f);
    }

    fn walk(&self, node: u32, path: &mut Vec<u8>, f: &mut impl FnMut(&[u8])) {
        if !self.node(node).subs.is_empty() {
            f(path);
        }
        for &(_, child) in &self.node(node).children {
            let len = path.len();
            path.extend_from_slice(&self.node(child).label);
            self.walk(child, path, f);
            path.truncate(len);
        }
    }

    /// Number of live nodes (for memory checks).
    #[cfg(test)]
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len() - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_remove_report_first_and_last() {
        let mut t = SubscriptionTrie::new();
        assert!(t.add(b"A", 1u32)); // first subscription to "A"
        assert!(!t.add(b"A", 2u32)); // "A" already had a subscriber
        let mut hits = Vec::new();
        t.matches(b"ABC", |k| hits.push(k));
        hits.sort();
        assert_eq!(hits, [1, 2]);
        assert_eq!(t.remove(b"A", 1), Some(false)); // still subscribed by 2
        assert_eq!(t.remove(b"A", 2), Some(true)); // last one gone
        assert_eq!(t.remove(b"A", 2), None); // no such subscription
    }

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

    /// Every node but the root holds a subscription or branches: the radix shape.
    fn assert_compressed<K: Copy + Eq>(t: &SubscriptionTrie<K>) {
        let mut live = 1;
        let mut stack = vec![ROOT];
        while let Some(n) = stack.pop() {
            let node = t.node(n);
            if n != ROOT {
                live += 1;
                assert!(!node.label.is_empty());
                assert!(
                    !node.subs.is_empty() || node.children.len() >= 2,
                    "a pass-through node"
                );
            }
            for w in node.children.windows(2) {
                assert!(w[0].0 < w[1].0, "children sorted by first byte");
            }
            for &(b, c) in &node.children {
                assert_eq!(t.node(c).label[0], b);
                stack.push(c);
            }
        }
        assert_eq!(live, t.node_count());
    }

    #[test]
    fn edges_split_and_merge() {
        let mut t = SubscriptionTrie::new();
        t.add(b"topic/a", 1);
        assert_eq!(t.node_count(), 2, "one node for the whole topic");
        t.add(b"topic/b", 1);
        t.add(b"top", 2);
        assert_compressed(&t);
        let mut hits = Vec::new();
        t.matches(b"topic/a/x", |k| hits.push(k));
        hits.sort();
        assert_eq!(hits, [1, 2]);
        assert!(!t.is_match(b"to"));
        assert!(t.is_match(b"topi"));
        assert!(!t.contains(b"topic/", 1));
        t.remove(b"topic/b", 1);
        t.remove(b"top", 2);
        assert_compressed(&t);
        assert_eq!(t.node_count(), 2, "merged back into one edge");
        assert!(t.is_match(b"topic/a"));
        assert!(!t.is_match(b"topic/b"));
    }

    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Op {
        Add(Vec<u8>, u8),
        Remove(Vec<u8>, u8),
        RemoveKey(u8),
    }

    fn topic() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(0u8..3, 0..6)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (topic(), 0u8..3).prop_map(|(t, k)| Op::Add(t, k)),
            3 => (topic(), 0u8..3).prop_map(|(t, k)| Op::Remove(t, k)),
            1 => (0u8..3).prop_map(Op::RemoveKey),
        ]
    }

    proptest! {
        /// The trie answers as a plain map of (topic, key) → count does, and keeps its radix
        /// shape, through any sequence of adds, removes and key removals.
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec(op(), 0..60),
                              probe in proptest::collection::vec(0u8..3, 0..8)) {
            let mut t = SubscriptionTrie::new();
            let mut model: BTreeMap<(Vec<u8>, u8), u32> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Add(topic, k) => {
                        let first = !model.keys().any(|(t, _)| *t == topic);
                        prop_assert_eq!(t.add(&topic, k), first);
                        *model.entry((topic, k)).or_default() += 1;
                    }
                    Op::Remove(topic, k) => {
                        let want = match model.get_mut(&(topic.clone(), k)) {
                            None => None,
                            Some(c) => {
                                *c -= 1;
                                if *c == 0 {
                                    model.remove(&(topic.clone(), k));
                                }
                                Some(!model.keys().any(|(t, _)| *t == topic))
                            }
                        };
                        prop_assert_eq!(t.remove(&topic, k), want);
                    }
                    Op::RemoveKey(k) => {
                        let mut gone = Vec::new();
                        t.remove_key(k, |topic| gone.push(topic.to_vec()));
                        model.retain(|(_, key), _| *key != k);
                        for topic in gone {
                            prop_assert!(!model.keys().any(|(t, _)| *t == topic));
                        }
                    }
                }
                assert_compressed(&t);
                prop_assert_eq!(t.len(), model.values().map(|&c| c as usize).sum::<usize>());
            }
            let mut hits = Vec::new();
            t.matches(&probe, |k| hits.push(k));
            hits.sort_unstable();
            let mut want: Vec<u8> = model
                .keys()
                .filter(|(topic, _)| probe.starts_with(topic))
                .map(|&(_, k)| k)
                .collect();
            want.sort_unstable();
            prop_assert_eq!(&hits, &want);
            prop_assert_eq!(t.is_match(&probe), !want.is_empty());
            let mut topics = Vec::new();
            t.for_each_topic(|tp| topics.push(tp.to_vec()));
            topics.sort();
            let mut want_topics: Vec<Vec<u8>> = model.keys().map(|(t, _)| t.clone()).collect();
            want_topics.dedup();
            prop_assert_eq!(topics, want_topics);
            for (topic, k) in model.keys() {
                prop_assert!(t.contains(topic, *k));
            }
        }
    }
}
