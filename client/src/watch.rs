//! A watch that survives the loss of the member serving it.
//!
//! A background task holds one gRPC Watch stream at a time. When the stream
//! breaks (connection lost, member killed, `Unavailable`), it opens a new
//! one on the next endpoint, starting at the revision after the last event
//! it delivered, so the caller sees every event once: none lost, none
//! repeated. The server's own decisions (a cancel because the revision was
//! compacted, a bad request) end the watch with an error instead.
//!
//! Invariant: `next_rev` is the lowest revision not yet delivered; any
//! event below it (a server resending history) is dropped.
//!
//! Each stream opens with a token fetched just before (with a user
//! configured; see [`crate::auth`]), so a reconnection long after the
//! watch began is not refused for an expired token.
//!
//! [`WatchStream`] is the other shape: many watches multiplexed on one gRPC
//! stream to one member, as etcd's client carries the watches of one
//! context. It neither fails over nor resumes; load generators use it to
//! open thousands of watches without a stream each.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_proto::etcdserverpb as pb;
use cairn_proto::mvccpb;
use pb::watch_client::WatchClient;
use pb::watch_request::RequestUnion;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::Client;
use super::auth;
use super::endpoints::Picked;
use super::error::Error;
use super::retry;

/// Pause before reopening a broken watch on the next endpoint.
const RECONNECT_PAUSE: Duration = Duration::from_millis(50);

/// What to watch.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    pub key: Vec<u8>,
    /// Empty: the key alone; `[0]`: every key from `key` on.
    pub range_end: Vec<u8>,
    /// First revision to deliver; 0 means the next one.
    pub start_revision: i64,
    pub prev_kv: bool,
    pub progress_notify: bool,
}

/// The caller's end of a watch.
#[derive(Debug)]
pub struct Watcher {
    rx: mpsc::Receiver<Result<pb::WatchResponse, Error>>,
    endpoint: Arc<Mutex<String>>,
    progress: mpsc::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    /// The next batch of events (or progress notification); `None` once the
    /// watch ended after an error was delivered.
    pub async fn next(&mut self) -> Option<Result<pb::WatchResponse, Error>> {
        self.rx.recv().await
    }

    /// The endpoint the watch is currently connected to.
    pub fn endpoint(&self) -> String {
        self.endpoint.lock().expect("endpoint lock").clone()
    }

    /// Asks the server for a progress notification.
    pub fn request_progress(&self) {
        let _ = self.progress.try_send(());
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Client {
    /// Starts a watch; events arrive through [`Watcher::next`].
    pub fn watch(&self, options: WatchOptions) -> Watcher {
        let (tx, rx) = mpsc::channel(64);
        let (progress, progress_rx) = mpsc::channel(1);
        // The first endpoint is chosen here, not in the task, so that
        // `Watcher::endpoint` is right from the start.
        let first = self.balancer().pick();
        let endpoint = Arc::new(Mutex::new(first.url.clone()));
        let task = tokio::spawn(run(
            self.clone(),
            options,
            tx,
            progress_rx,
            Arc::clone(&endpoint),
            first,
        ));
        Watcher {
            rx,
            endpoint,
            progress,
            task,
        }
    }
}

/// Several watches on one gRPC stream to one member. A broken stream ends
/// every watch on it with an error; nothing is resumed.
#[derive(Debug)]
pub struct WatchStream {
    client: Client,
    picked: Option<Picked>,
    requests: mpsc::Sender<pb::WatchRequest>,
    /// The request side, until the first create opens the stream (a gRPC
    /// server may hold its response headers until it has something to say,
    /// so the stream is opened with a request already queued).
    unopened: Option<mpsc::Receiver<pb::WatchRequest>>,
    responses: Option<tonic::Streaming<pb::WatchResponse>>,
    /// Responses of earlier watches that arrived while a create waited for
    /// its confirmation.
    early: VecDeque<pb::WatchResponse>,
}

impl Client {
    /// A stream for several watches, on the endpoint the balancer picks
    /// now. Nothing is sent until the first [`WatchStream::create`].
    pub fn watch_stream(&self) -> WatchStream {
        let (requests, unopened) = mpsc::channel(4);
        WatchStream {
            client: self.clone(),
            picked: Some(self.balancer().pick()),
            requests,
            unopened: Some(unopened),
            responses: None,
            early: VecDeque::new(),
        }
    }
}

impl WatchStream {
    /// Adds a watch and waits until the server has created it; returns the
    /// watch id its responses will carry.
    pub async fn create(&mut self, options: &WatchOptions) -> Result<i64, Error> {
        let closed = || Error::Stream("watch stream closed".into());
        self.requests
            .send(create(options, options.start_revision))
            .await
            .map_err(|_| closed())?;
        if let Some(rx) = self.unopened.take() {
            let picked = self.picked.take().ok_or_else(closed)?;
            let stamp = self.client.stream_stamp(&picked.channel).await?;
            match WatchClient::new(auth::with_token(picked.channel.clone(), stamp.token))
                .watch(ReceiverStream::new(rx))
                .await
            {
                Ok(s) => self.responses = Some(s.into_inner()),
                Err(status) => {
                    if retry::endpoint_failed(&status) {
                        self.client.balancer().failed(picked.index);
                    }
                    return Err(Error::Server(status));
                }
            }
        }
        let responses = self.responses.as_mut().ok_or_else(closed)?;
        loop {
            let resp = responses.message().await?.ok_or_else(closed)?;
            if !resp.created {
                self.early.push_back(resp);
            } else if resp.canceled {
                return Err(Error::Stream(resp.cancel_reason));
            } else {
                return Ok(resp.watch_id);
            }
        }
    }

    /// The next response of any watch on the stream; `None` once the server
    /// closed the stream (or before any watch was created).
    pub async fn next(&mut self) -> Option<Result<pb::WatchResponse, Error>> {
        if let Some(resp) = self.early.pop_front() {
            return Some(Ok(resp));
        }
        self.responses
            .as_mut()?
            .message()
            .await
            .map_err(Error::Server)
            .transpose()
    }
}

fn create(options: &WatchOptions, start_revision: i64) -> pb::WatchRequest {
    pb::WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(pb::WatchCreateRequest {
            key: options.key.clone(),
            range_end: options.range_end.clone(),
            start_revision,
            progress_notify: options.progress_notify,
            prev_kv: options.prev_kv,
            ..Default::default()
        })),
    }
}

/// Why one stream ended.
enum Ended {
    /// The caller dropped the watcher.
    Caller,
    /// The stream broke: reconnect elsewhere.
    Broken,
    /// The server ended the watch: deliver this and stop.
    Fatal(Error),
}

async fn run(
    client: Client,
    options: WatchOptions,
    out: mpsc::Sender<Result<pb::WatchResponse, Error>>,
    mut progress: mpsc::Receiver<()>,
    endpoint: Arc<Mutex<String>>,
    first: Picked,
) {
    let mut next_rev = options.start_revision;
    let mut next = Some(first);
    loop {
        let picked = next.take().unwrap_or_else(|| client.balancer().pick());
        *endpoint.lock().expect("endpoint lock") = picked.url.clone();
        let ended = match client.stream_stamp(&picked.channel).await {
            Ok(stamp) => {
                let channel = auth::with_token(picked.channel.clone(), stamp.token);
                stream_once(&options, &mut next_rev, channel, &out, &mut progress).await
            }
            Err(e) => login_failed(e),
        };
        match ended {
            Ended::Caller => return,
            Ended::Fatal(e) => {
                let _ = out.send(Err(e)).await;
                return;
            }
            Ended::Broken => {
                client.balancer().failed(picked.index);
                tokio::time::sleep(RECONNECT_PAUSE).await;
            }
        }
    }
}

async fn stream_once(
    options: &WatchOptions,
    next_rev: &mut i64,
    channel: auth::AuthChannel,
    out: &mpsc::Sender<Result<pb::WatchResponse, Error>>,
    progress: &mut mpsc::Receiver<()>,
) -> Ended {
    let (req_tx, req_rx) = mpsc::channel(4);
    if req_tx.send(create(options, *next_rev)).await.is_err() {
        return Ended::Broken;
    }
    let mut stream = match WatchClient::new(channel)
        .watch(ReceiverStream::new(req_rx))
        .await
    {
        Ok(s) => s.into_inner(),
        Err(status) => return broken_or_fatal(status),
    };
    loop {
        let message = tokio::select! {
            m = stream.message() => m,
            _ = out.closed() => return Ended::Caller,
            Some(()) = progress.recv() => {
                let req = pb::WatchRequest {
                    request_union: Some(RequestUnion::ProgressRequest(pb::WatchProgressRequest {})),
                };
                let _ = req_tx.send(req).await;
                continue;
            }
        };
        let mut resp = match message {
            Ok(Some(resp)) => resp,
            Ok(None) => return Ended::Broken,
            Err(status) => return broken_or_fatal(status),
        };
        let revision = resp.header.as_ref().map_or(0, |h| h.revision);
        if resp.canceled {
            let reason = if resp.compact_revision != 0 {
                "etcdserver: mvcc: required revision has been compacted".to_owned()
            } else {
                resp.cancel_reason.clone()
            };
            // The caller sees the cancellation itself, then the error.
            if out.send(Ok(resp)).await.is_err() {
                return Ended::Caller;
            }
            return Ended::Fatal(Error::Stream(reason));
        }
        if resp.created {
            if *next_rev == 0 {
                *next_rev = revision + 1;
            }
            continue;
        }
        let floor = *next_rev;
        resp.events
            .retain(|e: &mvccpb::Event| e.kv.as_ref().is_some_and(|kv| kv.mod_revision >= floor));
        if let Some(last) = resp.events.last().and_then(|e| e.kv.as_ref()) {
            *next_rev = last.mod_revision + 1;
        } else if resp.events.is_empty() && resp.fragment {
            continue;
        } else {
            // A progress notification: everything up to `revision` was sent.
            *next_rev = (*next_rev).max(revision + 1);
        }
        if out.send(Ok(resp)).await.is_err() {
            return Ended::Caller;
        }
    }
}

/// A login before opening a stream failed: its member is gone or could
/// not answer (try another), or the server refused it (the watch ends).
fn login_failed(e: Error) -> Ended {
    if e.endpoint_failed() {
        Ended::Broken
    } else {
        Ended::Fatal(e)
    }
}

fn broken_or_fatal(status: tonic::Status) -> Ended {
    if retry::endpoint_failed(&status) {
        Ended::Broken
    } else {
        Ended::Fatal(Error::Server(status))
    }
}
