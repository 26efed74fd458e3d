//! The key browser's network side: listing the keys under a prefix, reading
//! one key, and the watch tail of the prefix.
//!
//! Like the poller, every call runs in a background task and reports
//! through an [`Event`] naming the prefix or key it answers; the frame loop
//! only starts tasks ([`Browser`]'s methods return at once) and never waits
//! for one. One task at a time browses: it lists the prefix, then watches it
//! from the revision after the listing's, so every change after the listing
//! reaches the tail and none before it counts twice. Browsing another
//! prefix, or closing the browser, aborts that task and its watch.

use cairn_client::{Client, WatchOptions, mvccpb, pb, prefix_end};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::app::Event;
use crate::state::{Change, ChangeKind, KeyPage, KeyValue};

/// The most keys one listing asks for: a screen shows a few dozen, and the
/// count says how many more there are.
pub const LIST_LIMIT: i64 = 1000;

#[derive(Debug)]
pub struct Browser {
    client: Client,
    tx: mpsc::Sender<Event>,
    /// The prefix browsed, while the browser is open.
    prefix: Option<Vec<u8>>,
    task: Option<JoinHandle<()>>,
}

impl Browser {
    pub fn new(client: Client, tx: mpsc::Sender<Event>) -> Browser {
        Browser {
            client,
            tx,
            prefix: None,
            task: None,
        }
    }

    /// Lists `prefix` and watches it, in place of what was browsed before.
    pub fn browse(&mut self, prefix: Vec<u8>) {
        self.stop();
        self.prefix = Some(prefix.clone());
        let (client, tx) = (self.client.clone(), self.tx.clone());
        self.task = Some(tokio::spawn(async move {
            let page = list(&client, &prefix).await;
            let revision = page.as_ref().map_or(0, |p| p.revision);
            let listed = Event::Listed {
                prefix: prefix.clone(),
                page,
            };
            if tx.send(listed).await.is_ok() {
                tail(&client, prefix, revision, &tx).await;
            }
        }));
    }

    /// Lists the browsed prefix again (the watch goes on); nothing when the
    /// browser is closed.
    pub fn relist(&self) {
        let Some(prefix) = self.prefix.clone() else {
            return;
        };
        let (client, tx) = (self.client.clone(), self.tx.clone());
        tokio::spawn(async move {
            let page = list(&client, &prefix).await;
            let _ = tx.send(Event::Listed { prefix, page }).await;
        });
    }

    /// Reads `key`.
    pub fn fetch(&self, key: Vec<u8>) {
        let (client, tx) = (self.client.clone(), self.tx.clone());
        tokio::spawn(async move {
            let value = read(&client, &key).await;
            let _ = tx.send(Event::Fetched { key, value }).await;
        });
    }

    /// Stops browsing: the watch ends.
    pub fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.prefix = None;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The range every key under `prefix` lies in; the empty prefix is every
/// key (a Range may not start at the empty key).
fn range_of(prefix: &[u8]) -> (Vec<u8>, Vec<u8>) {
    if prefix.is_empty() {
        (vec![0], vec![0])
    } else {
        (prefix.to_vec(), prefix_end(prefix))
    }
}

/// The first [`LIST_LIMIT`] keys under `prefix` in byte order, names only.
pub async fn list(client: &Client, prefix: &[u8]) -> Result<KeyPage, String> {
    let (key, range_end) = range_of(prefix);
    let resp = client
        .range(pb::RangeRequest {
            key,
            range_end,
            keys_only: true,
            limit: LIST_LIMIT,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(KeyPage {
        keys: resp.kvs.into_iter().map(|kv| kv.key).collect(),
        count: resp.count,
        revision: resp.header.map_or(0, |h| h.revision),
    })
}

pub async fn read(client: &Client, key: &[u8]) -> Result<Option<KeyValue>, String> {
    let resp = client
        .range(pb::RangeRequest {
            key: key.to_vec(),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(resp.kvs.into_iter().next().map(key_value))
}

/// Watches `prefix` from the revision after `after` (from now when 0) and
/// sends each batch of events, until the watch fails or nobody listens.
async fn tail(client: &Client, prefix: Vec<u8>, after: i64, tx: &mpsc::Sender<Event>) {
    let (key, range_end) = range_of(&prefix);
    let mut watcher = client.watch(WatchOptions {
        key,
        range_end,
        start_revision: if after > 0 { after + 1 } else { 0 },
        ..Default::default()
    });
    while let Some(resp) = watcher.next().await {
        let changes = match resp {
            Ok(resp) if resp.events.is_empty() => continue,
            Ok(resp) => Ok(resp.events.into_iter().map(change).collect()),
            Err(e) => Err(e.to_string()),
        };
        let event = Event::Watched {
            prefix: prefix.clone(),
            changes,
        };
        if tx.send(event).await.is_err() {
            return;
        }
    }
}

fn key_value(kv: mvccpb::KeyValue) -> KeyValue {
    KeyValue {
        key: kv.key,
        value: kv.value,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        lease: kv.lease,
    }
}

fn change(e: mvccpb::Event) -> Change {
    let kind = if e.r#type == mvccpb::event::EventType::Delete as i32 {
        ChangeKind::Delete
    } else {
        ChangeKind::Put
    };
    Change {
        kind,
        kv: key_value(e.kv.unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_prefix_ranges_over_every_key() {
        assert_eq!(range_of(b""), (vec![0], vec![0]));
        assert_eq!(range_of(b"/a/"), (b"/a/".to_vec(), b"/a0".to_vec()));
    }
}
