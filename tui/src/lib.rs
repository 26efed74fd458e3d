//! cairntop, a live terminal dashboard of a cairn (or etcd) cluster.
//!
//! The crate is split the way ratatui applications usually are: [`state`]
//! is the cluster as one refresh saw it (and the keys as the browser saw
//! them), [`app`] holds everything the screen shows and changes only through
//! [`app::App::update`] (the key browser's part in [`keys`]), and [`ui`]
//! draws an app into a frame without side effects. [`poll`] and [`browse`]
//! make every network call, in background tasks that report through events.
//! The binary wires these to the terminal and to the cluster; [`cli`] is
//! its command line.

pub mod app;
pub mod browse;
pub mod cli;
pub mod keys;
pub mod poll;
pub mod state;
pub mod ui;
