//! The URLs etcd accepts in its `*-urls` flags and in `--initial-cluster`,
//! parsed by etcd's rules rather than a browser's.
//!
//! etcd takes `scheme://host:port` with scheme `http`, `https`, `unix` or
//! `unixs`; an `http(s)` URL must name a port and must not carry a path.
//! The text is kept as written (only the scheme is lowercased, as Go's URL
//! parser does) because member IDs are hashed from exactly that text: a
//! WHATWG parser that lowercases hosts, drops default ports or appends `/`
//! would make cairn and etcd disagree about who is who.

use std::fmt;

/// How a URL in a flag is wrong. Each variant carries the offending URL so a
/// message about a list names the one item at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("URL scheme must be http, https, unix or unixs: {0}")]
    Scheme(String),
    #[error("URL address must have the form host:port: {0}")]
    NotHostPort(String),
    #[error("URL port must be a number from 0 to 65535: {0}")]
    Port(String),
    #[error("URL must not contain a path: {0}")]
    Path(String),
    #[error("URL must not contain user info, a query or a fragment: {0}")]
    Extra(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scheme {
    Http,
    Https,
    Unix,
    Unixs,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Unix => "unix",
            Scheme::Unixs => "unixs",
        }
    }

    /// Whether serving this scheme needs TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Scheme::Https | Scheme::Unixs)
    }
}

/// One URL from a flag, validated, with its text kept in etcd's rendering.
///
/// Equality and order are those of the text, which is how etcd compares and
/// sorts peer URLs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EtcdUrl {
    text: String,
    scheme: Scheme,
    /// The host as written: a name, an IPv4 address or a bracketed IPv6
    /// address for `http(s)`; everything after `://` for `unix(s)`.
    host: String,
    port: Option<u16>,
}

impl EtcdUrl {
    /// Parses one URL. Surrounding whitespace is ignored, as etcd ignores it.
    pub fn parse(input: &str) -> Result<Self, UrlError> {
        let trimmed = input.trim();
        let Some((scheme_text, rest)) = trimmed.split_once("://") else {
            return Err(UrlError::Scheme(trimmed.to_owned()));
        };
        let scheme = match scheme_text.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            "unix" => Scheme::Unix,
            "unixs" => Scheme::Unixs,
            _ => return Err(UrlError::Scheme(trimmed.to_owned())),
        };
        let text = format!("{}://{rest}", scheme.as_str());
        if rest.contains(['?', '#']) {
            return Err(UrlError::Extra(trimmed.to_owned()));
        }
        if matches!(scheme, Scheme::Unix | Scheme::Unixs) {
            // A unix URL names a socket path; etcd applies no further rules.
            return Ok(EtcdUrl {
                text,
                scheme,
                host: rest.to_owned(),
                port: None,
            });
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if !path.is_empty() {
            return Err(UrlError::Path(trimmed.to_owned()));
        }
        if authority.contains('@') {
            return Err(UrlError::Extra(trimmed.to_owned()));
        }
        let (host, port) =
            split_host_port(authority).ok_or_else(|| UrlError::NotHostPort(trimmed.to_owned()))?;
        let port = port
            .parse::<u16>()
            .map_err(|_| UrlError::Port(trimmed.to_owned()))?;
        Ok(EtcdUrl {
            text,
            scheme,
            host: host.to_owned(),
            port: Some(port),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port; always present for `http(s)`, never for `unix(s)`.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

impl fmt::Display for EtcdUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Splits `host:port` or `[v6]:port`; `None` when there is no port part or
/// an unbracketed host has colons of its own.
fn split_host_port(authority: &str) -> Option<(&str, &str)> {
    if authority.starts_with('[') {
        let close = authority.find(']')?;
        let port = authority[close + 1..].strip_prefix(':')?;
        return Some((&authority[..=close], port));
    }
    let (host, port) = authority.rsplit_once(':')?;
    if host.contains(':') {
        return None;
    }
    Some((host, port))
}

/// Parses a comma-separated list. An empty string is an empty list.
pub fn parse_url_list(value: &str) -> Result<Vec<EtcdUrl>, UrlError> {
    if value.trim().is_empty() {
        return Ok(Vec::new());
    }
    value.split(',').map(EtcdUrl::parse).collect()
}

/// Renders a list the way it is written on the command line.
pub fn join_urls(urls: &[EtcdUrl]) -> String {
    urls.iter()
        .map(EtcdUrl::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// How an `--initial-cluster` value is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterListError {
    #[error("expected name=URL pairs, found {0:?}")]
    NotAPair(String),
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error("{0} is listed for more than one member")]
    DuplicateUrl(String),
}

/// One member of the initial cluster: its name and its peer URLs, sorted.
pub type ClusterMember = (String, Vec<EtcdUrl>);

/// Parses `name=url,name=url,...`. A name may appear more than once to give
/// a member several peer URLs. Members keep the order of their first
/// appearance; each member's URLs are sorted, as etcd sorts them.
pub fn parse_initial_cluster(value: &str) -> Result<Vec<ClusterMember>, ClusterListError> {
    let mut members: Vec<ClusterMember> = Vec::new();
    if value.trim().is_empty() {
        return Ok(members);
    }
    for pair in value.split(',') {
        let Some((name, url)) = pair.split_once('=') else {
            return Err(ClusterListError::NotAPair(pair.to_owned()));
        };
        let url = EtcdUrl::parse(url)?;
        match members.iter_mut().find(|(n, _)| n == name) {
            Some((_, urls)) => urls.push(url),
            None => members.push((name.to_owned(), vec![url])),
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (_, urls) in &mut members {
        urls.sort();
        for url in urls.iter() {
            if !seen.insert(url.as_str().to_owned()) {
                return Err(ClusterListError::DuplicateUrl(url.to_string()));
            }
        }
    }
    Ok(members)
}

/// Renders an initial cluster the way it is written on the command line.
pub fn join_cluster(members: &[ClusterMember]) -> String {
    let mut pairs = Vec::new();
    for (name, urls) in members {
        for url in urls {
            pairs.push(format!("{name}={url}"));
        }
    }
    pairs.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_url_keeps_its_text_as_written() {
        let u = EtcdUrl::parse("  HTTP://Node-1.example:2380 ").unwrap();
        assert_eq!(u.as_str(), "http://Node-1.example:2380");
        assert_eq!(u.scheme(), Scheme::Http);
        assert_eq!(u.host(), "Node-1.example");
        assert_eq!(u.port(), Some(2380));
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        let u = EtcdUrl::parse("https://[::1]:2379").unwrap();
        assert_eq!(u.host(), "[::1]");
        assert_eq!(u.port(), Some(2379));
        assert!(u.scheme().is_tls());
    }

    #[test]
    fn unix_urls_need_no_port() {
        let u = EtcdUrl::parse("unix://localhost:12345").unwrap();
        assert_eq!(u.port(), None);
        assert_eq!(u.host(), "localhost:12345");
    }

    #[test]
    fn rejects_what_etcd_rejects() {
        assert_eq!(
            EtcdUrl::parse("not a url"),
            Err(UrlError::Scheme("not a url".into()))
        );
        assert_eq!(
            EtcdUrl::parse("ftp://127.0.0.1:2379"),
            Err(UrlError::Scheme("ftp://127.0.0.1:2379".into()))
        );
        assert_eq!(
            EtcdUrl::parse("http://127.0.0.1"),
            Err(UrlError::NotHostPort("http://127.0.0.1".into()))
        );
        assert_eq!(
            EtcdUrl::parse("http://127.0.0.1:2379/path"),
            Err(UrlError::Path("http://127.0.0.1:2379/path".into()))
        );
        assert_eq!(
            EtcdUrl::parse("http://localhost:2380/"),
            Err(UrlError::Path("http://localhost:2380/".into()))
        );
        assert_eq!(
            EtcdUrl::parse("http://h:99999"),
            Err(UrlError::Port("http://h:99999".into()))
        );
        assert_eq!(
            EtcdUrl::parse("http://::1:2379"),
            Err(UrlError::NotHostPort("http://::1:2379".into()))
        );
    }

    #[test]
    fn url_lists_split_on_commas_and_may_be_empty() {
        assert!(parse_url_list("").unwrap().is_empty());
        let l = parse_url_list("http://a:1,http://b:2").unwrap();
        assert_eq!(join_urls(&l), "http://a:1,http://b:2");
        assert!(parse_url_list("http://a:1,").is_err());
    }

    #[test]
    fn initial_cluster_groups_urls_by_name_and_sorts_them() {
        let c = parse_initial_cluster(
            "infra1=http://127.0.0.1:12380,infra2=http://127.0.0.1:22380,infra2=http://10.0.0.2:22380",
        )
        .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].0, "infra1");
        assert_eq!(c[1].0, "infra2");
        assert_eq!(
            join_urls(&c[1].1),
            "http://10.0.0.2:22380,http://127.0.0.1:22380"
        );
    }

    #[test]
    fn initial_cluster_rejects_bad_entries() {
        assert_eq!(
            parse_initial_cluster("default"),
            Err(ClusterListError::NotAPair("default".into()))
        );
        assert_eq!(
            parse_initial_cluster("default="),
            Err(ClusterListError::Url(UrlError::Scheme(String::new())))
        );
        assert_eq!(
            parse_initial_cluster("a=http://h:1,b=http://h:1"),
            Err(ClusterListError::DuplicateUrl("http://h:1".into()))
        );
    }
}
