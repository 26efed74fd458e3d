//! Password hashes: bcrypt at `--bcrypt-cost`, computed on the blocking
//! pool and never more than a few at once.
//!
//! Owns: hashing a new password (before a user add or password change is
//! proposed, so the clear text never enters the log) and checking one at
//! login. Must never: run on the raft thread or an async worker (a hash
//! takes tens of milliseconds by design), or log a password or hash.
//!
//! A flood of logins queues here, bounded by the permits, so wrong
//! passwords cost their senders time and leave the rest of the server
//! its cores.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// Hashes and checks passwords with bounded concurrency.
#[derive(Debug, Clone)]
pub struct Passwords {
    cost: u32,
    permits: Arc<Semaphore>,
}

impl Passwords {
    /// At most one hash per core but one, so logins never take every core.
    pub fn new(cost: u32) -> Passwords {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Passwords {
            cost,
            permits: Arc::new(Semaphore::new(cores.saturating_sub(1).max(1))),
        }
    }

    /// The bcrypt hash of `password`, as text.
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let cost = self.cost;
        self.run(move || Ok(bcrypt::hash(password, cost)?)).await
    }

    /// Whether `password` matches `hash`; a malformed hash matches nothing.
    pub async fn matches(&self, password: String, hash: Vec<u8>) -> bool {
        let checked = self
            .run(move || {
                let hash = String::from_utf8(hash)?;
                Ok(bcrypt::verify(password, &hash)?)
            })
            .await;
        checked.unwrap_or(false)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self.permits.acquire().await?;
        tokio::task::spawn_blocking(work).await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_matches_its_password_only() {
        let passwords = Passwords::new(4);
        let hash = passwords.hash("s3cret".into()).await.unwrap();
        assert!(hash.starts_with("$2"));
        assert!(
            passwords
                .matches("s3cret".into(), hash.clone().into_bytes())
                .await
        );
        assert!(!passwords.matches("wrong".into(), hash.into_bytes()).await);
        assert!(
            !passwords
                .matches("s3cret".into(), b"not a hash".to_vec())
                .await
        );
    }
}
