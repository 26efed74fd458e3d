//! The key browser's model: the prefix browsed and the filter being typed,
//! the listed keys and the selection, the selected key's value, and the
//! watch tail of the prefix.
//!
//! Like the rest of the app it does no I/O. It asks for a listing or a read
//! through an [`Effect`] and learns the outcome from an event that names the
//! prefix or key it answers, so a late answer to an older question (the
//! filter changed, the selection moved on) is recognised and dropped.
//!
//! Watch events keep the list and the value current without asking again:
//! a PUT of an unlisted key inserts it in order, a DELETE removes it, a PUT
//! of the selected key replaces the value shown. The list only takes events
//! newer than the listing, so nothing the listing already saw counts twice;
//! the value only takes a newer modification than the one it shows.
//!
//! Invariants: the tail holds at most [`TAIL_LEN`] entries, oldest dropped
//! first; the selection is an index into the listed keys (0 when there are
//! none); the listed keys stay in byte order.

use std::collections::VecDeque;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::app::Effect;
use crate::state::{Change, ChangeKind, KeyPage, KeyValue};

/// Watch events kept for the tail.
pub const TAIL_LEN: usize = 100;

/// What is known of the selected key's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail {
    /// Asked for; no answer yet.
    Loading,
    Found(KeyValue),
    /// The key is not there (deleted since it was listed).
    Missing,
    Failed(String),
}

/// One line of the watch tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailEntry {
    pub kind: ChangeKind,
    pub key: Vec<u8>,
    pub revision: i64,
}

#[derive(Debug, Default)]
pub struct KeyBrowser {
    prefix: Vec<u8>,
    /// The filter being typed; `Some` while the input line is open.
    input: Option<String>,
    /// `None` while the listing of `prefix` is under way.
    page: Option<Result<KeyPage, String>>,
    selected: usize,
    /// The value of the key it names; shown only while that key is selected.
    detail: Option<(Vec<u8>, Detail)>,
    tail: VecDeque<TailEntry>,
    tail_error: Option<String>,
    /// Entries skipped from the newest end of the tail.
    tail_scroll: usize,
}

impl KeyBrowser {
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    pub fn input(&self) -> Option<&str> {
        self.input.as_deref()
    }

    /// The listing, its error, or `None` while it is under way.
    pub fn page(&self) -> Option<&Result<KeyPage, String>> {
        self.page.as_ref()
    }

    pub fn keys(&self) -> &[Vec<u8>] {
        match &self.page {
            Some(Ok(page)) => &page.keys,
            _ => &[],
        }
    }

    pub fn selected(&self) -> usize {
        self.selected
    }

    pub fn selected_key(&self) -> Option<&[u8]> {
        self.keys().get(self.selected).map(Vec::as_slice)
    }

    /// What is known of the selected key's value.
    pub fn detail(&self) -> Option<&Detail> {
        match &self.detail {
            Some((key, detail)) if Some(key.as_slice()) == self.selected_key() => Some(detail),
            _ => None,
        }
    }

    /// Oldest first.
    pub fn tail(&self) -> &VecDeque<TailEntry> {
        &self.tail
    }

    /// Why the watch stopped, if it did.
    pub fn tail_error(&self) -> Option<&str> {
        self.tail_error.as_deref()
    }

    pub fn tail_scroll(&self) -> usize {
        self.tail_scroll
    }

    /// Browses the prefix afresh: forgets the listing, value and tail, and
    /// asks for a listing and a new watch.
    pub fn start(&mut self) -> Effect {
        self.page = None;
        self.selected = 0;
        self.detail = None;
        self.tail.clear();
        self.tail_error = None;
        self.tail_scroll = 0;
        Effect::Browse(self.prefix.clone())
    }

    /// Opens the filter input, holding the current prefix to edit.
    pub fn open_input(&mut self) {
        self.input = Some(String::from_utf8_lossy(&self.prefix).into_owned());
    }

    /// A key pressed while the filter input is open: typing edits it,
    /// Enter browses the new prefix, Esc closes it unchanged.
    pub fn edit(&mut self, key: KeyEvent) -> Effect {
        let Some(input) = self.input.as_mut() else {
            return Effect::None;
        };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Enter => {
                let input = self.input.take().unwrap_or_default();
                self.prefix = input.into_bytes();
                return self.start();
            }
            KeyCode::Esc => self.input = None,
            KeyCode::Backspace => {
                input.pop();
            }
            KeyCode::Char('u') if ctrl => input.clear(),
            KeyCode::Char(c) if !ctrl => input.push(c),
            _ => {}
        }
        Effect::None
    }

    /// Moves the selection by `delta` keys (clamped); reads the newly
    /// selected key.
    pub fn move_selection(&mut self, delta: isize) -> Effect {
        let to = step(self.selected, delta, self.keys().len());
        if to == self.selected {
            return Effect::None;
        }
        self.selected = to;
        self.read_selected()
    }

    pub fn scroll_tail(&mut self, delta: isize) {
        self.tail_scroll = step(self.tail_scroll, delta, self.tail.len());
    }

    /// Asks for the selected key's value unless it is already known.
    fn read_selected(&mut self) -> Effect {
        let Some(key) = self.selected_key().map(<[u8]>::to_vec) else {
            self.detail = None;
            return Effect::None;
        };
        if self.detail().is_some() {
            return Effect::None;
        }
        self.detail = Some((key.clone(), Detail::Loading));
        Effect::Fetch(key)
    }

    /// A listing arrived. The selection stays on the same key if it is
    /// still there; its value is read again.
    pub fn listed(&mut self, prefix: &[u8], page: Result<KeyPage, String>) -> Effect {
        if prefix != self.prefix {
            return Effect::None;
        }
        let was = self.selected_key().map(<[u8]>::to_vec);
        self.page = Some(page);
        self.reselect(was.as_deref(), self.selected);
        match self.selected_key().map(<[u8]>::to_vec) {
            Some(key) => {
                if self.detail().is_none() {
                    self.detail = Some((key.clone(), Detail::Loading));
                }
                Effect::Fetch(key)
            }
            None => {
                self.detail = None;
                Effect::None
            }
        }
    }

    /// A read of `key` answered.
    pub fn fetched(&mut self, key: &[u8], value: Result<Option<KeyValue>, String>) {
        if self.selected_key() != Some(key) {
            return;
        }
        let detail = match value {
            Ok(Some(kv)) => Detail::Found(kv),
            Ok(None) => Detail::Missing,
            Err(why) => Detail::Failed(why),
        };
        // A watch event may already have shown a newer value.
        if let (Some(Detail::Found(shown)), Detail::Found(read)) = (self.detail(), &detail)
            && shown.mod_revision > read.mod_revision
        {
            return;
        }
        self.detail = Some((key.to_vec(), detail));
    }

    /// Watch events of `prefix` arrived (or the watch failed).
    pub fn watched(&mut self, prefix: &[u8], changes: Result<Vec<Change>, String>) -> Effect {
        if prefix != self.prefix {
            return Effect::None;
        }
        let changes = match changes {
            Ok(changes) => changes,
            Err(why) => {
                self.tail_error = Some(why);
                return Effect::None;
            }
        };
        let was = self.selected_key().map(<[u8]>::to_vec);
        let at = self.selected;
        for change in &changes {
            if self.tail.len() == TAIL_LEN {
                self.tail.pop_front();
            }
            self.tail.push_back(TailEntry {
                kind: change.kind,
                key: change.kv.key.clone(),
                revision: change.kv.mod_revision,
            });
            // Hold a scrolled tail still while new lines arrive.
            if self.tail_scroll > 0 {
                self.tail_scroll = (self.tail_scroll + 1).min(self.tail.len() - 1);
            }
            if let Some(Ok(page)) = &mut self.page
                && change.kv.mod_revision > page.revision
            {
                apply(page, change);
            }
        }
        self.reselect(was.as_deref(), at);
        for change in &changes {
            let newer = match self.detail() {
                Some(Detail::Found(shown)) => change.kv.mod_revision > shown.mod_revision,
                _ => true,
            };
            if change.kind == ChangeKind::Put
                && Some(change.kv.key.as_slice()) == self.selected_key()
                && newer
            {
                self.detail = Some((change.kv.key.clone(), Detail::Found(change.kv.clone())));
            }
        }
        self.read_selected()
    }

    /// Puts the selection back on `key` if it is listed, else at `index`
    /// (clamped).
    fn reselect(&mut self, key: Option<&[u8]>, index: usize) {
        let keys = self.keys();
        self.selected = key
            .and_then(|k| keys.iter().position(|x| x.as_slice() == k))
            .unwrap_or_else(|| index.min(keys.len().saturating_sub(1)));
    }
}

/// One change applied to a listing. A truncated listing only takes keys
/// that sort within what it lists; the rest only change its count.
fn apply(page: &mut KeyPage, change: &Change) {
    let truncated = page.truncated();
    let key = &change.kv.key;
    match (change.kind, page.keys.binary_search(key)) {
        (ChangeKind::Put, Ok(_)) => {}
        (ChangeKind::Put, Err(at)) => {
            if !truncated || at < page.keys.len() {
                page.keys.insert(at, key.clone());
            }
            page.count += 1;
        }
        (ChangeKind::Delete, Ok(at)) => {
            page.keys.remove(at);
            page.count -= 1;
        }
        (ChangeKind::Delete, Err(at)) => {
            if truncated && at == page.keys.len() {
                page.count -= 1;
            }
        }
    }
    page.revision = page.revision.max(change.kv.mod_revision);
}

/// `current` moved by `delta` within `0..len` (0 when `len` is 0).
pub fn step(current: usize, delta: isize, len: usize) -> usize {
    let last = len.saturating_sub(1);
    current.saturating_add_signed(delta).min(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, rev: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: format!("v{rev}").into_bytes(),
            create_revision: rev,
            mod_revision: rev,
            version: 1,
            lease: 0,
        }
    }

    fn put(key: &str, rev: i64) -> Change {
        Change {
            kind: ChangeKind::Put,
            kv: kv(key, rev),
        }
    }

    fn delete(key: &str, rev: i64) -> Change {
        Change {
            kind: ChangeKind::Delete,
            kv: KeyValue {
                value: vec![],
                ..kv(key, rev)
            },
        }
    }

    fn page(keys: &[&str], count: i64, revision: i64) -> KeyPage {
        KeyPage {
            keys: keys.iter().map(|k| k.as_bytes().to_vec()).collect(),
            count,
            revision,
        }
    }

    fn browsing(keys: &[&str]) -> KeyBrowser {
        let mut b = KeyBrowser::default();
        b.start();
        let effect = b.listed(b"", Ok(page(keys, keys.len() as i64, 10)));
        if let Some(first) = keys.first() {
            assert_eq!(effect, Effect::Fetch(first.as_bytes().to_vec()));
        }
        b
    }

    fn listed(b: &KeyBrowser) -> Vec<String> {
        b.keys()
            .iter()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect()
    }

    #[test]
    fn a_put_of_a_new_key_is_inserted_in_order_and_the_selection_stays() {
        let mut b = browsing(&["a", "c"]);
        b.move_selection(1);
        assert_eq!(b.selected_key(), Some(&b"c"[..]));
        b.watched(b"", Ok(vec![put("b", 11)]));
        assert_eq!(listed(&b), ["a", "b", "c"]);
        assert_eq!(b.selected_key(), Some(&b"c"[..]));
        assert_eq!(b.tail().back().map(|e| e.revision), Some(11));
    }

    #[test]
    fn deleting_the_selected_key_selects_its_neighbour_and_reads_it() {
        let mut b = browsing(&["a", "b", "c"]);
        b.move_selection(1);
        b.fetched(b"b", Ok(Some(kv("b", 5))));
        let effect = b.watched(b"", Ok(vec![delete("b", 12)]));
        assert_eq!(listed(&b), ["a", "c"]);
        assert_eq!(b.selected_key(), Some(&b"c"[..]));
        assert_eq!(effect, Effect::Fetch(b"c".to_vec()));
        assert_eq!(b.detail(), Some(&Detail::Loading));
    }

    #[test]
    fn a_put_of_the_selected_key_shows_the_new_value_without_reading() {
        let mut b = browsing(&["a"]);
        b.fetched(b"a", Ok(Some(kv("a", 5))));
        let effect = b.watched(b"", Ok(vec![put("a", 13)]));
        assert_eq!(effect, Effect::None);
        assert_eq!(b.detail(), Some(&Detail::Found(kv("a", 13))));
        // A read answered late does not bring the old value back.
        b.fetched(b"a", Ok(Some(kv("a", 5))));
        assert_eq!(b.detail(), Some(&Detail::Found(kv("a", 13))));
    }

    #[test]
    fn events_the_listing_already_saw_do_not_change_it() {
        let mut b = browsing(&["a", "b"]);
        b.watched(b"", Ok(vec![put("z", 9), delete("a", 10)]));
        assert_eq!(listed(&b), ["a", "b"]);
        assert_eq!(b.tail().len(), 2, "the tail still shows them");
    }

    #[test]
    fn a_truncated_listing_counts_keys_past_its_end_without_listing_them() {
        let mut b = KeyBrowser::default();
        b.start();
        b.listed(b"", Ok(page(&["a", "b"], 5, 10)));
        b.watched(b"", Ok(vec![put("zz", 11), put("aa", 12)]));
        assert_eq!(listed(&b), ["a", "aa", "b"]);
        match b.page() {
            Some(Ok(p)) => assert_eq!(p.count, 7),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn answers_for_another_prefix_or_key_are_dropped() {
        let mut b = browsing(&["a", "b"]);
        assert_eq!(b.listed(b"old", Ok(page(&["x"], 1, 3))), Effect::None);
        assert_eq!(listed(&b), ["a", "b"]);
        b.watched(b"old", Ok(vec![put("q", 20)]));
        assert!(b.tail().is_empty());
        b.fetched(b"b", Ok(Some(kv("b", 4))));
        assert_eq!(b.detail(), Some(&Detail::Loading), "a is selected, not b");
    }

    #[test]
    fn the_filter_input_edits_the_prefix_and_enter_browses_it() {
        let mut b = browsing(&["a"]);
        b.open_input();
        for c in "/appx".chars() {
            b.edit(KeyEvent::from(KeyCode::Char(c)));
        }
        b.edit(KeyEvent::from(KeyCode::Backspace));
        assert_eq!(b.input(), Some("/app"));
        assert_eq!(b.prefix(), b"", "not applied before Enter");
        let effect = b.edit(KeyEvent::from(KeyCode::Enter));
        assert_eq!(effect, Effect::Browse(b"/app".to_vec()));
        assert_eq!((b.input(), b.prefix()), (None, &b"/app"[..]));
        assert!(b.page().is_none(), "listing under way");

        b.open_input();
        assert_eq!(b.input(), Some("/app"));
        b.edit(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        b.edit(KeyEvent::from(KeyCode::Char('x')));
        assert_eq!(b.edit(KeyEvent::from(KeyCode::Esc)), Effect::None);
        assert_eq!((b.input(), b.prefix()), (None, &b"/app"[..]));
    }

    #[test]
    fn the_tail_keeps_the_newest_entries() {
        let mut b = browsing(&[]);
        let changes = (0..TAIL_LEN as i64 + 7)
            .map(|r| put("k", 100 + r))
            .collect();
        b.watched(b"", Ok(changes));
        assert_eq!(b.tail().len(), TAIL_LEN);
        assert_eq!(b.tail().front().map(|e| e.revision), Some(107));
    }

    #[test]
    fn steps_are_clamped() {
        assert_eq!(step(0, -1, 5), 0);
        assert_eq!(step(3, 10, 5), 4);
        assert_eq!(step(2, 1, 0), 0);
    }
}
