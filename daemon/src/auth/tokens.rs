//! The tokens a member hands out at login and accepts: etcd's simple
//! tokens, opaque strings a member maps to a user name, valid while used
//! at least once per `--auth-token-ttl`; or signed JWTs (`jwt.rs`); or, with
//! `--auth-token ""`, none ([`TokenProvider`]).
//!
//! Owns: the simple-token table of one member. Every member fills its table the
//! same way, from the committed login entries (`<prefix>.<entry index>`),
//! so a token handed out by one member works on all of them; each member
//! expires its own copies. Must never: persist tokens (a restart forgets
//! them, as etcd's do: clients log in again) or log them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng as _;
use rand::distr::Alphanumeric;

use super::jwt::JwtTokens;

/// Which tokens this member deals in (`--auth-token`).
#[derive(Debug)]
pub enum TokenProvider {
    /// `--auth-token ""`: no password login succeeds; only certificates
    /// name users.
    Off,
    Simple(SimpleTokens),
    Jwt(Box<JwtTokens>),
}

impl TokenProvider {
    /// Registers a simple token (a login was applied); other providers
    /// keep nothing.
    pub fn assign(&self, token: String, user: String, now: Instant) {
        if let TokenProvider::Simple(t) = self {
            t.assign(token, user, now);
        }
    }

    /// The user and auth revision `token` speaks for, if it is valid: a
    /// simple token speaks for the current revision, a JWT for the one
    /// it was signed under.
    pub fn resolve(
        &self,
        token: &str,
        current_revision: u64,
        now: Instant,
        wall: std::time::SystemTime,
    ) -> Option<(String, u64)> {
        match self {
            TokenProvider::Off => None,
            TokenProvider::Simple(t) => t.user_of(token, now).map(|u| (u, current_revision)),
            TokenProvider::Jwt(j) => j.verify(token, wall),
        }
    }

    /// Forgets `user`'s simple tokens (a JWT stays valid until it expires
    /// or the auth revision moves past it).
    pub fn invalidate_user(&self, user: &str) {
        if let TokenProvider::Simple(t) = self {
            t.invalidate_user(user);
        }
    }

    /// Forgets every simple token.
    pub fn clear(&self) {
        if let TokenProvider::Simple(t) = self {
            t.clear();
        }
    }
}

/// The length of the random part of a simple token (etcd's).
const PREFIX_LEN: usize = 16;

/// A fresh random token prefix, proposed with a login.
pub fn new_prefix() -> String {
    let prefix: String = rand::rng()
        .sample_iter(Alphanumeric)
        .filter(u8::is_ascii_alphabetic)
        .take(PREFIX_LEN)
        .map(char::from)
        .collect();
    prefix
}

/// The index of the entry that made simple token `token`, if it is one.
pub fn entry_index(token: &str) -> Option<u64> {
    let (_, index) = token.split_once('.')?;
    index.parse().ok()
}

/// The token a login proposed with `prefix` gets when applied at `index`.
pub fn token(prefix: &str, index: u64) -> String {
    format!("{prefix}.{index}")
}

#[derive(Debug)]
struct Held {
    user: String,
    expires: Instant,
}

/// One member's simple tokens.
#[derive(Debug)]
pub struct SimpleTokens {
    ttl: Duration,
    held: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    tokens: HashMap<String, Held>,
    /// Expired tokens are dropped when the table grows past this.
    sweep_at: usize,
}

impl SimpleTokens {
    pub fn new(ttl: Duration) -> SimpleTokens {
        SimpleTokens {
            ttl,
            held: Mutex::new(Table {
                tokens: HashMap::new(),
                sweep_at: 1024,
            }),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `token` for `user` (a login was applied).
    pub fn assign(&self, token: String, user: String, now: Instant) {
        let mut t = self.table();
        if t.tokens.len() >= t.sweep_at {
            t.tokens.retain(|_, h| h.expires > now);
            t.sweep_at = (t.tokens.len() * 2).max(1024);
        }
        let expires = now + self.ttl;
        t.tokens.insert(token, Held { user, expires });
    }

    /// The user `token` stands for, if it is valid; using it extends it.
    pub fn user_of(&self, token: &str, now: Instant) -> Option<String> {
        let mut t = self.table();
        let held = t.tokens.get_mut(token)?;
        if held.expires <= now {
            t.tokens.remove(token);
            return None;
        }
        held.expires = now + self.ttl;
        Some(held.user.clone())
    }

    /// Forgets every token of `user` (deleted, or its password changed).
    pub fn invalidate_user(&self, user: &str) {
        self.table().tokens.retain(|_, h| h.user != user);
    }

    /// Forgets every token (auth was disabled).
    pub fn clear(&self) {
        self.table().tokens.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_live_while_used_within_the_ttl() {
        let tokens = SimpleTokens::new(Duration::from_secs(10));
        let t0 = Instant::now();
        tokens.assign("abc.5".into(), "alice".into(), t0);
        let later = t0 + Duration::from_secs(8);
        assert_eq!(tokens.user_of("abc.5", later).as_deref(), Some("alice"));
        // Used at 8 s, so still valid at 16 s; unused, gone at 27 s.
        let t16 = t0 + Duration::from_secs(16);
        assert_eq!(tokens.user_of("abc.5", t16).as_deref(), Some("alice"));
        assert_eq!(tokens.user_of("abc.5", t0 + Duration::from_secs(27)), None);
        assert_eq!(tokens.user_of("nope", t0), None);
    }

    #[test]
    fn invalidation_is_per_user_or_total() {
        let tokens = SimpleTokens::new(Duration::from_secs(10));
        let now = Instant::now();
        tokens.assign("a.1".into(), "alice".into(), now);
        tokens.assign("b.2".into(), "bob".into(), now);
        tokens.invalidate_user("alice");
        assert_eq!(tokens.user_of("a.1", now), None);
        assert_eq!(tokens.user_of("b.2", now).as_deref(), Some("bob"));
        tokens.clear();
        assert_eq!(tokens.user_of("b.2", now), None);
    }

    #[test]
    fn prefixes_are_sixteen_letters_and_differ() {
        let a = new_prefix();
        assert_eq!(a.len(), PREFIX_LEN);
        assert!(a.bytes().all(|b| b.is_ascii_alphabetic()));
        assert_ne!(a, new_prefix());
        assert_eq!(token(&a, 7), format!("{a}.7"));
    }
}
