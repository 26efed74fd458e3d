//! Whole-screen snapshot tests: fixed cluster histories are fed through
//! `App::update`, drawn on ratatui's `TestBackend`, turned into plain text
//! and compared with the files under `tests/snapshots/`.
//!
//! To accept a deliberate change of the screen, run the tests with
//! `CAIRN_SNAPSHOT_UPDATE=1`, then read the rewritten files before
//! committing them: the files are the specification of the screen.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cairntop::app::{App, Effect, Event};
use cairntop::state::{
    Alarm, Change, ChangeKind, ClusterSnapshot, KeyPage, KeyValue, Lease, Member, Probe,
    StatusReport,
};
use cairntop::ui;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// 2026-11-24 15:00:00 UTC, so the event log shows readable times.
fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_532_400 + secs)
}

const IDS: [u64; 3] = [0x8e9e05c52164694d, 0x91bc3c398fb3c146, 0xfd422379fda50e48];

/// A three-member cluster `t` seconds into the history: the leader is
/// `leader` (an index into IDS), the members in `down` do not answer.
fn cluster(t: u64, leader: usize, term: u64, down: &[usize]) -> ClusterSnapshot {
    // Revision and index grow unevenly, so the sparklines have a shape.
    let revision = 1000 + (t * t % 37 + t * 40) as i64;
    let index = 5000 + t * 31 + t * t % 7;
    let members = IDS
        .iter()
        .enumerate()
        .map(|(i, &id)| Member {
            id,
            name: format!("infra{}", i + 1),
            client_url: format!("http://10.0.0.{}:2379", i + 1),
            is_learner: false,
            probe: if down.contains(&i) {
                Probe::Unreachable("deadline exceeded".into())
            } else {
                Probe::Answered(StatusReport {
                    leader: IDS[leader],
                    raft_term: term,
                    raft_index: index,
                    raft_applied_index: index - i as u64,
                    db_size: 24 * 1024 * 1024 + i as i64 * 4096,
                    db_size_in_use: 19 * 1024 * 1024,
                    version: "3.5.17".into(),
                    revision,
                    latency: Duration::from_micros(800 + 1700 * i as u64),
                    errors: vec![],
                })
            },
        })
        .collect();
    ClusterSnapshot {
        taken_at: at(t),
        cluster_id: 0xcdf818194e3a8c32,
        members,
        leases: vec![
            Lease {
                id: 0x694d81f3a1b2c001,
                granted_ttl: 60,
                remaining_ttl: 42,
                keys: 3,
            },
            Lease {
                id: 0x694d81f3a1b2c002,
                granted_ttl: 30,
                remaining_ttl: 5,
                keys: 1,
            },
            Lease {
                id: 0x694d81f3a1b2c003,
                granted_ttl: 10,
                remaining_ttl: 9,
                keys: 0,
            },
        ],
        alarms: vec![],
    }
}

fn app_after(history: impl IntoIterator<Item = ClusterSnapshot>) -> App {
    let mut app = App::new(
        vec![
            "10.0.0.1:2379".into(),
            "10.0.0.2:2379".into(),
            "10.0.0.3:2379".into(),
        ],
        Duration::from_secs(1),
        at(0),
    );
    for snapshot in history {
        app.update(Event::Refreshed(Ok(snapshot)));
    }
    app
}

/// Draws `app` on a `width`×`height` screen and returns it as text, one
/// line per row with trailing blanks trimmed.
fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    terminal.draw(|frame| ui::render(app, frame)).expect("draw");
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buffer.area.height {
        let row: String = (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol())
            .collect();
        out.push_str(row.trim_end());
        out.push('\n');
    }
    out
}

/// Compares `actual` with `tests/snapshots/<name>.txt`, or rewrites the
/// file when CAIRN_SNAPSHOT_UPDATE is set.
fn assert_snapshot(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("CAIRN_SNAPSHOT_UPDATE").is_some() {
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with CAIRN_SNAPSHOT_UPDATE=1 to create it",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "screen {name} differs from {}\n--- expected\n{expected}--- actual\n{actual}",
        path.display()
    );
}

#[test]
fn healthy_cluster() {
    let app = app_after((0..40).map(|t| cluster(t, 0, 4, &[])));
    assert_snapshot("healthy", &screen(&app, 140, 30));
}

#[test]
fn member_down_shows_unreachable_a_new_leader_and_the_higher_term() {
    // infra1 leads at term 4, is killed at t=20; infra2 wins term 5.
    let history = (0..30).map(|t| match t {
        0..20 => cluster(t, 0, 4, &[]),
        20..22 => cluster(t, 0, 4, &[0]),
        _ => cluster(t, 1, 5, &[0]),
    });
    let app = app_after(history);
    assert_snapshot("member_down", &screen(&app, 140, 30));
}

#[test]
fn many_leases_sorted_by_remaining_time_and_scrolled() {
    let mut last = cluster(10, 0, 4, &[]);
    last.leases = (0..40)
        .map(|i| Lease {
            id: 0x7a00_0000_0000_0000 + i,
            granted_ttl: 60,
            // Scrambled, so the test shows the sort.
            remaining_ttl: (i * 17) % 61,
            keys: (i % 4) as usize,
        })
        .collect();
    let mut app = app_after((0..10).map(|t| cluster(t, 0, 4, &[])).chain([last]));
    // Three seconds after the refresh the countdowns have moved on.
    app.update(Event::Tick(at(13)));
    for _ in 0..5 {
        app.update(Event::Key(KeyEvent::from(KeyCode::Down)));
    }
    assert_snapshot("many_leases", &screen(&app, 100, 30));
}

#[test]
fn narrow_terminal_with_an_alarm() {
    let mut last = cluster(10, 0, 4, &[2]);
    last.alarms = vec![Alarm {
        member_id: IDS[1],
        kind: "NOSPACE".into(),
    }];
    let mut app = app_after((0..10).map(|t| cluster(t, 0, 4, &[])).chain([last]));
    app.update(Event::Key(KeyEvent::from(KeyCode::Char('p'))));
    assert_snapshot("narrow_alarm", &screen(&app, 80, 24));
}

#[test]
fn no_reachable_endpoint_says_so() {
    let mut app = app_after([]);
    app.update(Event::Refreshed(Err(
        "10.0.0.3:2379: connection refused".into()
    )));
    assert_snapshot("no_endpoint", &screen(&app, 80, 24));
}

#[test]
fn help_overlay() {
    let mut app = app_after((0..5).map(|t| cluster(t, 0, 4, &[])));
    app.update(Event::Key(KeyEvent::from(KeyCode::Char('?'))));
    assert_snapshot("help", &screen(&app, 80, 24));
}

/// Regression guard for resizing: no screen size, however small, may make
/// drawing panic (a panic would tear down the dashboard mid-incident).
#[test]
fn tiny_and_odd_screens_draw_without_panicking() {
    let mut app = app_after((0..5).map(|t| cluster(t, 0, 4, &[1])));
    for (w, h) in [(1, 1), (10, 3), (20, 5), (40, 10), (79, 23), (200, 60)] {
        screen(&app, w, h);
    }
    app.update(Event::Key(KeyEvent::from(KeyCode::Char('?'))));
    for (w, h) in [(1, 1), (30, 8)] {
        screen(&app, w, h);
    }
    let mut app = browsing(&[]);
    for (w, h) in [(1, 1), (10, 3), (20, 5), (40, 10), (79, 23)] {
        screen(&app, w, h);
    }
    press(&mut app, KeyCode::Char('/'));
    for (w, h) in [(1, 1), (20, 5)] {
        screen(&app, w, h);
    }
}

#[test]
fn losing_every_endpoint_keeps_the_last_screen_marked_stale() {
    let mut app = app_after((0..5).map(|t| cluster(t, 0, 4, &[])));
    app.update(Event::Refreshed(Err("context deadline exceeded".into())));
    app.update(Event::Tick(at(7)));
    assert_snapshot("stale", &screen(&app, 80, 24));
}

fn press(app: &mut App, code: KeyCode) -> Effect {
    app.update(Event::Key(KeyEvent::from(code)))
}

/// Kubernetes-like keys under `/registry/`.
const KEYS: [&str; 14] = [
    "/registry/configmaps/default/app-config",
    "/registry/configmaps/kube-system/coredns",
    "/registry/leases/kube-node-lease/node-a",
    "/registry/leases/kube-node-lease/node-b",
    "/registry/pods/default/web-7c5ddbdf54-2xq9h",
    "/registry/pods/default/web-7c5ddbdf54-8kz4m",
    "/registry/pods/default/web-7c5ddbdf54-tr6lw",
    "/registry/pods/kube-system/coredns-5d78c9869d-4bq8x",
    "/registry/secrets/default/db-password",
    "/registry/services/endpoints/default/kubernetes",
    "/registry/services/specs/default/kubernetes",
    "/registry/services/specs/default/web",
    "/registry/serviceaccounts/default/default",
    "/registry/storageclasses/standard",
];

fn kv(key: &str, value: &[u8], created: i64, modified: i64, lease: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.to_vec(),
        create_revision: created,
        mod_revision: modified,
        version: modified - created + 1,
        lease,
    }
}

fn put(key: &str, rev: i64) -> Change {
    Change {
        kind: ChangeKind::Put,
        kv: kv(key, b"x", rev, rev, 0),
    }
}

/// The key browser open on `/registry/` after a few refreshes, listing
/// `keys` at revision 1400.
fn browsing(keys: &[&str]) -> App {
    let mut app = app_after((0..10).map(|t| cluster(t, 0, 4, &[])));
    assert_eq!(press(&mut app, KeyCode::Char('/')), Effect::Browse(vec![]));
    for c in "/registry/".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        Effect::Browse(b"/registry/".to_vec())
    );
    app.update(Event::Listed {
        prefix: b"/registry/".to_vec(),
        page: Ok(KeyPage {
            keys: keys.iter().map(|k| k.as_bytes().to_vec()).collect(),
            count: keys.len() as i64,
            revision: 1400,
        }),
    });
    app
}

#[test]
fn key_browser_at_80x24() {
    let mut app = browsing(&KEYS);
    for _ in 0..4 {
        press(&mut app, KeyCode::Down);
    }
    let key = KEYS[4];
    let value = b"{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\n \"metadata\":{\"name\":\"web-7c5ddbdf54-2xq9h\"},\n \"spec\":{\"nodeName\":\"node-a\"}}";
    app.update(Event::Fetched {
        key: key.into(),
        value: Ok(Some(kv(key, value, 1211, 1388, 0x694d81f3a1b2c001))),
    });
    app.update(Event::Watched {
        prefix: b"/registry/".to_vec(),
        changes: Ok(vec![
            put(KEYS[2], 1401),
            put(KEYS[3], 1402),
            Change {
                kind: ChangeKind::Delete,
                kv: kv(KEYS[6], b"", 0, 1403, 0),
            },
            put("/registry/events/default/web.17f3a", 1404),
        ]),
    });
    assert_snapshot("keys", &screen(&app, 80, 24));
}

#[test]
fn key_filter_being_typed() {
    let mut app = browsing(&KEYS);
    press(&mut app, KeyCode::Char('/'));
    app.update(Event::Key(KeyEvent::new(
        KeyCode::Char('u'),
        KeyModifiers::CONTROL,
    )));
    for c in "/registry/pods/".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    assert_snapshot("keys_filter", &screen(&app, 80, 24));
}

#[test]
fn key_browser_wide_with_a_binary_value_a_truncated_listing_and_the_tail_focused() {
    let mut app = browsing(&KEYS);
    // Pretend the listing stopped at its limit.
    app.update(Event::Listed {
        prefix: b"/registry/".to_vec(),
        page: Ok(KeyPage {
            keys: KEYS.iter().map(|k| k.as_bytes().to_vec()).collect(),
            count: 2345,
            revision: 1400,
        }),
    });
    press(&mut app, KeyCode::End);
    let key = KEYS[13];
    let value: Vec<u8> = (0u8..70).map(|b| b.wrapping_mul(37)).collect();
    app.update(Event::Fetched {
        key: key.into(),
        value: Ok(Some(kv(key, &value, 40, 40, 0))),
    });
    app.update(Event::Watched {
        prefix: b"/registry/".to_vec(),
        changes: Ok((0..12).map(|i| put(KEYS[i % 3], 1401 + i as i64)).collect()),
    });
    app.update(Event::Watched {
        prefix: b"/registry/".to_vec(),
        changes: Err("etcdserver: mvcc: required revision has been compacted".into()),
    });
    press(&mut app, KeyCode::Tab);
    assert_snapshot("keys_wide", &screen(&app, 120, 30));
}
