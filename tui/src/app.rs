//! The dashboard's state and the one place it changes: [`App::update`].
//!
//! The app owns the latest [`ClusterSnapshot`], the history derived from the
//! sequence of snapshots (activity samples, the event log), the key
//! browser ([`KeyBrowser`]) and the view state (which view, which panel has
//! the focus, each panel's scroll, paused, help shown). It performs no I/O
//! and reads no clock: time arrives inside events, and network work is asked
//! for through the [`Effect`] an update returns, so a test can replay any
//! sequence and draw the same screen every time.
//!
//! Two views share the cluster bar and the members table: the overview
//! (leases, activity, event log) and the key browser (keys, the selected
//! value, the watch tail). Tab, Shift-Tab and the left and right arrows move
//! the focus among the panels of the view shown; up and down scroll the
//! focused one.
//!
//! Invariants: `activity` holds at most [`ACTIVITY_SAMPLES`] samples and
//! `events` at most [`EVENT_LOG_LEN`] entries, oldest dropped first; the
//! focus is always a panel of the view shown; while paused, refresh results
//! and watch events are dropped so the screen stays as it was (answers to
//! the operator's own requests, a listing or a read, still land).

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::keys::{KeyBrowser, step};
use crate::state::{Change, ClusterSnapshot, KeyPage, KeyValue};

/// Samples kept for the sparklines: five minutes at the default 1 s refresh.
pub const ACTIVITY_SAMPLES: usize = 300;
/// Event log entries kept.
pub const EVENT_LOG_LEN: usize = 100;
/// Rows PgUp and PgDn move.
pub const PAGE: isize = 10;

/// Something that happened to the dashboard.
#[derive(Debug, Clone)]
pub enum Event {
    /// The poller finished a refresh. `Err` means no endpoint answered at
    /// all; the text says what the last one said.
    Refreshed(Result<ClusterSnapshot, String>),
    /// The frame clock ticked; lease countdowns move with it.
    Tick(SystemTime),
    Key(KeyEvent),
    /// The keys under `prefix`, as listed for the key browser.
    Listed {
        prefix: Vec<u8>,
        page: Result<KeyPage, String>,
    },
    /// The value of `key`; `Ok(None)` when there is no such key.
    Fetched {
        key: Vec<u8>,
        value: Result<Option<KeyValue>, String>,
    },
    /// Events of the watch on `prefix`, or why it stopped.
    Watched {
        prefix: Vec<u8>,
        changes: Result<Vec<Change>, String>,
    },
}

/// What the caller must do after an update; the app cannot do it itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    None,
    Quit,
    /// Poll the cluster now instead of waiting for the interval (and list
    /// the browsed keys again).
    RefreshNow,
    /// List the keys under this prefix, then watch it from the listing's
    /// revision on, in place of any earlier watch.
    Browse(Vec<u8>),
    /// Read this key's value.
    Fetch(Vec<u8>),
    /// The key browser closed: stop its watch.
    StopBrowsing,
}

/// What the lower part of the screen shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Overview,
    Keys,
}

/// A panel that can hold the focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    Members,
    Leases,
    Events,
    Keys,
    Watch,
}

impl View {
    /// The panels Tab moves through, in screen order.
    pub fn panels(self) -> &'static [Panel] {
        match self {
            View::Overview => &[Panel::Members, Panel::Leases, Panel::Events],
            View::Keys => &[Panel::Members, Panel::Keys, Panel::Watch],
        }
    }

    /// The panel focused when the view opens.
    fn home(self) -> Panel {
        match self {
            View::Overview => Panel::Leases,
            View::Keys => Panel::Keys,
        }
    }
}

/// One activity sample, the rates between two consecutive snapshots.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Store revisions per second: each write transaction adds one.
    pub writes_per_sec: f64,
    /// Raft log entries committed per second (writes, lease and
    /// configuration traffic, leader no-ops).
    pub raft_entries_per_sec: f64,
}

/// A line of the event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub at: SystemTime,
    pub text: String,
}

#[derive(Debug)]
pub struct App {
    /// How often the poller refreshes; shown in the footer and help.
    pub refresh: Duration,
    pub endpoints: Vec<String>,
    snapshot: Option<ClusterSnapshot>,
    /// Why the last refresh reached nobody, until one succeeds again.
    unreachable: Option<String>,
    now: SystemTime,
    activity: VecDeque<Sample>,
    events: VecDeque<LogEntry>,
    paused: bool,
    show_help: bool,
    view: View,
    focus: Panel,
    member_scroll: usize,
    lease_scroll: usize,
    /// Entries skipped from the newest end of the event log.
    event_scroll: usize,
    keys: KeyBrowser,
}

impl App {
    pub fn new(endpoints: Vec<String>, refresh: Duration, now: SystemTime) -> App {
        App {
            refresh,
            endpoints,
            snapshot: None,
            unreachable: None,
            now,
            activity: VecDeque::with_capacity(ACTIVITY_SAMPLES),
            events: VecDeque::with_capacity(EVENT_LOG_LEN),
            paused: false,
            show_help: false,
            view: View::Overview,
            focus: View::Overview.home(),
            member_scroll: 0,
            lease_scroll: 0,
            event_scroll: 0,
            keys: KeyBrowser::default(),
        }
    }

    pub fn update(&mut self, event: Event) -> Effect {
        match event {
            Event::Refreshed(_) | Event::Watched { .. } if self.paused => Effect::None,
            Event::Refreshed(Ok(snapshot)) => {
                self.now = self.now.max(snapshot.taken_at);
                self.unreachable = None;
                self.record(snapshot);
                Effect::None
            }
            Event::Refreshed(Err(why)) => {
                self.unreachable = Some(why);
                Effect::None
            }
            Event::Tick(now) => {
                self.now = now;
                Effect::None
            }
            Event::Key(key) => self.on_key(key),
            Event::Listed { prefix, page } => self.keys.listed(&prefix, page),
            Event::Fetched { key, value } => {
                self.keys.fetched(&key, value);
                Effect::None
            }
            Event::Watched { prefix, changes } => self.keys.watched(&prefix, changes),
        }
    }

    fn on_key(&mut self, key: KeyEvent) -> Effect {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        // Raw mode swallows SIGINT, so Ctrl-C arrives as a key.
        if ctrl && key.code == KeyCode::Char('c') {
            return Effect::Quit;
        }
        // The filter input takes every other key while it is open.
        if self.keys.input().is_some() {
            return self.keys.edit(key);
        }
        match key.code {
            KeyCode::Char('q') => Effect::Quit,
            KeyCode::Esc if self.show_help => {
                self.show_help = false;
                Effect::None
            }
            KeyCode::Esc if self.view == View::Keys => self.show(View::Overview),
            KeyCode::Char('?') => {
                self.show_help = !self.show_help;
                Effect::None
            }
            KeyCode::Char('p') => {
                self.paused = !self.paused;
                // Catch up at once with what the pause held back.
                if self.paused {
                    Effect::None
                } else {
                    Effect::RefreshNow
                }
            }
            KeyCode::Char('r') => Effect::RefreshNow,
            KeyCode::Char('k') => match self.view {
                View::Overview => self.show(View::Keys),
                View::Keys => self.show(View::Overview),
            },
            KeyCode::Char('/') => {
                let effect = if self.view == View::Keys {
                    self.focus = Panel::Keys;
                    Effect::None
                } else {
                    self.show(View::Keys)
                };
                self.keys.open_input();
                effect
            }
            KeyCode::Tab | KeyCode::Right => {
                self.move_focus(1);
                Effect::None
            }
            KeyCode::BackTab | KeyCode::Left => {
                self.move_focus(-1);
                Effect::None
            }
            KeyCode::Down => self.scroll(1),
            KeyCode::Up => self.scroll(-1),
            KeyCode::PageDown => self.scroll(PAGE),
            KeyCode::PageUp => self.scroll(-PAGE),
            KeyCode::End => self.scroll(isize::MAX),
            KeyCode::Home => self.scroll(isize::MIN),
            _ => Effect::None,
        }
    }

    /// Switches the lower part of the screen; the key browser starts
    /// browsing when it opens and stops its watch when it closes.
    fn show(&mut self, view: View) -> Effect {
        self.view = view;
        self.focus = view.home();
        match view {
            View::Keys => self.keys.start(),
            View::Overview => Effect::StopBrowsing,
        }
    }

    fn move_focus(&mut self, by: isize) {
        let panels = self.view.panels();
        let at = panels.iter().position(|p| *p == self.focus).unwrap_or(0);
        let n = panels.len() as isize;
        self.focus = panels[(at as isize + by).rem_euclid(n) as usize];
    }

    /// Scrolls the focused panel by `delta` rows (moves the selection in
    /// the key list).
    fn scroll(&mut self, delta: isize) -> Effect {
        let snapshot = self.snapshot.as_ref();
        match self.focus {
            Panel::Members => {
                let n = snapshot.map_or(0, |s| s.members.len());
                self.member_scroll = step(self.member_scroll, delta, n);
            }
            Panel::Leases => {
                let n = snapshot.map_or(0, |s| s.leases.len());
                self.lease_scroll = step(self.lease_scroll, delta, n);
            }
            Panel::Events => {
                self.event_scroll = step(self.event_scroll, delta, self.events.len());
            }
            Panel::Keys => return self.keys.move_selection(delta),
            Panel::Watch => self.keys.scroll_tail(delta),
        }
        Effect::None
    }

    /// Derives the activity sample and the log entries from the change
    /// between the previous snapshot and `next`, then keeps `next`.
    fn record(&mut self, next: ClusterSnapshot) {
        if let Some(prev) = &self.snapshot {
            let secs = next
                .taken_at
                .duration_since(prev.taken_at)
                .unwrap_or_default()
                .as_secs_f64();
            // Two snapshots in the same instant carry no rate; a rate of
            // zero would draw a false dip.
            if secs > 0.0 {
                let rate = |a: Option<f64>, b: Option<f64>| match (a, b) {
                    (Some(a), Some(b)) if b >= a => (b - a) / secs,
                    _ => 0.0,
                };
                let sample = Sample {
                    writes_per_sec: rate(
                        prev.revision().map(|r| r as f64),
                        next.revision().map(|r| r as f64),
                    ),
                    raft_entries_per_sec: rate(
                        prev.raft_index().map(|i| i as f64),
                        next.raft_index().map(|i| i as f64),
                    ),
                };
                if self.activity.len() == ACTIVITY_SAMPLES {
                    self.activity.pop_front();
                }
                self.activity.push_back(sample);
            }
            for text in changes(prev, &next) {
                self.log(next.taken_at, text);
            }
        } else if let Some(leader) = next.leader() {
            self.log(
                next.taken_at,
                format!(
                    "leader {} at term {}",
                    leader.display_name(),
                    next.term().unwrap_or(0)
                ),
            );
        }
        self.lease_scroll = self.lease_scroll.min(next.leases.len().saturating_sub(1));
        self.member_scroll = self.member_scroll.min(next.members.len().saturating_sub(1));
        self.snapshot = Some(next);
    }

    fn log(&mut self, at: SystemTime, text: String) {
        if self.events.len() == EVENT_LOG_LEN {
            self.events.pop_front();
        }
        self.events.push_back(LogEntry { at, text });
        // Hold a scrolled log still while new lines arrive on top.
        if self.event_scroll > 0 {
            self.event_scroll = (self.event_scroll + 1).min(self.events.len() - 1);
        }
    }

    pub fn snapshot(&self) -> Option<&ClusterSnapshot> {
        self.snapshot.as_ref()
    }

    pub fn unreachable(&self) -> Option<&str> {
        self.unreachable.as_deref()
    }

    pub fn now(&self) -> SystemTime {
        self.now
    }

    pub fn activity(&self) -> &VecDeque<Sample> {
        &self.activity
    }

    /// Oldest first.
    pub fn events(&self) -> &VecDeque<LogEntry> {
        &self.events
    }

    pub fn paused(&self) -> bool {
        self.paused
    }

    pub fn show_help(&self) -> bool {
        self.show_help
    }

    pub fn lease_scroll(&self) -> usize {
        self.lease_scroll
    }

    pub fn member_scroll(&self) -> usize {
        self.member_scroll
    }

    pub fn event_scroll(&self) -> usize {
        self.event_scroll
    }

    pub fn view(&self) -> View {
        self.view
    }

    pub fn focus(&self) -> Panel {
        self.focus
    }

    pub fn keys(&self) -> &KeyBrowser {
        &self.keys
    }
}

/// What the operator should hear about between two snapshots: leader
/// changes, term increases, members going silent or coming back.
fn changes(prev: &ClusterSnapshot, next: &ClusterSnapshot) -> Vec<String> {
    let mut out = Vec::new();
    let (prev_term, next_term) = (prev.term(), next.term());
    if let (Some(a), Some(b)) = (prev_term, next_term)
        && b > a
    {
        out.push(format!("term {a} -> {b}"));
    }
    let name = |m: Option<&crate::state::Member>| {
        m.map_or_else(|| "none".to_string(), |m| m.display_name().to_string())
    };
    let (prev_leader, next_leader) = (prev.leader(), next.leader());
    if prev_leader.map(|m| m.id) != next_leader.map(|m| m.id) {
        out.push(format!(
            "leader {} -> {}",
            name(prev_leader),
            name(next_leader)
        ));
    }
    for m in &next.members {
        let was_up = prev
            .members
            .iter()
            .find(|p| p.id == m.id)
            .map(|p| p.report().is_some());
        match (was_up, m.report().is_some()) {
            (Some(true), false) => out.push(format!("{} unreachable", m.display_name())),
            (Some(false), true) => out.push(format!("{} answering again", m.display_name())),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn empty(t: u64) -> ClusterSnapshot {
        ClusterSnapshot {
            taken_at: UNIX_EPOCH + Duration::from_secs(t),
            cluster_id: 1,
            members: vec![],
            leases: vec![],
            alarms: vec![],
        }
    }

    fn key(c: char) -> Event {
        Event::Key(KeyEvent::from(KeyCode::Char(c)))
    }

    #[test]
    fn while_paused_refreshes_are_dropped() {
        let mut app = App::new(vec![], Duration::from_secs(1), UNIX_EPOCH);
        app.update(Event::Refreshed(Ok(empty(1))));
        app.update(key('p'));
        app.update(Event::Refreshed(Ok(empty(2))));
        assert_eq!(
            app.snapshot().map(|s| s.taken_at),
            Some(UNIX_EPOCH + Duration::from_secs(1))
        );
        app.update(key('p'));
        app.update(Event::Refreshed(Ok(empty(3))));
        assert_eq!(
            app.snapshot().map(|s| s.taken_at),
            Some(UNIX_EPOCH + Duration::from_secs(3))
        );
    }

    #[test]
    fn the_activity_ring_keeps_only_the_newest_samples() {
        let mut app = App::new(vec![], Duration::from_secs(1), UNIX_EPOCH);
        for t in 0..(ACTIVITY_SAMPLES as u64 + 50) {
            app.update(Event::Refreshed(Ok(empty(t))));
        }
        assert_eq!(app.activity().len(), ACTIVITY_SAMPLES);
    }

    #[test]
    fn keys_ask_for_quit_and_refresh_and_toggle_help() {
        let mut app = App::new(vec![], Duration::from_secs(1), UNIX_EPOCH);
        assert_eq!(app.update(key('q')), Effect::Quit);
        assert_eq!(app.update(key('r')), Effect::RefreshNow);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(app.update(Event::Key(ctrl_c)), Effect::Quit);
        app.update(key('?'));
        assert!(app.show_help());
        app.update(Event::Key(KeyEvent::from(KeyCode::Esc)));
        assert!(!app.show_help());
    }

    fn press(app: &mut App, code: KeyCode) -> Effect {
        app.update(Event::Key(KeyEvent::from(code)))
    }

    fn with_leases_and_events(n: usize) -> App {
        let mut app = App::new(vec![], Duration::from_secs(1), UNIX_EPOCH);
        let mut s = empty(1);
        s.leases = (0..n as i64)
            .map(|id| crate::state::Lease {
                id,
                granted_ttl: 60,
                remaining_ttl: 30,
                keys: 0,
            })
            .collect();
        app.update(Event::Refreshed(Ok(s)));
        for i in 0..n {
            app.log(UNIX_EPOCH, format!("event {i}"));
        }
        app
    }

    #[test]
    fn tab_and_arrows_move_the_focus_round_the_panels_of_the_view() {
        let mut app = App::new(vec![], Duration::from_secs(1), UNIX_EPOCH);
        assert_eq!(app.focus(), Panel::Leases);
        press(&mut app, KeyCode::Tab);
        assert_eq!(app.focus(), Panel::Events);
        press(&mut app, KeyCode::Right);
        assert_eq!(app.focus(), Panel::Members, "wraps round");
        press(&mut app, KeyCode::BackTab);
        assert_eq!(app.focus(), Panel::Events);
        press(&mut app, KeyCode::Left);
        press(&mut app, KeyCode::Left);
        assert_eq!(app.focus(), Panel::Members);
        press(&mut app, KeyCode::Char('k'));
        assert_eq!(app.focus(), Panel::Keys);
        press(&mut app, KeyCode::Tab);
        assert_eq!(app.focus(), Panel::Watch);
        press(&mut app, KeyCode::Tab);
        assert_eq!(app.focus(), Panel::Members);
    }

    #[test]
    fn up_and_down_scroll_only_the_focused_panel() {
        let mut app = with_leases_and_events(20);
        press(&mut app, KeyCode::Down);
        press(&mut app, KeyCode::PageDown);
        assert_eq!((app.lease_scroll(), app.event_scroll()), (11, 0));
        press(&mut app, KeyCode::Tab);
        press(&mut app, KeyCode::End);
        assert_eq!((app.lease_scroll(), app.event_scroll()), (11, 19));
        press(&mut app, KeyCode::Up);
        assert_eq!(app.event_scroll(), 18);
        press(&mut app, KeyCode::Home);
        assert_eq!(app.event_scroll(), 0);
        press(&mut app, KeyCode::Tab);
        press(&mut app, KeyCode::Down);
        assert_eq!(app.member_scroll(), 0, "no members to scroll");
    }

    #[test]
    fn k_opens_the_key_browser_and_closes_it_again() {
        let mut app = App::new(vec![], Duration::from_secs(1), UNIX_EPOCH);
        assert_eq!(press(&mut app, KeyCode::Char('k')), Effect::Browse(vec![]));
        assert_eq!(app.view(), View::Keys);
        assert_eq!(press(&mut app, KeyCode::Char('k')), Effect::StopBrowsing);
        assert_eq!((app.view(), app.focus()), (View::Overview, Panel::Leases));
        press(&mut app, KeyCode::Char('k'));
        assert_eq!(press(&mut app, KeyCode::Esc), Effect::StopBrowsing);
        assert_eq!(app.view(), View::Overview);
    }

    #[test]
    fn slash_opens_the_filter_which_takes_every_key_until_enter() {
        let mut app = App::new(vec![], Duration::from_secs(1), UNIX_EPOCH);
        assert_eq!(press(&mut app, KeyCode::Char('/')), Effect::Browse(vec![]));
        assert_eq!(app.view(), View::Keys);
        for c in "/q?k".chars() {
            assert_eq!(press(&mut app, KeyCode::Char(c)), Effect::None);
        }
        assert!(!app.show_help());
        assert_eq!(app.keys().input(), Some("/q?k"));
        assert_eq!(
            press(&mut app, KeyCode::Enter),
            Effect::Browse(b"/q?k".to_vec())
        );
        assert_eq!(app.keys().input(), None);
        assert_eq!(press(&mut app, KeyCode::Char('q')), Effect::Quit);
    }

    #[test]
    fn selecting_a_key_reads_it() {
        let mut app = App::new(vec![], Duration::from_secs(1), UNIX_EPOCH);
        press(&mut app, KeyCode::Char('k'));
        let page = KeyPage {
            keys: vec![b"a".to_vec(), b"b".to_vec()],
            count: 2,
            revision: 7,
        };
        let effect = app.update(Event::Listed {
            prefix: vec![],
            page: Ok(page),
        });
        assert_eq!(effect, Effect::Fetch(b"a".to_vec()));
        assert_eq!(press(&mut app, KeyCode::Down), Effect::Fetch(b"b".to_vec()));
        assert_eq!(press(&mut app, KeyCode::Down), Effect::None, "last key");
    }

    #[test]
    fn a_pause_holds_watch_events_back_and_resuming_refreshes() {
        let mut app = App::new(vec![], Duration::from_secs(1), UNIX_EPOCH);
        press(&mut app, KeyCode::Char('k'));
        press(&mut app, KeyCode::Char('p'));
        let change = Change {
            kind: crate::state::ChangeKind::Put,
            kv: KeyValue {
                key: b"a".to_vec(),
                value: vec![],
                create_revision: 3,
                mod_revision: 3,
                version: 1,
                lease: 0,
            },
        };
        app.update(Event::Watched {
            prefix: vec![],
            changes: Ok(vec![change]),
        });
        assert!(app.keys().tail().is_empty());
        // The operator's own request still lands.
        app.update(Event::Listed {
            prefix: vec![],
            page: Ok(KeyPage {
                keys: vec![],
                count: 0,
                revision: 2,
            }),
        });
        assert!(app.keys().page().is_some());
        assert_eq!(press(&mut app, KeyCode::Char('p')), Effect::RefreshNow);
    }

    #[test]
    fn no_reachable_endpoint_is_remembered_until_a_refresh_succeeds() {
        let mut app = App::new(vec![], Duration::from_secs(1), UNIX_EPOCH);
        app.update(Event::Refreshed(Err("connection refused".into())));
        assert_eq!(app.unreachable(), Some("connection refused"));
        app.update(Event::Refreshed(Ok(empty(1))));
        assert_eq!(app.unreachable(), None);
    }
}
