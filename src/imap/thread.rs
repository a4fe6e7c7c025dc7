//! The THREAD algorithms (RFC 5256 §3), pure: messages in, a forest of message indexes out,
//! then the wire form (imap-types' `Thread`). A message is known by its index in the input,
//! which is in sequence-number order, so "ties broken by sequence number" is "by index".
//!
//! - ORDEREDSUBJECT: group by base subject; the oldest message of a group is the parent of all
//!   others; groups ordered by the date of their first message.
//! - REFERENCES: the full algorithm of §3: containers linked by References / In-Reply-To
//!   (no loops, first links kept, the message's own parent from its last reference), dummy
//!   containers pruned, siblings sorted by sent date, then root threads with the same base
//!   subject gathered under one parent or a dummy.
//! - REFS (Dovecot's variant, draft-ietf-morg-inthread): REFERENCES without subject
//!   gathering, and the threads ordered by their newest message.

use std::collections::HashMap;
use std::num::NonZeroU32;

use imap_codec::imap_types::core::{Vec1, Vec2};
use imap_codec::imap_types::extensions::thread::Thread;

/// How deep a thread may nest before the rest of it is flattened (see `Links::tree`).
pub const MAX_DEPTH: usize = 1000;

/// What threading needs of one message.
#[derive(Debug, Clone, Default)]
pub struct ThreadMsg<'a> {
    /// The sent date (INTERNALDATE when the Date header is missing or invalid).
    pub date: i64,
    /// The collated base subject.
    pub subject: &'a str,
    /// Whether the subject marked a reply or forward.
    pub reply: bool,
    pub message_id: Option<&'a str>,
    /// References, oldest first (In-Reply-To when there are none).
    pub references: Vec<&'a str>,
}

/// A thread node: a message (by index) or a dummy (`None`), and its children in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub msg: Option<usize>,
    pub children: Vec<Node>,
}

impl Node {
    fn leaf(i: usize) -> Node {
        Node {
            msg: Some(i),
            children: Vec::new(),
        }
    }

    /// The message that stands for this node when sorting and gathering: itself, or a
    /// dummy's first child (children already sorted).
    fn rep(&self) -> Option<usize> {
        match self.msg {
            Some(i) => Some(i),
            None => self.children.first().and_then(Node::rep),
        }
    }

    fn newest(&self, msgs: &[ThreadMsg<'_>]) -> (i64, usize) {
        let own = self.msg.map(|i| (msgs[i].date, i));
        self.children
            .iter()
            .map(|c| c.newest(msgs))
            .chain(own)
            .max()
            .unwrap_or((i64::MIN, 0))
    }
}

fn key(n: &Node, msgs: &[ThreadMsg<'_>]) -> (i64, usize) {
    n.rep().map(|i| (msgs[i].date, i)).unwrap_or((i64::MIN, 0))
}

/// Sort every set of siblings by sent date (children before parents), then the list itself.
fn sort_tree(nodes: &mut [Node], msgs: &[ThreadMsg<'_>]) {
    for n in nodes.iter_mut() {
        sort_tree(&mut n.children, msgs);
    }
    nodes.sort_by_key(|n| key(n, msgs));
}

/// THREAD=ORDEREDSUBJECT (RFC 5256 §3).
pub fn ordered_subject(msgs: &[ThreadMsg<'_>]) -> Vec<Node> {
    let mut order: Vec<usize> = (0..msgs.len()).collect();
    order.sort_by(|&a, &b| {
        (&msgs[a].subject, msgs[a].date, a).cmp(&(&msgs[b].subject, msgs[b].date, b))
    });
    let mut threads: Vec<Node> = Vec::new();
    let mut last: Option<&str> = None;
    for i in order {
        match threads.last_mut() {
            Some(t) if last == Some(msgs[i].subject) => t.children.push(Node::leaf(i)),
            _ => threads.push(Node::leaf(i)),
        }
        last = Some(msgs[i].subject);
    }
    threads.sort_by_key(|t| key(t, msgs));
    threads
}

/// The containers of step 1: a message or a dummy, with its links.
#[derive(Default)]
struct Container {
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

struct Links<'a> {
    c: Vec<Container>,
    ids: HashMap<&'a str, usize>,
}

impl<'a> Links<'a> {
    fn container(&mut self, id: &'a str) -> usize {
        // One hash of the id, found or not.
        let c = &mut self.c;
        *self.ids.entry(id).or_insert_with(|| {
            c.push(Container::default());
            c.len() - 1
        })
    }

    /// Whether `a` is `b` or one of its descendants (then linking b under a loops).
    fn is_descendant(&self, a: usize, b: usize) -> bool {
        let mut cur = Some(a);
        // Bounded: the links form a forest, so a walk up ends within `len` steps.
        for _ in 0..=self.c.len() {
            match cur {
                None => return false,
                Some(x) if x == b => return true,
                Some(x) => cur = self.c[x].parent,
            }
        }
        true
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.c[child].parent.take() {
            self.c[p].children.retain(|&x| x != child);
        }
    }

    /// Link `child` under `parent` unless that makes a loop.
    fn link(&mut self, parent: usize, child: usize) -> bool {
        // A child without children can only loop onto itself: skip the walk up (it makes
        // threading a long chain that arrives in order linear instead of quadratic).
        let lone = self.c[child].children.is_empty() && parent != child;
        if !lone && self.is_descendant(parent, child) {
            return false;
        }
        self.c[child].parent = Some(parent);
        self.c[parent].children.push(child);
        true
    }

    /// The subtree under container `i`. Below [`MAX_DEPTH`] levels the rest of a subtree is
    /// flattened into children of the node at that depth, so every later recursion (pruning,
    /// sorting, encoding, dropping) stays within a fixed stack depth whatever the mail says.
    fn tree(&self, i: usize, depth: usize) -> Node {
        let children = if depth >= MAX_DEPTH {
            let mut flat = Vec::new();
            let mut stack: Vec<usize> = self.c[i].children.clone();
            while let Some(k) = stack.pop() {
                flat.push(Node {
                    msg: self.c[k].msg,
                    children: Vec::new(),
                });
                stack.extend(self.c[k].children.iter().copied());
            }
            flat
        } else {
            self.c[i]
                .children
                .iter()
                .map(|&k| self.tree(k, depth + 1))
                .collect()
        };
        Node {
            msg: self.c[i].msg,
            children,
        }
    }
}

/// Steps 1 to 4 of REFERENCES: linked, pruned, sorted roots.
fn linked_roots<'a>(msgs: &[ThreadMsg<'a>]) -> Vec<Node> {
    let mut l = Links {
        c: Vec::with_capacity(msgs.len() * 2),
        ids: HashMap::with_capacity(msgs.len() * 2),
    };
    for (i, m) in msgs.iter().enumerate() {
        // (A) The message's own container; without a Message-ID, or with one an earlier
        // message already has, it gets a container of its own.
        let me = match m.message_id {
            Some(id) => {
                let c = l.container(id);
                if l.c[c].msg.is_some() {
                    l.c.push(Container::default());
                    l.c.len() - 1
                } else {
                    c
                }
            }
            None => {
                l.c.push(Container::default());
                l.c.len() - 1
            }
        };
        l.c[me].msg = Some(i);
        // (B) Link the references in order, keeping links that exist.
        let refs: Vec<usize> = m.references.iter().map(|&r| l.container(r)).collect();
        for w in refs.windows(2) {
            let (p, c) = (w[0], w[1]);
            if p != c && l.c[c].parent.is_none() {
                l.link(p, c);
            }
        }
        // (C) The message's parent is its last reference.
        if let Some(&last) = refs.last() {
            let loops = last == me || (!l.c[me].children.is_empty() && l.is_descendant(last, me));
            if l.c[me].parent != Some(last) && !loops {
                l.unlink(me);
                l.link(last, me);
            }
        }
    }
    // (2) The root set, (3) pruned.
    let roots: Vec<Node> = (0..l.c.len())
        .filter(|&i| l.c[i].parent.is_none())
        .map(|i| l.tree(i, 0))
        .collect();
    let mut roots = prune(roots, true);
    // (4) Sorted by sent date.
    sort_tree(&mut roots, msgs);
    roots
}

/// Step 3: dummies without children go; a dummy's children take its place, except that a
/// root dummy with several children stays.
fn prune(mut nodes: Vec<Node>, root: bool) -> Vec<Node> {
    if nodes.iter().all(|n| n.msg.is_some()) {
        // No dummy among them (most sets of siblings): pruned in place, nothing moved.
        for n in nodes.iter_mut() {
            if !n.children.is_empty() {
                n.children = prune(std::mem::take(&mut n.children), false);
            }
        }
        return nodes;
    }
    let mut out = Vec::with_capacity(nodes.len());
    for mut n in nodes {
        n.children = prune(std::mem::take(&mut n.children), false);
        if n.msg.is_some() || (root && n.children.len() > 1) {
            out.push(n);
        } else {
            out.extend(n.children);
        }
    }
    out
}

/// THREAD=REFERENCES (RFC 5256 §3).
pub fn references(msgs: &[ThreadMsg<'_>]) -> Vec<Node> {
    let roots = linked_roots(msgs);
    let mut roots = gather_subjects(roots, msgs);
    // (6) Siblings sorted again, then the root set.
    sort_tree(&mut roots, msgs);
    roots
}

/// THREAD=REFS: REFERENCES without step 5, threads ordered by their newest message.
pub fn refs(msgs: &[ThreadMsg<'_>]) -> Vec<Node> {
    let mut roots = linked_roots(msgs);
    // Each thread's newest message found once (a walk of the whole thread), not per comparison.
    roots.sort_by_cached_key(|n| n.newest(msgs));
    roots
}

/// Step 5: root threads with the same base subject gathered.
fn gather_subjects(roots: Vec<Node>, msgs: &[ThreadMsg<'_>]) -> Vec<Node> {
    let subj = |n: &Node| n.rep().map(|i| (msgs[i].subject, msgs[i].reply));
    // (A, B) The table: subject → the root that represents it.
    let mut table: HashMap<&str, usize> = HashMap::new();
    let keys: Vec<Option<(&str, bool)>> = roots.iter().map(subj).collect();
    for (k, n) in roots.iter().enumerate() {
        let Some((s, reply)) = keys[k] else { continue };
        if s.is_empty() {
            continue;
        }
        match table.get(s) {
            None => {
                table.insert(s, k);
            }
            Some(&t) => {
                let tn = &roots[t];
                let t_reply = keys[t].is_some_and(|(_, r)| r);
                if (n.msg.is_none() && tn.msg.is_some())
                    || (tn.msg.is_some() && n.msg.is_some() && t_reply && !reply)
                {
                    table.insert(s, k);
                }
            }
        }
    }
    // (C) Merge every other root with that subject into the table's.
    // The roots move into slots (no copy): a root's own subject is read from `keys`, which
    // stays true for every root that is not a merge target, the only ones taken below.
    let mut slots: Vec<Option<Node>> = roots.into_iter().map(Some).collect();
    for (k, key) in keys.iter().enumerate() {
        let Some((s, reply)) = *key else { continue };
        if s.is_empty() {
            continue;
        }
        let Some(&t) = table.get(s) else { continue };
        if t == k {
            continue;
        }
        let (Some(mine), Some(theirs)) = (slots[k].take(), slots[t].take()) else {
            continue;
        };
        let merged = match (theirs.msg, mine.msg) {
            (None, None) => {
                let mut d = theirs;
                d.children.extend(mine.children);
                d
            }
            (None, Some(_)) => {
                let mut d = theirs;
                d.children.push(mine);
                d
            }
            (Some(_), Some(_)) if reply && !subj(&theirs).is_some_and(|(_, r)| r) => {
                let mut p = theirs;
                p.children.push(mine);
                p
            }
            (Some(_), None) => {
                let mut d = mine;
                d.children.push(theirs);
                d
            }
            (Some(_), Some(_)) => Node {
                msg: None,
                children: vec![theirs, mine],
            },
        };
        slots[t] = Some(merged);
    }
    slots.into_iter().flatten().collect()
}

/// The wire form of a forest: numbers from `number(index)`.
pub fn to_wire(nodes: &[Node], number: &dyn Fn(usize) -> Option<NonZeroU32>) -> Vec<Thread> {
    nodes.iter().filter_map(|n| wire(n, number)).collect()
}

fn wire(n: &Node, number: &dyn Fn(usize) -> Option<NonZeroU32>) -> Option<Thread> {
    let Some(first) = n.msg.and_then(number) else {
        // A dummy: its children side by side.
        let kids: Vec<Thread> = n.children.iter().filter_map(|c| wire(c, number)).collect();
        return match kids.len() {
            0 => None,
            1 => kids.into_iter().next(),
            _ => Some(Thread::Nested {
                answers: Vec2::unvalidated(kids),
            }),
        };
    };
    // A chain of only children is written as one run of numbers.
    let mut prefix = vec![first];
    let mut cur = n;
    while let [only] = cur.children.as_slice() {
        match only.msg.and_then(number) {
            Some(x) => {
                prefix.push(x);
                cur = only;
            }
            None => break,
        }
    }
    let kids: Vec<Thread> = cur
        .children
        .iter()
        .filter_map(|c| wire(c, number))
        .collect();
    let answers = match kids.len() {
        0 => None,
        1 => {
            // Only a dummy child can get here: its single thread continues the chain.
            return Some(match kids.into_iter().next() {
                Some(Thread::Members {
                    prefix: more,
                    answers,
                }) => {
                    prefix.extend(more.into_inner());
                    Thread::Members {
                        prefix: Vec1::unvalidated(prefix),
                        answers,
                    }
                }
                Some(Thread::Nested { answers }) => Thread::Members {
                    prefix: Vec1::unvalidated(prefix),
                    answers: Some(answers),
                },
                None => Thread::Members {
                    prefix: Vec1::unvalidated(prefix),
                    answers: None,
                },
            });
        }
        _ => Some(Vec2::unvalidated(kids)),
    };
    Some(Thread::Members {
        prefix: Vec1::unvalidated(prefix),
        answers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m<'a>(date: i64, subject: &'a str, id: Option<&'a str>, refs: &[&'a str]) -> ThreadMsg<'a> {
        ThreadMsg {
            date,
            subject,
            reply: false,
            message_id: id,
            references: refs.to_vec(),
        }
    }

    fn text(nodes: &[Node]) -> String {
        let number = |i: usize| NonZeroU32::new(i as u32 + 1);
        to_wire(nodes, &number)
            .iter()
            .map(|t| t.to_string())
            .collect()
    }

    #[test]
    fn references_cycles_and_self_references_do_not_loop() {
        let msgs = [
            m(1, "a", Some("a@x"), &["c@x", "b@x"]),
            m(2, "b", Some("b@x"), &["a@x"]),
            m(3, "c", Some("c@x"), &["b@x", "c@x"]),
            m(4, "d", Some("d@x"), &["d@x"]),
        ];
        // c → b (from 1), b → a (1's parent); 2 and 3 would close loops: kept as they were.
        assert_eq!(text(&references(&msgs)), "(3 2 1)(4)");
    }

    #[test]
    fn dummy_with_one_child_is_promoted_to_the_root() {
        let msgs = [m(1, "x", Some("b@x"), &["gone@x"])];
        assert_eq!(text(&references(&msgs)), "(1)");
        let msgs = [
            m(2, "x", Some("b@x"), &["gone@x"]),
            m(1, "y", Some("c@x"), &["gone@x"]),
        ];
        assert_eq!(text(&references(&msgs)), "((2)(1))");
    }

    #[test]
    fn a_very_long_chain_is_flattened_below_the_depth_cap() {
        let n = 20_000;
        let ids: Vec<String> = (0..n).map(|i| format!("{i}@x")).collect();
        let msgs: Vec<ThreadMsg> = (0..n)
            .map(|i| ThreadMsg {
                date: i as i64,
                subject: "s",
                reply: i > 0,
                message_id: Some(&ids[i]),
                references: if i > 0 { vec![&ids[i - 1]] } else { vec![] },
            })
            .collect();
        for forest in [references(&msgs), refs(&msgs)] {
            assert_eq!(forest.len(), 1);
            let wire = text(&forest);
            // Every message once: a chain of MAX_DEPTH + 1, then the rest side by side.
            let numbers = wire
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty())
                .count();
            assert_eq!(numbers, n);
        }
        // In-order chains stay linear: this finishes at once, not in n² steps.
    }
}
