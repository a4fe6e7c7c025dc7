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
//!
//! Everything is index-based, in a few flat vectors: Message-IDs and base subjects come in as
//! numbers (the sort cache assigns them once per folder), containers and tree nodes are
//! indexes with parent links, and each node's children are put in order once, at the end, by
//! one walk of the messages in date order (see [`Forest::build`]); nothing is allocated per
//! message or node, and nothing recurses over the tree except the wire form.

use std::num::NonZeroU32;

use imap_codec::imap_types::core::{Vec1, Vec2};
use imap_codec::imap_types::extensions::thread::Thread;

/// How deep a thread may nest before the rest of it is flattened: a message more than this
/// many containers below its root hangs from its ancestor at this depth (the order of
/// siblings is by date as everywhere), so the wire form's recursion stays bounded whatever
/// the mail says.
pub const MAX_DEPTH: usize = 1000;

/// "No node" in the index vectors.
const NONE: u32 = u32::MAX;

/// What threading needs of one message.
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadMsg<'a> {
    /// The sent date (INTERNALDATE when the Date header is missing or invalid).
    pub date: i64,
    /// The base subject as a number: equal base subjects, equal numbers.
    pub subject: u32,
    /// Whether the base subject is empty (such messages are never gathered).
    pub no_subject: bool,
    /// Whether the subject marked a reply or forward.
    pub reply: bool,
    /// The Message-ID as a number (equal Message-IDs, equal numbers; shared with
    /// `references`).
    pub message_id: Option<u32>,
    /// References, oldest first (In-Reply-To when there are none), as numbers.
    pub references: &'a [u32],
}

/// A thread forest: nodes `0..msgs` are the messages (by index), the others dummies; each
/// node's children, and the roots, as linked lists in order.
#[derive(Debug)]
pub struct Forest {
    msgs: usize,
    first: Vec<u32>,
    next: Vec<u32>,
    root: u32,
}

impl Forest {
    /// The forest whose node `x` hangs from `parent[x]` (`NONE`: a root); nodes `0..n` are the
    /// messages, `order` all of them by (date, index). Siblings come in the order of their
    /// message, a dummy in that of its first child; a dummy without children is left out.
    fn build(n: usize, parent: &[u32], order: &[u32]) -> Forest {
        let nodes = parent.len();
        let up = |x: u32| parent[x as usize];
        // The first child (in date order) of each dummy: where the dummy itself stands.
        let mut rep = vec![NONE; nodes - n];
        let mut rep_of = vec![NONE; n];
        for &m in order {
            let p = up(m);
            if p != NONE && p as usize >= n && rep[p as usize - n] == NONE {
                rep[p as usize - n] = m;
                rep_of[m as usize] = p;
            }
        }
        // Prepending in reverse order leaves every list in order.
        let mut first = vec![NONE; nodes];
        let mut next = vec![NONE; nodes];
        let mut root = NONE;
        let mut prepend = |x: u32, first: &mut Vec<u32>, root: &mut u32| {
            let head = match up(x) {
                NONE => root,
                p => &mut first[p as usize],
            };
            next[x as usize] = *head;
            *head = x;
        };
        for &m in order.iter().rev() {
            prepend(m, &mut first, &mut root);
            if rep_of[m as usize] != NONE {
                prepend(rep_of[m as usize], &mut first, &mut root);
            }
        }
        Forest {
            msgs: n,
            first,
            next,
            root,
        }
    }

    fn msg(&self, x: u32) -> Option<usize> {
        ((x as usize) < self.msgs).then_some(x as usize)
    }

    /// The nodes of a list from its head.
    fn list(&self, head: u32) -> impl Iterator<Item = u32> + '_ {
        std::iter::successors((head != NONE).then_some(head), move |&x| {
            let n = self.next[x as usize];
            (n != NONE).then_some(n)
        })
    }

    fn children(&self, x: u32) -> impl Iterator<Item = u32> + '_ {
        self.list(self.first[x as usize])
    }

    fn roots(&self) -> impl Iterator<Item = u32> + '_ {
        self.list(self.root)
    }

    /// How many roots (threads) there are.
    pub fn len(&self) -> usize {
        self.roots().count()
    }

    pub fn is_empty(&self) -> bool {
        self.root == NONE
    }
}

/// The messages' indexes by (date, index): the order of siblings and of threads.
fn date_order(msgs: &[ThreadMsg<'_>]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..msgs.len() as u32).collect();
    order.sort_unstable_by_key(|&i| (msgs[i as usize].date, i));
    order
}

/// One past the highest subject number.
fn subjects(msgs: &[ThreadMsg<'_>]) -> usize {
    msgs.iter()
        .map(|m| m.subject as usize + 1)
        .max()
        .unwrap_or(0)
}

/// THREAD=ORDEREDSUBJECT (RFC 5256 §3).
pub fn ordered_subject(msgs: &[ThreadMsg<'_>]) -> Forest {
    let order = date_order(msgs);
    // The oldest message of each subject is the parent of the others.
    let mut oldest = vec![NONE; subjects(msgs)];
    let mut parent = vec![NONE; msgs.len()];
    for &i in &order {
        let s = &mut oldest[msgs[i as usize].subject as usize];
        if *s == NONE {
            *s = i;
        } else {
            parent[i as usize] = *s;
        }
    }
    Forest::build(msgs.len(), &parent, &order)
}

/// The containers of step 1, by index: each one's message (`NONE` for a dummy), parent
/// (`NONE` at the top) and how many children it has.
struct Links {
    msg: Vec<u32>,
    parent: Vec<u32>,
    kids: Vec<u32>,
    /// The container of each Message-ID number (`NONE` until one is needed).
    of_id: Vec<u32>,
}

impl Links {
    fn push(&mut self) -> u32 {
        self.msg.push(NONE);
        self.parent.push(NONE);
        self.kids.push(0);
        self.msg.len() as u32 - 1
    }

    fn container(&mut self, id: u32) -> u32 {
        match self.of_id[id as usize] {
            NONE => {
                let c = self.push();
                self.of_id[id as usize] = c;
                c
            }
            c => c,
        }
    }

    /// Whether `a` is `b` or one of its descendants (then linking b under a loops).
    fn is_descendant(&self, a: u32, b: u32) -> bool {
        let mut cur = a;
        // Bounded: the links form a forest, so a walk up ends within `len` steps.
        for _ in 0..=self.msg.len() {
            if cur == NONE {
                return false;
            }
            if cur == b {
                return true;
            }
            cur = self.parent[cur as usize];
        }
        true
    }

    fn unlink(&mut self, child: u32) {
        let p = std::mem::replace(&mut self.parent[child as usize], NONE);
        if p != NONE {
            self.kids[p as usize] -= 1;
        }
    }

    /// Link `child` under `parent` unless that makes a loop.
    fn link(&mut self, parent: u32, child: u32) {
        // A child without children can only loop onto itself: skip the walk up (it makes
        // threading a long chain that arrives in order linear instead of quadratic).
        let lone = self.kids[child as usize] == 0 && parent != child;
        if !lone && self.is_descendant(parent, child) {
            return;
        }
        self.parent[child as usize] = parent;
        self.kids[parent as usize] += 1;
    }
}

/// Steps 1 to 3 of REFERENCES: each message's parent node after linking and pruning (nodes
/// `0..n` are the messages, the rest the root dummies that stay), and the order by date.
fn linked(msgs: &[ThreadMsg<'_>]) -> (Vec<u32>, Vec<u32>) {
    let n = msgs.len();
    let ids = msgs
        .iter()
        .flat_map(|m| m.message_id.iter().chain(m.references))
        .map(|&id| id as usize + 1)
        .max()
        .unwrap_or(0);
    let mut l = Links {
        msg: Vec::with_capacity(n * 2),
        parent: Vec::with_capacity(n * 2),
        kids: Vec::with_capacity(n * 2),
        of_id: vec![NONE; ids],
    };
    let mut refs: Vec<u32> = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        // (A) The message's own container; without a Message-ID, or with one an earlier
        // message already has, it gets a container of its own.
        let me = match m.message_id {
            Some(id) => {
                let c = l.container(id);
                if l.msg[c as usize] != NONE {
                    l.push()
                } else {
                    c
                }
            }
            None => l.push(),
        };
        l.msg[me as usize] = i as u32;
        // (B) Link the references in order, keeping links that exist.
        refs.clear();
        for &r in m.references {
            let c = l.container(r);
            refs.push(c);
        }
        for w in refs.windows(2) {
            let (p, c) = (w[0], w[1]);
            if p != c && l.parent[c as usize] == NONE {
                l.link(p, c);
            }
        }
        // (C) The message's parent is its last reference.
        if let Some(&last) = refs.last() {
            let loops = last == me || (l.kids[me as usize] != 0 && l.is_descendant(last, me));
            if l.parent[me as usize] != last && !loops {
                l.unlink(me);
                l.link(last, me);
            }
        }
    }
    // (2, 3) Every container's children, then the containers from the top down (parents
    // before children), to find where each message hangs once dummies are pruned.
    let cs = l.msg.len();
    let mut start = vec![0u32; cs + 1];
    for &p in &l.parent {
        if p != NONE {
            start[p as usize + 1] += 1;
        }
    }
    for k in 0..cs {
        start[k + 1] += start[k];
    }
    let mut fill = start.clone();
    let mut kids = vec![0u32; cs];
    for (c, &p) in l.parent.iter().enumerate() {
        if p != NONE {
            kids[fill[p as usize] as usize] = c as u32;
            fill[p as usize] += 1;
        }
    }
    let mut top_down: Vec<u32> = (0..cs as u32)
        .filter(|&c| l.parent[c as usize] == NONE)
        .collect();
    let mut k = 0;
    while k < top_down.len() {
        let c = top_down[k] as usize;
        top_down.extend_from_slice(&kids[start[c] as usize..start[c + 1] as usize]);
        k += 1;
    }
    // Per container: its depth; where it hangs (its parent, or below MAX_DEPTH its ancestor
    // at MAX_DEPTH: the subtree is flattened there); and the node a message under it hangs
    // from once dummies are pruned: itself when it is a message, the root dummy it is under
    // (given a node number here; dropped below unless it keeps several children), else what
    // its own parent gives.
    let mut depth = vec![0u32; cs];
    let mut hang = vec![NONE; cs];
    let mut under = vec![NONE; cs];
    let mut parent: Vec<u32> = vec![NONE; n];
    let mut dummies = 0u32;
    for &c in &top_down {
        let c = c as usize;
        let p = l.parent[c];
        if p != NONE {
            let p = p as usize;
            depth[c] = depth[p] + 1;
            hang[c] = if depth[c] as usize <= MAX_DEPTH || depth[p] as usize == MAX_DEPTH {
                p as u32
            } else {
                hang[p]
            };
        }
        under[c] = match (l.msg[c], p) {
            (NONE, NONE) => {
                dummies += 1;
                (n as u32) + dummies - 1
            }
            (NONE, p) => under[p as usize],
            (m, _) => m,
        };
        if l.msg[c] != NONE && hang[c] != NONE {
            parent[l.msg[c] as usize] = under[hang[c] as usize];
        }
    }
    // A root dummy keeps its place only with several children; with one, that child is a
    // root itself. The dummies that stay are numbered again from n.
    let mut count = vec![0u32; dummies as usize];
    for &p in &parent {
        if p != NONE && p as usize >= n {
            count[p as usize - n] += 1;
        }
    }
    let mut renumber = vec![NONE; dummies as usize];
    let mut kept = 0u32;
    for (d, &c) in count.iter().enumerate() {
        if c > 1 {
            renumber[d] = n as u32 + kept;
            kept += 1;
        }
    }
    for p in parent.iter_mut() {
        if *p != NONE && *p as usize >= n {
            *p = renumber[*p as usize - n];
        }
    }
    parent.resize(n + kept as usize, NONE);
    (parent, date_order(msgs))
}

/// The roots of a forest given by parent links, in date order (a dummy at its first child),
/// and each one's representative message (itself, or a dummy's first child).
fn roots_in_order(n: usize, parent: &[u32], order: &[u32]) -> Vec<(u32, u32)> {
    let mut seen = vec![false; parent.len() - n];
    let mut roots = Vec::new();
    for &m in order {
        match parent[m as usize] {
            NONE => roots.push((m, m)),
            p if p as usize >= n && !seen[p as usize - n] => {
                seen[p as usize - n] = true;
                roots.push((p, m));
            }
            _ => {}
        }
    }
    roots
}

/// THREAD=REFERENCES (RFC 5256 §3).
pub fn references(msgs: &[ThreadMsg<'_>]) -> Forest {
    let n = msgs.len();
    let (mut parent, order) = linked(msgs);
    // (4) The roots by date, (5) those with the same base subject gathered.
    let roots = roots_in_order(n, &parent, &order);
    let is_dummy = |x: u32| x as usize >= n;
    // (A, B) The table: subject → the root that represents it.
    let mut table = vec![NONE; subjects(msgs)];
    for (k, &(node, rep)) in roots.iter().enumerate() {
        let m = &msgs[rep as usize];
        if m.no_subject {
            continue;
        }
        let t = &mut table[m.subject as usize];
        if *t == NONE {
            *t = k as u32;
            continue;
        }
        let (tnode, trep) = roots[*t as usize];
        if !is_dummy(tnode) && (is_dummy(node) || (msgs[trep as usize].reply && !m.reply)) {
            *t = k as u32;
        }
    }
    // (C) Every other root with that subject merged into the table's. A dummy merged into
    // a dummy hands its children over (`into`: its children's parent is that dummy).
    let mut slot: Vec<u32> = roots.iter().map(|&(node, _)| node).collect();
    let mut into: Vec<u32> = vec![NONE; parent.len() - n];
    for (k, &(_, rep)) in roots.iter().enumerate() {
        let m = &msgs[rep as usize];
        if m.no_subject {
            continue;
        }
        let t = table[m.subject as usize] as usize;
        if t == k {
            continue;
        }
        let (mine, theirs) = (slot[k], slot[t]);
        slot[k] = NONE;
        match (is_dummy(theirs), is_dummy(mine)) {
            (true, true) => into[mine as usize - n] = theirs,
            (true, false) => parent[mine as usize] = theirs,
            (false, false) if m.reply && !msgs[theirs as usize].reply => {
                parent[mine as usize] = theirs;
            }
            (false, true) => {
                parent[theirs as usize] = mine;
                slot[t] = mine;
            }
            (false, false) => {
                let d = parent.len() as u32;
                parent.push(NONE);
                into.push(NONE);
                parent[theirs as usize] = d;
                parent[mine as usize] = d;
                slot[t] = d;
            }
        }
    }
    for p in parent.iter_mut() {
        // A dummy that took another's children is never itself handed over.
        if *p != NONE && *p as usize >= n && into[*p as usize - n] != NONE {
            *p = into[*p as usize - n];
        }
    }
    // (6) Siblings and roots in order.
    Forest::build(n, &parent, &order)
}

/// THREAD=REFS: REFERENCES without step 5, threads ordered by their newest message.
pub fn refs(msgs: &[ThreadMsg<'_>]) -> Forest {
    let n = msgs.len();
    let (parent, order) = linked(msgs);
    let mut forest = Forest::build(n, &parent, &order);
    // Each thread's newest message (the last of its messages in date order).
    let mut position = vec![0u32; n];
    for (k, &m) in order.iter().enumerate() {
        position[m as usize] = k as u32;
    }
    let mut newest: Vec<(u32, u32)> = Vec::new();
    let mut stack: Vec<u32> = Vec::new();
    for root in forest.roots() {
        let mut last = 0;
        stack.push(root);
        while let Some(x) = stack.pop() {
            if let Some(m) = forest.msg(x) {
                last = last.max(position[m]);
            }
            stack.extend(forest.children(x));
        }
        newest.push((last, root));
    }
    newest.sort_unstable();
    forest.root = NONE;
    for &(_, root) in newest.iter().rev() {
        forest.next[root as usize] = forest.root;
        forest.root = root;
    }
    forest
}

/// The wire form of a forest: numbers from `number(index)`.
pub fn to_wire(f: &Forest, number: &dyn Fn(usize) -> Option<NonZeroU32>) -> Vec<Thread> {
    f.roots().filter_map(|x| wire(f, x, number)).collect()
}

fn wire(f: &Forest, x: u32, number: &dyn Fn(usize) -> Option<NonZeroU32>) -> Option<Thread> {
    let Some(first) = f.msg(x).and_then(number) else {
        // A dummy: its children side by side.
        let kids: Vec<Thread> = f.children(x).filter_map(|c| wire(f, c, number)).collect();
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
    let mut cur = x;
    loop {
        let mut kids = f.children(cur);
        let (Some(only), None) = (kids.next(), kids.next()) else {
            break;
        };
        match f.msg(only).and_then(number) {
            Some(n) => {
                prefix.push(n);
                cur = only;
            }
            None => break,
        }
    }
    let kids: Vec<Thread> = f.children(cur).filter_map(|c| wire(f, c, number)).collect();
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
    use std::collections::HashMap;

    /// Messages given with strings: (date, subject, Message-ID, references).
    type Spec<'a> = (i64, &'a str, Option<&'a str>, &'a [&'a str]);

    /// Numbers for the strings of `spec` (as the sort cache gives them), and the messages.
    fn run(spec: &[Spec<'_>], alg: fn(&[ThreadMsg<'_>]) -> Forest) -> String {
        let mut ids: HashMap<&str, u32> = HashMap::new();
        let mut subjects: HashMap<&str, u32> = HashMap::new();
        let number = |t: &mut HashMap<_, u32>, s| {
            let k = t.len() as u32;
            *t.entry(s).or_insert(k)
        };
        let refs: Vec<Vec<u32>> = spec
            .iter()
            .map(|s| s.3.iter().map(|r| number(&mut ids, *r)).collect())
            .collect();
        let msgs: Vec<ThreadMsg> = spec
            .iter()
            .zip(&refs)
            .map(|(&(date, subject, id, _), refs)| ThreadMsg {
                date,
                subject: number(&mut subjects, subject),
                no_subject: subject.is_empty(),
                reply: false,
                message_id: id.map(|i| number(&mut ids, i)),
                references: refs,
            })
            .collect();
        text(&alg(&msgs))
    }

    fn text(forest: &Forest) -> String {
        let number = |i: usize| NonZeroU32::new(i as u32 + 1);
        to_wire(forest, &number)
            .iter()
            .map(|t| t.to_string())
            .collect()
    }

    #[test]
    fn references_cycles_and_self_references_do_not_loop() {
        let msgs: [Spec; 4] = [
            (1, "a", Some("a@x"), &["c@x", "b@x"]),
            (2, "b", Some("b@x"), &["a@x"]),
            (3, "c", Some("c@x"), &["b@x", "c@x"]),
            (4, "d", Some("d@x"), &["d@x"]),
        ];
        // c → b (from 1), b → a (1's parent); 2 and 3 would close loops: kept as they were.
        assert_eq!(run(&msgs, references), "(3 2 1)(4)");
    }

    #[test]
    fn dummy_with_one_child_is_promoted_to_the_root() {
        let msgs: [Spec; 1] = [(1, "x", Some("b@x"), &["gone@x"])];
        assert_eq!(run(&msgs, references), "(1)");
        let msgs: [Spec; 2] = [
            (2, "x", Some("b@x"), &["gone@x"]),
            (1, "y", Some("c@x"), &["gone@x"]),
        ];
        assert_eq!(run(&msgs, references), "((2)(1))");
    }

    /// Gathering by subject: a message into a dummy, two messages (neither a reply) under a
    /// new dummy; ORDEREDSUBJECT and REFS on the same messages.
    #[test]
    fn subjects_gathered_under_dummies_and_messages() {
        let msgs: [Spec; 7] = [
            (5, "s", Some("a@x"), &["p@x"]),
            (6, "s", Some("b@x"), &["p@x"]),
            (1, "s", Some("c@x"), &[]),
            (7, "t", Some("d@x"), &[]),
            (2, "t", Some("e@x"), &[]),
            (3, "u", Some("f@x"), &["q@x"]),
            (4, "u", Some("g@x"), &["q@x", "f@x"]),
        ];
        // The dummy for p@x takes 3 (the oldest "s"); 4 and 5 ("t", neither a reply) under a
        // new dummy; 6 and 7 are linked by References. REFS: threads by their newest message.
        assert_eq!(run(&msgs, references), "((3)(1)(2))((5)(4))(6 7)");
        assert_eq!(run(&msgs, ordered_subject), "(3 (1)(2))(5 4)(6 7)");
        assert_eq!(run(&msgs, refs), "(3)(5)(6 7)((1)(2))(4)");
    }

    #[test]
    fn a_very_long_chain_is_flattened_below_the_depth_cap() {
        let n = 20_000;
        // Message i has Message-ID number i and references i - 1.
        let ids: Vec<[u32; 1]> = (0..n as u32).map(|i| [i]).collect();
        let msgs: Vec<ThreadMsg> = (0..n)
            .map(|i| ThreadMsg {
                date: i as i64,
                subject: 0,
                no_subject: false,
                reply: i > 0,
                message_id: Some(i as u32),
                references: if i > 0 { &ids[i - 1] } else { &[] },
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
            let chain: String = (1..=MAX_DEPTH + 1).map(|i| format!("{i} ")).collect();
            assert!(wire.starts_with(&format!("({chain}(")), "{}", &wire[..100]);
        }
        // In-order chains stay linear: this finishes at once, not in n² steps.
    }
}
