//! Drawing: turns an [`App`] into one frame. Pure: it reads the app and
//! writes cells, nothing else, so the snapshot tests can pin whole screens.
//!
//! The layout is designed for 80×24 first and grows from there: the cluster
//! bar, an alarm banner when there are alarms, the members table, then the
//! view's panels, and a footer of keys (or the filter being typed). The
//! overview puts leases on the left and activity plus the event log on the
//! right; the key browser puts the keys on the left and the selected value
//! above the watch tail on the right. Columns of the members table that do
//! not fit are dropped in a fixed order of least importance rather than
//! squeezed into illegibility. The focused panel has a thick border, which
//! also shows in a plain-text capture of the screen.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Cell, Clear, Paragraph, Row, Sparkline, Table};

use crate::app::{App, Panel, View};
use crate::keys::Detail;
use crate::state::{ClusterSnapshot, KeyValue, Lease, Member, Quorum, Role};

pub fn render(app: &App, frame: &mut Frame<'_>) {
    let area = frame.area();
    let alarms = app.snapshot().is_some_and(|s| !s.alarms.is_empty());
    let members = app.snapshot().map_or(1, |s| s.members.len().max(1)) as u16;
    let [bar, banner, table, bottom, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(u16::from(alarms)),
        // Borders and header around the rows, but leave the lower panels
        // at least eight lines on a small screen.
        Constraint::Max(members + 3),
        Constraint::Min(8),
        Constraint::Length(1),
    ])
    .areas(area);

    render_bar(app, frame, bar);
    if let Some(snapshot) = app.snapshot().filter(|_| alarms) {
        render_alarms(snapshot, frame, banner);
    }
    render_members(app, frame, table);

    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(bottom);
    match app.view() {
        View::Overview => {
            render_leases(app, frame, left);
            let [activity, events] =
                Layout::vertical([Constraint::Length(8), Constraint::Min(3)]).areas(right);
            render_activity(app, frame, activity);
            render_events(app, frame, events);
        }
        View::Keys => {
            render_key_list(app, frame, left);
            let [value, tail] =
                Layout::vertical([Constraint::Percentage(50), Constraint::Min(3)]).areas(right);
            render_value(app, frame, value);
            render_tail(app, frame, tail);
        }
    }
    render_footer(app, frame, footer);

    if app.show_help() {
        render_help(app, frame, area);
    }
}

/// A bordered panel; the focused one has a thick, coloured border.
fn panel<'a>(app: &App, which: Panel, title: impl Into<Line<'a>>) -> Block<'a> {
    let block = Block::bordered().title(title);
    if app.focus() == which {
        block
            .border_type(BorderType::Thick)
            .border_style(Style::new().fg(Color::Cyan))
    } else {
        block
    }
}

fn render_bar(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let Some(s) = app.snapshot() else {
        let text = Line::from(vec![
            Span::styled(" cairntop ", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw("connecting to "),
            Span::raw(app.endpoints.join(",")),
        ]);
        frame.render_widget(Paragraph::new(text), area);
        return;
    };
    let quorum = s.quorum();
    let quorum_style = match quorum {
        Quorum::Healthy => Style::new().fg(Color::Green),
        Quorum::Degraded => Style::new().fg(Color::Yellow),
        Quorum::Lost => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
    };
    let leader = s.leader().map_or("none", Member::display_name);
    let term = s.term().map_or_else(|| "-".to_string(), |t| t.to_string());
    let sep = Span::styled(" │ ", Style::new().fg(Color::DarkGray));
    let text = Line::from(vec![
        Span::styled(
            format!(" cluster {:x}", s.cluster_id),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        sep.clone(),
        Span::raw(format!("{} members", s.members.len())),
        sep.clone(),
        Span::raw(format!("leader {leader}")),
        sep.clone(),
        Span::raw(format!("term {term}")),
        sep,
        Span::raw("quorum "),
        // With no endpoint answering, the last quorum seen says nothing
        // about now; everything else on screen is marked old by the footer.
        if app.unreachable().is_some() {
            Span::styled(
                "unknown (stale)",
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            )
        } else {
            Span::styled(quorum.as_str(), quorum_style)
        },
    ]);
    frame.render_widget(Paragraph::new(text), area);
}

fn render_alarms(s: &ClusterSnapshot, frame: &mut Frame<'_>, area: Rect) {
    let list: Vec<String> = s
        .alarms
        .iter()
        .map(|a| {
            let on = s.members.iter().find(|m| m.id == a.member_id).map_or_else(
                || format!("{:x}", a.member_id),
                |m| m.display_name().to_string(),
            );
            format!("{} on {on}", a.kind)
        })
        .collect();
    let text = format!(" ALARM {}", list.join(", "));
    let style = Style::new()
        .fg(Color::White)
        .bg(Color::Red)
        .add_modifier(Modifier::BOLD);
    frame.render_widget(Paragraph::new(text).style(style), area);
}

/// A members-table column: its header, its width, and how to fill it.
struct Column {
    header: &'static str,
    width: u16,
    /// Lower drops first when the table is too narrow.
    keep: u8,
    cell: fn(&Member) -> String,
}

/// The fields of a member that only an answer can fill; "-" otherwise.
fn reported(m: &Member, f: impl Fn(&crate::state::StatusReport) -> String) -> String {
    m.report().map_or_else(|| "-".to_string(), f)
}

const COLUMNS: &[Column] = &[
    Column {
        header: "NAME",
        width: 10,
        keep: 9,
        cell: |m| m.display_name().to_string(),
    },
    Column {
        header: "ID",
        width: 16,
        keep: 3,
        cell: |m| format!("{:x}", m.id),
    },
    Column {
        header: "CLIENT URL",
        width: 22,
        keep: 1,
        cell: |m| m.client_url.clone(),
    },
    Column {
        header: "ROLE",
        width: 8,
        keep: 8,
        cell: |m| m.role().map_or("-", Role::as_str).to_string(),
    },
    Column {
        header: "TERM",
        width: 5,
        keep: 7,
        cell: |m| reported(m, |r| r.raft_term.to_string()),
    },
    Column {
        header: "INDEX",
        width: 8,
        keep: 6,
        cell: |m| reported(m, |r| r.raft_index.to_string()),
    },
    Column {
        header: "APPLIED",
        width: 8,
        keep: 4,
        cell: |m| reported(m, |r| r.raft_applied_index.to_string()),
    },
    Column {
        header: "LAG",
        width: 5,
        keep: 6,
        cell: |m| {
            m.apply_lag()
                .map_or_else(|| "-".to_string(), |l| l.to_string())
        },
    },
    Column {
        header: "DB/IN USE",
        width: 11,
        keep: 5,
        cell: |m| {
            reported(m, |r| {
                format!("{}/{}", bytes(r.db_size), bytes(r.db_size_in_use))
            })
        },
    },
    Column {
        header: "VERSION",
        width: 7,
        keep: 0,
        cell: |m| reported(m, |r| r.version.clone()),
    },
    Column {
        header: "HEALTH",
        width: 11,
        keep: 9,
        cell: |m| match m.report() {
            Some(r) => format!("ok {}", latency(r.latency)),
            None => "unreachable".to_string(),
        },
    },
    Column {
        header: "ERRORS",
        width: 10,
        keep: 2,
        cell: |m| match &m.probe {
            crate::state::Probe::Answered(r) => r.errors.join("; "),
            crate::state::Probe::Unreachable(why) => why.clone(),
        },
    },
];

/// The columns that fit in `width`, in display order: the most important
/// are admitted first, each with one space between it and the next.
fn fitting_columns(width: u16) -> Vec<&'static Column> {
    let mut by_keep: Vec<&Column> = COLUMNS.iter().collect();
    by_keep.sort_by_key(|c| std::cmp::Reverse(c.keep));
    let mut used = 0u16;
    let mut chosen = Vec::new();
    for c in by_keep {
        let need = c.width + u16::from(!chosen.is_empty());
        if used + need <= width {
            used += need;
            chosen.push(c.header);
        }
    }
    COLUMNS
        .iter()
        .filter(|c| chosen.contains(&c.header))
        .collect()
}

fn render_members(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let block = panel(app, Panel::Members, " Members ");
    let Some(s) = app.snapshot() else {
        let why = app.unreachable().unwrap_or("waiting for the first refresh");
        let text = Paragraph::new(format!("no reachable endpoint, retrying: {why}"))
            .style(Style::new().fg(Color::Red))
            .block(block);
        frame.render_widget(text, area);
        return;
    };
    let columns = fitting_columns(block.inner(area).width);
    let header = Row::new(columns.iter().map(|c| Cell::from(c.header)))
        .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = s.members.iter().skip(app.member_scroll()).map(|m| {
        let style = match m.role() {
            None => Style::new().fg(Color::Red),
            Some(Role::Leader) => Style::new().fg(Color::Green),
            Some(_) => Style::new(),
        };
        Row::new(columns.iter().map(|c| Cell::from((c.cell)(m)))).style(style)
    });
    let widths: Vec<Constraint> = columns
        .iter()
        .map(|c| {
            if c.header == "ERRORS" {
                Constraint::Min(c.width)
            } else {
                Constraint::Length(c.width)
            }
        })
        .collect();
    // While every endpoint is down the last snapshot stays up, but the
    // title says it is stale.
    let block = match app.unreachable() {
        Some(why) => block.title(Line::styled(
            format!(" no reachable endpoint, retrying: {why} "),
            Style::new().fg(Color::Red),
        )),
        None => block,
    };
    let table = Table::new(rows, widths).header(header).block(block);
    frame.render_widget(table, area);
}

/// Seconds a lease has left at `now`, counted down from the snapshot so
/// the gauges move between refreshes.
fn remaining(lease: &Lease, taken_at: SystemTime, now: SystemTime) -> i64 {
    let elapsed = now.duration_since(taken_at).unwrap_or_default().as_secs();
    lease
        .remaining_ttl
        .saturating_sub(i64::try_from(elapsed).unwrap_or(i64::MAX))
        .max(0)
}

fn render_leases(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let mut leases: Vec<(&Lease, i64)> = match app.snapshot() {
        Some(s) => s
            .leases
            .iter()
            .map(|l| (l, remaining(l, s.taken_at, app.now())))
            .collect(),
        None => Vec::new(),
    };
    leases.sort_by_key(|&(l, left)| (left, l.id));
    let inner = Block::bordered().inner(area);
    // One line goes to the column header.
    let shown = usize::from(inner.height.saturating_sub(1));
    let first = app.lease_scroll().min(leases.len().saturating_sub(shown));
    let title = if leases.len() > shown {
        format!(
            " Leases {}-{} of {} ",
            first + 1,
            (first + shown).min(leases.len()),
            leases.len()
        )
    } else {
        format!(" Leases ({}) ", leases.len())
    };
    frame.render_widget(panel(app, Panel::Leases, title), area);
    if leases.is_empty() {
        frame.render_widget(Paragraph::new("no leases"), inner);
        return;
    }
    let [header, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    frame.render_widget(
        Paragraph::new(format!(
            "{:<16} {:>4}/{:<4}{:>4}",
            "ID", "LEFT", "TTL", "KEYS"
        ))
        .style(Style::new().add_modifier(Modifier::BOLD)),
        header,
    );
    let rows = Layout::vertical(vec![Constraint::Length(1); shown]).split(list);
    for (row, &(lease, left)) in rows.iter().zip(leases.iter().skip(first)) {
        let label = format!(
            "{:x} {:>4}/{:<4}{:>4} ",
            lease.id,
            secs(left),
            secs(lease.granted_ttl),
            lease.keys
        );
        let bar_width = usize::from(row.width).saturating_sub(label.chars().count());
        let ratio = if lease.granted_ttl > 0 {
            left as f64 / lease.granted_ttl as f64
        } else {
            0.0
        };
        let color = if ratio < 0.2 {
            Color::Red
        } else if ratio < 0.5 {
            Color::Yellow
        } else {
            Color::Green
        };
        let line = Line::from(vec![
            Span::raw(label),
            Span::styled(gauge(ratio, bar_width), Style::new().fg(color)),
        ]);
        frame.render_widget(Paragraph::new(line), *row);
    }
}

/// A text gauge: filled blocks then light shade, so the level also reads
/// in a plain-text capture of the screen.
fn gauge(ratio: f64, width: usize) -> String {
    let filled = ((ratio.clamp(0.0, 1.0) * width as f64).round() as usize).min(width);
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

fn render_activity(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let block = Block::bordered().title(" Activity ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [writes_label, writes, raft_label, raft] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Length(2),
    ])
    .areas(inner);
    // The newest samples that fit, right-aligned like a scrolling chart.
    let width = usize::from(inner.width);
    let recent: Vec<_> = app.activity().iter().rev().take(width).rev().collect();
    let series = |f: fn(&crate::app::Sample) -> f64| -> Vec<u64> {
        recent.iter().map(|s| f(s).round() as u64).collect()
    };
    let w = series(|s| s.writes_per_sec);
    let r = series(|s| s.raft_entries_per_sec);
    let now = |v: &[u64]| v.last().map_or_else(|| "-".to_string(), u64::to_string);
    let peak = |v: &[u64]| v.iter().copied().max().unwrap_or(0);
    let revision = app
        .snapshot()
        .and_then(ClusterSnapshot::revision)
        .map_or_else(|| "-".to_string(), |r| r.to_string());
    let index = app
        .snapshot()
        .and_then(ClusterSnapshot::raft_index)
        .map_or_else(|| "-".to_string(), |r| r.to_string());
    frame.render_widget(
        Paragraph::new(format!(
            "writes/s {} (peak {})  rev {revision}",
            now(&w),
            peak(&w)
        )),
        writes_label,
    );
    frame.render_widget(
        Sparkline::default()
            .data(&w)
            .style(Style::new().fg(Color::Cyan)),
        writes,
    );
    frame.render_widget(
        Paragraph::new(format!(
            "raft/s {} (peak {})  index {index}",
            now(&r),
            peak(&r)
        )),
        raft_label,
    );
    frame.render_widget(
        Sparkline::default()
            .data(&r)
            .style(Style::new().fg(Color::Magenta)),
        raft,
    );
}

fn render_events(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let block = panel(app, Panel::Events, " Events ");
    let shown = usize::from(block.inner(area).height);
    // Newest on top: the eye lands on what just happened.
    let lines: Vec<Line<'_>> = app
        .events()
        .iter()
        .rev()
        .skip(app.event_scroll())
        .take(shown)
        .map(|e| {
            Line::from(vec![
                Span::styled(clock(e.at), Style::new().fg(Color::DarkGray)),
                Span::raw(" "),
                Span::raw(e.text.as_str()),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn render_footer(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let key = Style::new().add_modifier(Modifier::REVERSED);
    if let Some(input) = app.keys().input() {
        let line = Line::from(vec![
            Span::styled("/", key),
            Span::raw(" prefix: "),
            Span::styled(input, Style::new().add_modifier(Modifier::BOLD)),
            Span::raw("█  "),
            Span::styled("Enter", key),
            Span::raw(" apply "),
            Span::styled("Esc", key),
            Span::raw(" cancel"),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    let browse = match app.view() {
        View::Overview => " keys ",
        View::Keys => " back ",
    };
    let mut spans = vec![
        Span::styled("q", key),
        Span::raw(" quit "),
        Span::styled("p", key),
        Span::raw(" pause "),
        Span::styled("r", key),
        Span::raw(" refresh "),
        Span::styled("k", key),
        Span::raw(browse),
        Span::styled("/", key),
        Span::raw(" filter "),
        Span::styled("?", key),
        Span::raw(" help  "),
    ];
    // While paused the interval says nothing; the pause takes its place.
    if app.paused() {
        spans.push(Span::styled(
            "PAUSED",
            Style::new().fg(Color::Black).bg(Color::Yellow),
        ));
    } else {
        spans.push(Span::raw(format!("every {}", secs_f(app.refresh))));
    }
    // The age of what is on screen: it grows when refreshes stall or are
    // paused, which a steady redraw alone would hide.
    if let Some(s) = app.snapshot() {
        let age = app.now().duration_since(s.taken_at).unwrap_or_default();
        spans.push(Span::raw(format!(", updated {}s ago", age.as_secs())));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_help(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let [popup] = Layout::horizontal([Constraint::Length(56)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::vertical([Constraint::Length(15)])
        .flex(Flex::Center)
        .areas(popup);
    let text = vec![
        Line::raw("q, Ctrl-C   quit"),
        Line::raw("p           pause / resume refreshing"),
        Line::raw("r           refresh now"),
        Line::raw("k           key browser (k or Esc: back)"),
        Line::raw("/           filter the keys by prefix"),
        Line::raw("Tab, ← →    move between panels (Shift-Tab: back)"),
        Line::raw("↑ ↓         scroll the panel, select a key"),
        Line::raw("PgUp PgDn   a page at a time (Home, End: the ends)"),
        Line::raw("?, Esc      close this help"),
        Line::raw(""),
        Line::raw(format!("refreshing every {}", secs_f(app.refresh))),
        Line::raw("endpoints:"),
        Line::raw(format!("  {}", app.endpoints.join(","))),
    ];
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text).block(Block::bordered().title(" Help ")),
        popup,
    );
}

/// How a prefix reads in a title.
fn shown_prefix(prefix: &[u8]) -> String {
    if prefix.is_empty() {
        "(all)".to_string()
    } else {
        printable(prefix)
    }
}

/// `key` as the list and the tail show it: without the part of the prefix
/// up to its last `/`, which the panel's title already shows.
fn relative<'a>(key: &'a [u8], prefix: &[u8]) -> &'a [u8] {
    let dir = prefix.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    match key.strip_prefix(&prefix[..dir]) {
        Some(rest) if !rest.is_empty() => rest,
        _ => key,
    }
}

/// The first of `rows` rows shown out of `len`, keeping `selected` in the
/// middle where it can: the view follows the selection without state.
fn window(selected: usize, rows: usize, len: usize) -> usize {
    selected
        .saturating_sub(rows / 2)
        .min(len.saturating_sub(rows))
}

fn render_key_list(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let keys = app.keys();
    let mut block = panel(
        app,
        Panel::Keys,
        format!(" Keys {} ", shown_prefix(keys.prefix())),
    );
    let inner = block.inner(area);
    let width = usize::from(inner.width);
    let lines: Vec<Line<'_>> = match keys.page() {
        None => vec![Line::raw("listing…")],
        Some(Err(why)) => vec![Line::styled(why.as_str(), Style::new().fg(Color::Red))],
        Some(Ok(page)) if page.keys.is_empty() => vec![Line::raw("no keys")],
        Some(Ok(page)) => {
            let rows = usize::from(inner.height);
            let selected = keys.selected();
            block = block.title_bottom(if page.truncated() {
                format!(
                    " {}/{} listed of {} ",
                    selected + 1,
                    page.keys.len(),
                    page.count
                )
            } else {
                format!(" {}/{} ", selected + 1, page.keys.len())
            });
            let focused = app.focus() == Panel::Keys;
            page.keys
                .iter()
                .enumerate()
                .skip(window(selected, rows, page.keys.len()))
                .take(rows)
                .map(|(i, k)| {
                    let shown = relative(k, keys.prefix());
                    let text = fit(&printable(shown), width.saturating_sub(2));
                    if i == selected {
                        let style = if focused {
                            Style::new().add_modifier(Modifier::REVERSED)
                        } else {
                            Style::new().add_modifier(Modifier::BOLD)
                        };
                        Line::styled(format!("> {text}"), style)
                    } else {
                        Line::raw(format!("  {text}"))
                    }
                })
                .collect()
        }
    };
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn render_value(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let block = Block::bordered().title(" Value ");
    let inner = block.inner(area);
    let width = usize::from(inner.width);
    let dim = Style::new().fg(Color::DarkGray);
    let keys = app.keys();
    let mut lines: Vec<Line<'_>> = Vec::new();
    match keys.selected_key() {
        None => lines.push(Line::raw("no key selected")),
        Some(key) => {
            lines.push(Line::styled(
                fit(&printable(key), width),
                Style::new().add_modifier(Modifier::BOLD),
            ));
            match keys.detail() {
                None | Some(Detail::Loading) => lines.push(Line::raw("reading…")),
                Some(Detail::Missing) => lines.push(Line::raw("(deleted)")),
                Some(Detail::Failed(why)) => {
                    lines.push(Line::styled(why.as_str(), Style::new().fg(Color::Red)));
                }
                Some(Detail::Found(kv)) => {
                    for meta in metadata(kv) {
                        lines.push(Line::styled(fit(&meta, width), dim));
                    }
                    let rows = usize::from(inner.height).saturating_sub(lines.len());
                    lines.extend(
                        value_lines(&kv.value, width, rows)
                            .into_iter()
                            .map(Line::raw),
                    );
                }
            }
        }
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// The two lines about a key above its value.
fn metadata(kv: &KeyValue) -> [String; 2] {
    let lease = if kv.lease == 0 {
        "none".to_string()
    } else {
        format!("{:x}", kv.lease)
    };
    let kind = if as_text(&kv.value).is_some() {
        ""
    } else {
        ", hex"
    };
    [
        format!(
            "created {} modified {} version {}",
            kv.create_revision, kv.mod_revision, kv.version
        ),
        format!("lease {lease}, {} bytes{kind}", kv.value.len()),
    ]
}

/// The value as text, when it is UTF-8 without control characters other
/// than newlines and tabs.
fn as_text(value: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(value).ok()?;
    let plain = text
        .chars()
        .all(|c| !c.is_control() || c == '\n' || c == '\t');
    plain.then_some(text)
}

/// A value in at most `rows` lines of `width`: text line by line, anything
/// else as hex bytes; what does not fit is cut, and says so.
fn value_lines(value: &[u8], width: usize, rows: usize) -> Vec<String> {
    if value.is_empty() {
        return vec!["(empty)".to_string()];
    }
    let mut lines: Vec<String> = match as_text(value) {
        Some(text) => text
            .lines()
            .map(|l| fit(&l.replace('\t', "    "), width))
            .collect(),
        None => value
            .chunks(((width + 1) / 3).max(1))
            .map(|chunk| {
                chunk.iter().fold(String::new(), |mut s, b| {
                    if !s.is_empty() {
                        s.push(' ');
                    }
                    let _ = write!(s, "{b:02x}");
                    s
                })
            })
            .collect(),
    };
    if lines.len() > rows {
        let more = lines.len() + 1 - rows.max(1);
        lines.truncate(rows.saturating_sub(1));
        lines.push(fit(&format!("… {more} more lines"), width));
    }
    lines
}

fn render_tail(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let keys = app.keys();
    let mut block = panel(
        app,
        Panel::Watch,
        format!(" Watch {} ", shown_prefix(keys.prefix())),
    );
    let width = usize::from(block.inner(area).width);
    let mut lines: Vec<Line<'_>> = Vec::new();
    if let Some(why) = keys.tail_error() {
        lines.push(Line::styled(
            fit(&format!("watch stopped: {why}"), width),
            Style::new().fg(Color::Red),
        ));
    }
    if keys.tail().is_empty() {
        if lines.is_empty() {
            lines.push(Line::raw("waiting for changes…"));
        }
    } else {
        let n = keys.tail().len();
        let plural = if n == 1 { "" } else { "s" };
        block = block.title_bottom(format!(" {n} event{plural} "));
    }
    // Newest on top, as in the event log.
    for e in keys.tail().iter().rev().skip(keys.tail_scroll()) {
        let text = format!(
            "{:>7} {:<6} {}",
            e.revision,
            e.kind.as_str(),
            printable(relative(&e.key, keys.prefix()))
        );
        let style = match e.kind {
            crate::state::ChangeKind::Put => Style::new(),
            crate::state::ChangeKind::Delete => Style::new().fg(Color::Red),
        };
        lines.push(Line::styled(fit(&text, width), style));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// Bytes as text: UTF-8 as it is, control characters and bytes that are
/// not UTF-8 as `\xNN`.
pub fn printable(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "\\x{b:02x}");
                }
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// `text` cut to `width` characters, the cut marked with an ellipsis.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Bytes in a short human form: 512B, 1.5K, 24.0M, 2.0G (powers of 1024).
fn bytes(n: i64) -> String {
    const UNITS: [&str; 4] = ["K", "M", "G", "T"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1}{}", UNITS[unit])
}

fn latency(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{}µs", d.as_micros())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

fn secs(s: i64) -> String {
    format!("{s}s")
}

fn secs_f(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Wall-clock time of day in UTC, HH:MM:SS; the log is read against the
/// operator's other UTC logs, and this needs no time-zone database.
fn clock(at: SystemTime) -> String {
    let s = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_fills_in_proportion() {
        assert_eq!(gauge(0.5, 4), "██░░");
        assert_eq!(gauge(0.0, 3), "░░░");
        assert_eq!(gauge(1.5, 2), "██");
    }

    #[test]
    fn narrow_tables_keep_the_most_important_columns() {
        let headers: Vec<_> = fitting_columns(78).iter().map(|c| c.header).collect();
        assert!(
            headers.contains(&"NAME") && headers.contains(&"HEALTH") && headers.contains(&"ROLE")
        );
        assert!(!headers.contains(&"VERSION"));
        assert_eq!(fitting_columns(500).len(), COLUMNS.len());
    }

    #[test]
    fn keys_print_escaped_and_cut_to_fit() {
        assert_eq!(printable(b"/app/\x00\xff\xc3\xa9"), "/app/\\x00\\xffé");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
    }

    #[test]
    fn values_show_as_text_or_hex_within_their_rows() {
        assert_eq!(value_lines(b"a\nb\tc", 10, 5), ["a", "b    c"]);
        assert_eq!(value_lines(b"\x00\x01\xff", 5, 5), ["00 01", "ff"]);
        assert_eq!(
            value_lines(b"1\n2\n3\n4", 20, 3),
            ["1", "2", "… 2 more lines"]
        );
        assert_eq!(value_lines(b"1\n2\n3\n4", 8, 3), ["1", "2", "… 2 mor…"]);
        assert_eq!(value_lines(b"", 10, 3), ["(empty)"]);
    }

    #[test]
    fn keys_are_shown_below_the_prefix_directory() {
        assert_eq!(relative(b"/registry/pods/a", b"/registry/"), b"pods/a");
        assert_eq!(relative(b"/registry/pods/a", b"/registry/po"), b"pods/a");
        assert_eq!(relative(b"/registry/", b"/registry/"), b"/registry/");
        assert_eq!(relative(b"foo", b"fo"), b"foo");
        assert_eq!(relative(b"foo", b""), b"foo");
    }

    #[test]
    fn the_key_window_follows_the_selection() {
        assert_eq!(window(0, 10, 100), 0);
        assert_eq!(window(7, 10, 100), 2);
        assert_eq!(window(99, 10, 100), 90);
        assert_eq!(window(3, 10, 5), 0);
    }

    #[test]
    fn bytes_are_short() {
        assert_eq!(bytes(512), "512B");
        assert_eq!(bytes(1536), "1.5K");
        assert_eq!(bytes(25 * 1024 * 1024), "25.0M");
    }
}
