//! Lease keep-alives: one-shot ([`Client::lease_keep_alive_once`]) and a
//! stream that keeps a lease alive until dropped ([`Client::lease_keep_alive`]).
//!
//! The stream renews every third of the lease's TTL. When the connection
//! breaks it reopens on the next endpoint at once, so with a TTL of a few
//! seconds or more the lease survives a member's death; it gives up only
//! when the lease's last known deadline has passed.

use std::time::Duration;

use cairn_proto::etcdserverpb as pb;
use pb::lease_client::LeaseClient;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

use super::Client;
use super::auth;
use super::error::Error;
use super::retry;

/// Shortest pause between two renewals.
const MIN_RENEW: Duration = Duration::from_millis(500);
/// Pause before reopening a broken keep-alive stream.
const RECONNECT_PAUSE: Duration = Duration::from_millis(50);

/// Renewals of one lease, as they happen. Dropping it stops renewing.
#[derive(Debug)]
pub struct KeepAlive {
    rx: mpsc::Receiver<Result<pb::LeaseKeepAliveResponse, Error>>,
    task: tokio::task::JoinHandle<()>,
}

impl KeepAlive {
    /// The next renewal; `Some(Err(LeaseNotFound))` once the lease is gone,
    /// then `None`.
    pub async fn next(&mut self) -> Option<Result<pb::LeaseKeepAliveResponse, Error>> {
        self.rx.recv().await
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Client {
    /// Renews lease `id` once.
    pub async fn lease_keep_alive_once(
        &self,
        id: i64,
    ) -> Result<pb::LeaseKeepAliveResponse, Error> {
        let resp = self
            .unary(retry::Policy::Repeatable, |ch| async move {
                let (tx, rx) = mpsc::channel(1);
                tx.send(pb::LeaseKeepAliveRequest { id })
                    .await
                    .map_err(|_| tonic::Status::internal("keep-alive request channel closed"))?;
                let mut stream = LeaseClient::new(ch)
                    .lease_keep_alive(ReceiverStream::new(rx))
                    .await?
                    .into_inner();
                match stream.message().await? {
                    Some(r) => Ok(tonic::Response::new(r)),
                    None => Err(tonic::Status::unavailable("keep-alive stream closed")),
                }
            })
            .await?;
        if resp.ttl <= 0 {
            return Err(Error::LeaseNotFound);
        }
        Ok(resp)
    }

    /// Keeps lease `id` alive until the returned handle is dropped.
    pub fn lease_keep_alive(&self, id: i64) -> KeepAlive {
        let (tx, rx) = mpsc::channel(16);
        let task = tokio::spawn(keep_alive_loop(self.clone(), id, tx));
        KeepAlive { rx, task }
    }
}

async fn keep_alive_loop(
    client: Client,
    id: i64,
    out: mpsc::Sender<Result<pb::LeaseKeepAliveResponse, Error>>,
) {
    // Until the first answer, allow the command timeout to find a member.
    let mut expires = Instant::now() + client.config().command_timeout;
    loop {
        let picked = client.balancer().pick();
        let (req_tx, req_rx) = mpsc::channel(1);
        // The first request goes in before the stream opens: a grpc-go
        // server (etcd) sends its response headers only with the first
        // answer, so waiting for the stream before asking would wait forever.
        if req_tx.send(pb::LeaseKeepAliveRequest { id }).await.is_err() {
            return;
        }
        // A token fetched now from this member, as for every stream (see
        // `auth`); a login the member could not answer counts as a broken
        // stream.
        let opened = match client.stream_stamp(&picked.channel).await {
            Ok(stamp) => {
                LeaseClient::new(auth::with_token(picked.channel.clone(), stamp.token))
                    .lease_keep_alive(ReceiverStream::new(req_rx))
                    .await
            }
            Err(e) if e.endpoint_failed() => Err(tonic::Status::unavailable(e.to_string())),
            Err(e) => {
                let _ = out.send(Err(e)).await;
                return;
            }
        };
        let broken = match opened {
            Err(status) if retry::endpoint_failed(&status) => true,
            Err(status) => {
                let _ = out.send(Err(Error::Server(status))).await;
                return;
            }
            Ok(stream) => {
                let mut stream = stream.into_inner();
                loop {
                    let resp = tokio::select! {
                        m = stream.message() => m,
                        _ = out.closed() => return,
                    };
                    match resp {
                        Ok(Some(r)) if r.ttl <= 0 => {
                            let _ = out.send(Err(Error::LeaseNotFound)).await;
                            return;
                        }
                        Ok(Some(r)) => {
                            client.balancer().succeeded(picked.index);
                            let ttl = Duration::from_secs(r.ttl.unsigned_abs());
                            expires = Instant::now() + ttl;
                            if out.send(Ok(r)).await.is_err() {
                                return;
                            }
                            tokio::time::sleep((ttl / 3).max(MIN_RENEW)).await;
                            if req_tx.send(pb::LeaseKeepAliveRequest { id }).await.is_err() {
                                break true;
                            }
                        }
                        Ok(None) => break true,
                        Err(status) if retry::endpoint_failed(&status) => break true,
                        Err(status) => {
                            let _ = out.send(Err(Error::Server(status))).await;
                            return;
                        }
                    }
                }
            }
        };
        if broken {
            client.balancer().failed(picked.index);
            if Instant::now() >= expires {
                let _ = out
                    .send(Err(Error::Stream(format!(
                        "lease {id:016x}: no member answered before it expired"
                    ))))
                    .await;
                return;
            }
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
    }
}
