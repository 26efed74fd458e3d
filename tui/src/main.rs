//! `cairntop`: the terminal glue. Parses flags, starts the poller task and a
//! thread reading the terminal, and runs the frame loop: a `select!` over a
//! frame tick, terminal input, results of background calls and Ctrl-C. The
//! effects an update asks for (refresh now, list, read, watch) start
//! background tasks and return at once. Drawing only reads the app, so a
//! frame is never late because a member is.
//!
//! The terminal is always given back: `ratatui::init` installs a panic hook
//! that restores it, and every way out of the loop (q, Ctrl-C as a key in
//! raw mode, SIGINT from outside) returns through `ratatui::restore`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cairn_client::{Client, ClientConfig, User};
use cairntop::app::{App, Effect, Event};
use cairntop::browse::Browser;
use cairntop::cli::{Args, Login};
use cairntop::{poll, ui};
use clap::Parser;
use crossterm::event::{self as term, KeyEventKind};
use tokio::sync::{Notify, mpsc};

/// How often the screen is redrawn: lease countdowns move and a stalled
/// refresh is visible even when nothing arrives.
const FRAME: Duration = Duration::from_millis(250);

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let mut config = ClientConfig::new(args.endpoints.clone());
    config.dial_timeout = args.dial_timeout;
    config.command_timeout = args.command_timeout;
    config.credentials = args.credentials();
    config.user = match args.login() {
        Login::Anonymous => None,
        Login::As(user) => Some(user),
        Login::Ask(name) => match ask_password() {
            Ok(password) => Some(User { name, password }),
            Err(e) => {
                eprintln!("cairntop: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let client = match Client::new(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cairntop: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A wrong password is said here, before the screen is taken.
    if let Err(e) = client.login().await {
        eprintln!("cairntop: {e}");
        return ExitCode::FAILURE;
    }

    let (tx, rx) = mpsc::channel(64);
    let refresh_now = Arc::new(Notify::new());
    tokio::spawn(poll::run(
        client.clone(),
        args.refresh,
        refresh_now.clone(),
        tx.clone(),
    ));
    let mut browser = Browser::new(client, tx.clone());
    spawn_input(tx);

    let mut terminal = ratatui::init();
    let app = App::new(args.endpoints, args.refresh, SystemTime::now());
    let outcome = run(&mut terminal, app, rx, &refresh_now, &mut browser).await;
    ratatui::restore();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cairntop: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    terminal: &mut ratatui::DefaultTerminal,
    mut app: App,
    mut rx: mpsc::Receiver<Event>,
    refresh_now: &Notify,
    browser: &mut Browser,
) -> std::io::Result<()> {
    let mut frame = tokio::time::interval(FRAME);
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let event = tokio::select! {
            _ = frame.tick() => Event::Tick(SystemTime::now()),
            Some(event) = rx.recv() => event,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let redraw = matches!(event, Event::Tick(_) | Event::Key(_));
        match app.update(event) {
            Effect::Quit => return Ok(()),
            Effect::RefreshNow => {
                refresh_now.notify_one();
                browser.relist();
            }
            Effect::Browse(prefix) => browser.browse(prefix),
            Effect::Fetch(key) => browser.fetch(key),
            Effect::StopBrowsing => browser.stop(),
            Effect::None => {}
        }
        if redraw {
            terminal.draw(|f| ui::render(&app, f))?;
        }
    }
}

/// Reads the terminal on a plain thread: crossterm's read blocks, and this
/// keeps it off the async workers without another dependency.
fn spawn_input(tx: mpsc::Sender<Event>) {
    std::thread::spawn(move || {
        while let Ok(event) = term::read() {
            let event = match event {
                term::Event::Key(k) if k.kind == KeyEventKind::Press => Event::Key(k),
                // Drawn at the next frame; ratatui resizes on draw.
                _ => continue,
            };
            if tx.blocking_send(event).is_err() {
                return;
            }
        }
    });
}

/// Reads a password from the terminal without echoing it (`Password: `,
/// as etcdctl asks), before the dashboard takes the screen.
fn ask_password() -> std::io::Result<String> {
    use crossterm::event::{Event as Term, KeyCode, KeyModifiers};
    use std::io::Write;
    eprint!("Password: ");
    std::io::stderr().flush()?;
    crossterm::terminal::enable_raw_mode()?;
    let mut password = String::new();
    let read = loop {
        match term::read() {
            Ok(Term::Key(k)) if k.kind != KeyEventKind::Release => match k.code {
                KeyCode::Enter => break Ok(()),
                KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                    break Err(std::io::Error::new(
                        std::io::ErrorKind::Interrupted,
                        "interrupted",
                    ));
                }
                KeyCode::Backspace => {
                    password.pop();
                }
                KeyCode::Char(c) => password.push(c),
                _ => {}
            },
            Ok(_) => {}
            Err(e) => break Err(e),
        }
    };
    crossterm::terminal::disable_raw_mode()?;
    eprintln!();
    read.map(|()| password)
}
