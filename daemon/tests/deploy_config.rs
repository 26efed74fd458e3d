//! The settings in deploy/ must be ones cairn accepts: each member's
//! `ETCD_*` variables from the systemd environment file, the compose file
//! and the Kubernetes StatefulSet are handed to `cairn --print-config`,
//! which resolves them and runs the checks made before bootstrapping (the
//! member is in the initial cluster at its advertised peer URLs, and so on)
//! without serving. It must succeed without warning about a variable it
//! does not know. The manifests' other parts that must agree with those
//! settings (probe ports, volume paths, member counts) are checked too.
//!
//! The TLS variants (docker-compose.tls.yml over docker-compose.yml, the
//! kubernetes-tls overlay, the systemd file with its TLS lines uncommented)
//! are resolved the same way, and the files they name are checked against
//! what deploy/gen-certs makes when run as their comments say: every file
//! there, each member's certificate valid for the hosts in its advertised
//! URLs, as a client too, and matching its key.
//!
//! No Docker or Kubernetes is needed: daemon/tests/docker_compose.rs runs
//! the compose file for real. The TLS checks need the `openssl` command,
//! as gen-certs does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_norway::Value;

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("daemon/ has a parent")
        .join("deploy")
        .join(file)
}

fn read(file: &str) -> String {
    std::fs::read_to_string(deploy(file)).unwrap_or_else(|e| panic!("read deploy/{file}: {e}"))
}

/// Runs `cairn --print-config` with exactly `vars` in its environment
/// (the data dir moved to a scratch directory, so no real one is read) and
/// returns the resolved configuration it prints.
fn print_config(source: &str, vars: &BTreeMap<String, String>) -> String {
    let scratch = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("--print-config")
        .env_clear()
        .envs(vars)
        .env("ETCD_DATA_DIR", scratch.path().join("data"))
        .output()
        .expect("run cairn");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{source}: cairn refuses these settings: {stderr}"
    );
    assert!(stderr.is_empty(), "{source}: cairn warns: {stderr}");
    stdout
}

/// A `key: value` line of `--print-config`'s output.
fn resolved<'a>(config: &'a str, key: &str) -> &'a str {
    let prefix = format!("  {key}: ");
    config
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {key} in:\n{config}"))
}

fn get<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter()
        .fold(value, |v, key| match key.parse::<usize>() {
            Ok(i) => &v[i],
            Err(_) => &v[*key],
        })
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    get(value, path)
        .as_str()
        .unwrap_or_else(|| panic!("no string at {path:?}"))
}

#[test]
fn systemd_environment_file_resolves() {
    let vars: BTreeMap<String, String> = read("systemd/cairn.env")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("KEY=value");
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let config = print_config("systemd/cairn.env", &vars);
    assert_eq!(resolved(&config, "name"), vars["ETCD_NAME"]);

    // The unit runs cairn with that file, in the data dir it names.
    let unit = read("systemd/cairn.service");
    assert!(unit.contains("\nEnvironmentFile=/etc/cairn/cairn.env\n"));
    assert!(unit.contains("\nExecStart=/usr/local/bin/cairn\n"));
    assert!(unit.contains("\nStateDirectory=cairn\n"));
    assert_eq!(vars["ETCD_DATA_DIR"], "/var/lib/cairn");
}

/// `${NAME:-default}` as compose substitutes it, with nothing set.
fn compose_defaults(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closing brace") + start;
        let inner = &rest[start + 2..end];
        let (_, default) = inner
            .split_once(":-")
            .expect("every variable has a default");
        out.push_str(default);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A compose environment map, its values as the container sees them.
fn string_env(env: &Value) -> BTreeMap<String, String> {
    env.as_mapping()
        .expect("environment map")
        .iter()
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => s.clone(),
                other => serde_norway::to_string(other)
                    .expect("scalar")
                    .trim()
                    .to_owned(),
            };
            (k.as_str().expect("name").to_owned(), value)
        })
        .collect()
}

#[test]
fn compose_members_resolve() {
    let mut compose: Value =
        serde_norway::from_str(&compose_defaults(&read("docker-compose.yml"))).expect("YAML");
    compose.apply_merge().expect("merge keys");
    let services = compose["services"].as_mapping().expect("services");
    assert_eq!(services.len(), 3);
    for (name, service) in services {
        let name = name.as_str().expect("service name");
        let vars = string_env(&service["environment"]);
        // The image's entrypoint starts cairn without auth with it (and
        // refuses to start without it or ETCD_ROOT_PASSWORD).
        assert_eq!(vars["ALLOW_NONE_AUTHENTICATION"], "yes");
        let config = print_config(&format!("docker-compose.yml {name}"), &vars);
        assert_eq!(resolved(&config, "name"), name);
        assert_eq!(
            resolved(&config, "initial-advertise-peer-urls"),
            format!("http://{name}:2380")
        );
        let volume = str_at(service, &["volumes", "0"]);
        assert!(volume.ends_with(":/var/lib/cairn"), "{volume}");
    }
}

/// Each pod's environment as Kubernetes builds it: fieldRefs from the
/// pod, `$(NAME)` expanded from the variables defined before.
fn pod_env(env: &Value, pod: &str, namespace: &str) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    for entry in env.as_sequence().expect("env list") {
        let name = str_at(entry, &["name"]).to_owned();
        let value = match entry["value"].as_str() {
            Some(template) => {
                let mut value = template.to_owned();
                for (k, v) in &vars {
                    value = value.replace(&format!("$({k})"), v);
                }
                assert!(!value.contains("$("), "{name}: unexpanded {value}");
                value
            }
            None => match str_at(entry, &["valueFrom", "fieldRef", "fieldPath"]) {
                "metadata.name" => pod.to_owned(),
                "metadata.namespace" => namespace.to_owned(),
                other => panic!("{name}: unexpected fieldRef {other}"),
            },
        };
        vars.insert(name, value);
    }
    vars
}

#[test]
fn kubernetes_members_resolve_and_manifests_agree() {
    let set: Value = serde_norway::from_str(&read("kubernetes/statefulset.yaml")).expect("YAML");
    let replicas = get(&set, &["spec", "replicas"]).as_u64().expect("replicas");
    let pod_spec = get(&set, &["spec", "template", "spec"]);
    let container = get(pod_spec, &["containers", "0"]);
    let env = &container["env"];

    for i in 0..replicas {
        let pod = format!("cairn-{i}");
        let mut vars = pod_env(env, &pod, "prod");
        // Without it (or ETCD_ROOT_PASSWORD) the image does not start.
        assert_eq!(vars["ALLOW_NONE_AUTHENTICATION"], "yes", "{pod}");
        // Only cairn sees the ETCD_* ones; POD_* are for expansion.
        vars.retain(|k, _| k.starts_with("ETCD_"));
        let config = print_config(&format!("statefulset.yaml {pod}"), &vars);
        assert_eq!(resolved(&config, "name"), pod);
        let members = resolved(&config, "initial-cluster").split(',').count();
        assert_eq!(members as u64, replicas, "initial cluster vs replicas");
        assert_eq!(
            resolved(&config, "advertise-client-urls"),
            format!("http://{pod}.cairn.prod.svc:2379")
        );
    }

    // Probes hit /health on the port the client URLs listen on.
    let vars = pod_env(env, "cairn-0", "prod");
    assert_eq!(vars["ETCD_LISTEN_CLIENT_URLS"], "http://0.0.0.0:2379");
    let client_port = container["ports"]
        .as_sequence()
        .expect("ports")
        .iter()
        .find(|p| p["name"].as_str() == Some("client"))
        .and_then(|p| p["containerPort"].as_u64());
    assert_eq!(client_port, Some(2379));
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(str_at(container, &[probe, "httpGet", "path"]), "/health");
        assert_eq!(str_at(container, &[probe, "httpGet", "port"]), "client");
    }
    // The volume is mounted where the data dir is, writable by the image's
    // user.
    assert_eq!(
        str_at(container, &["volumeMounts", "0", "mountPath"]),
        vars["ETCD_DATA_DIR"]
    );
    let uid = get(pod_spec, &["securityContext", "runAsUser"]).as_u64();
    assert_eq!(uid, Some(65532));
    assert!(read("Dockerfile.local").contains("\nUSER 65532:65532\n"));

    // The headless Service is the one the peer URLs name, and it publishes
    // members before they are ready (bootstrapping needs it).
    let services: Vec<Value> =
        serde_norway::Deserializer::from_str(&read("kubernetes/service.yaml"))
            .map(|doc| serde::Deserialize::deserialize(doc).expect("YAML"))
            .collect();
    let headless = services
        .iter()
        .find(|s| s["spec"]["clusterIP"].as_str() == Some("None"))
        .expect("a headless Service");
    assert_eq!(
        str_at(headless, &["metadata", "name"]),
        str_at(&set, &["spec", "serviceName"])
    );
    assert_eq!(
        headless["spec"]["publishNotReadyAddresses"].as_bool(),
        Some(true)
    );
    assert_eq!(
        str_at(&set, &["spec", "podManagementPolicy"]),
        "Parallel",
        "members must start together to form a quorum"
    );

    // The disruption budget keeps a quorum and selects these pods.
    let pdb: Value =
        serde_norway::from_str(&read("kubernetes/poddisruptionbudget.yaml")).expect("YAML");
    assert_eq!(
        get(&pdb, &["spec", "maxUnavailable"]).as_u64(),
        Some((replicas - 1) / 2)
    );
    assert_eq!(
        get(&pdb, &["spec", "selector", "matchLabels"]),
        get(&set, &["spec", "template", "metadata", "labels"])
    );
}

// The TLS variants.

/// Where the variants mount the certificate directory.
const TLS_MOUNT: &str = "/etc/cairn/tls";

/// The arguments of the `deploy/gen-certs ...` command shown in a comment
/// of `text` (continuation lines joined), with `$NAME`s replaced from
/// `subst`.
fn documented_gen_certs(source: &str, text: &str, subst: &[(&str, &str)]) -> Vec<String> {
    let mut command = String::new();
    let lines = text
        .lines()
        .map(|l| l.trim_start_matches('#').trim())
        .skip_while(|l| !l.starts_with("deploy/gen-certs "));
    for line in lines {
        // A shell comment after the command is not part of it.
        let line = line.split(" #").next().unwrap_or_default().trim_end();
        let (line, more) = match line.strip_suffix('\\') {
            Some(start) => (start, true),
            None => (line, false),
        };
        command.push_str(line);
        command.push(' ');
        if !more {
            break;
        }
    }
    assert!(!command.is_empty(), "{source}: no deploy/gen-certs command");
    for (name, value) in subst {
        command = command.replace(&format!("${name}"), value);
    }
    assert!(!command.contains('$'), "{source}: {command}");
    command
        .split_whitespace()
        .skip(1)
        .map(str::to_owned)
        .collect()
}

/// Runs deploy/gen-certs with `args` in a scratch directory, where its
/// (relative) output directory lands: returns the scratch directory and
/// the one the certificates are in.
fn gen_certs(args: &[String]) -> (tempfile::TempDir, PathBuf) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let out = Command::new(deploy("gen-certs"))
        .args(args)
        .current_dir(scratch.path())
        .output()
        .expect("run deploy/gen-certs");
    assert!(
        out.status.success(),
        "deploy/gen-certs {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    fn holding_ca(dir: &Path) -> Option<PathBuf> {
        if dir.join("ca.pem").is_file() {
            return Some(dir.to_path_buf());
        }
        std::fs::read_dir(dir)
            .ok()?
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .find_map(|e| holding_ca(&e.path()))
    }
    let certs = holding_ca(scratch.path())
        .unwrap_or_else(|| panic!("deploy/gen-certs {args:?} wrote no ca.pem"));
    (scratch, certs)
}

fn openssl(args: &[&str], file: &Path) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| {
            panic!("this test needs the openssl command, as deploy/gen-certs does: {e}")
        })
}

/// `cert` chains to `ca` for `purpose` (`sslserver`, `sslclient`), and
/// names `host` when given.
fn assert_verifies(ca: &Path, cert: &Path, purpose: &str, host: Option<&str>) {
    let ca_arg = ca.to_str().expect("UTF-8 path");
    let mut args = vec!["verify", "-CAfile", ca_arg, "-purpose", purpose];
    if let Some(host) = host {
        let check = if host.parse::<std::net::IpAddr>().is_ok() {
            "-verify_ip"
        } else {
            "-verify_hostname"
        };
        args.extend([check, host]);
    }
    let out = openssl(&args, cert);
    assert!(
        out.status.success(),
        "{} is not a {purpose} certificate for {host:?}: {}{}",
        cert.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn assert_key_fits(cert: &Path, key: &Path) {
    let public = |args: &[&str], file: &Path| {
        let out = openssl(args, file);
        assert!(out.status.success(), "openssl {args:?} {}", file.display());
        out.stdout
    };
    assert_eq!(
        public(&["x509", "-noout", "-pubkey", "-in"], cert),
        public(&["pkey", "-pubout", "-in"], key),
        "{} does not fit {}",
        key.display(),
        cert.display()
    );
}

fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}

/// A member's TLS settings: its client and peer URLs are https, both sides
/// demand certificates from the CA, and the files its variables name
/// (under [`TLS_MOUNT`], here `certs`) are gen-certs' and fit its URLs.
/// Returns the path in `certs` of the certificate served to clients.
fn check_tls(source: &str, vars: &BTreeMap<String, String>, config: &str, certs: &Path) -> PathBuf {
    for key in [
        "listen-client-urls",
        "advertise-client-urls",
        "listen-peer-urls",
        "initial-advertise-peer-urls",
    ] {
        for url in resolved(config, key).split(',') {
            assert!(url.starts_with("https://"), "{source}: {key} {url}");
        }
    }
    for member in resolved(config, "initial-cluster").split(',') {
        assert!(member.contains("=https://"), "{source}: {member}");
    }
    let file = |var: &str| {
        let value = vars
            .get(var)
            .unwrap_or_else(|| panic!("{source}: no {var}"));
        let name = value
            .strip_prefix(TLS_MOUNT)
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or_else(|| panic!("{source}: {var}={value} is not in {TLS_MOUNT}"));
        let path = certs.join(name);
        assert!(path.is_file(), "{source}: gen-certs made no {name} ({var})");
        path
    };
    assert_eq!(vars["ETCD_CLIENT_CERT_AUTH"], "true", "{source}");
    assert_eq!(vars["ETCD_PEER_CLIENT_CERT_AUTH"], "true", "{source}");
    let ca = file("ETCD_TRUSTED_CA_FILE");
    assert_eq!(file("ETCD_PEER_TRUSTED_CA_FILE"), ca, "{source}");
    assert!(
        ca.ends_with("ca.pem"),
        "{source}: the CA is {}",
        ca.display()
    );

    let (cert, key) = (file("ETCD_CERT_FILE"), file("ETCD_KEY_FILE"));
    assert_key_fits(&cert, &key);
    for url in resolved(config, "advertise-client-urls").split(',') {
        assert_verifies(&ca, &cert, "sslserver", Some(url_host(url)));
    }
    let (peer_cert, peer_key) = (file("ETCD_PEER_CERT_FILE"), file("ETCD_PEER_KEY_FILE"));
    assert_key_fits(&peer_cert, &peer_key);
    for url in resolved(config, "initial-advertise-peer-urls").split(',') {
        assert_verifies(&ca, &peer_cert, "sslserver", Some(url_host(url)));
    }
    // A member shows its peer certificate when it dials the others.
    assert_verifies(&ca, &peer_cert, "sslclient", None);

    // cairnctl in the container dials 127.0.0.1:2379 (the compose
    // healthcheck, `kubectl exec`), with these.
    if vars.contains_key("ETCDCTL_CACERT") {
        assert_eq!(file("ETCDCTL_CACERT"), ca, "{source}");
        let (client, client_key) = (file("ETCDCTL_CERT"), file("ETCDCTL_KEY"));
        assert_key_fits(&client, &client_key);
        assert_verifies(&ca, &client, "sslclient", None);
        assert_verifies(&ca, &cert, "sslserver", Some("127.0.0.1"));
    }
    cert
}

#[test]
fn systemd_environment_file_with_tls_resolves() {
    let text = read("systemd/cairn.env");
    // What the file's TLS comment says to do: uncomment the variables and
    // switch the client and peer URLs (not the metrics one) to https.
    let mut vars: BTreeMap<String, String> = text
        .lines()
        .map(|l| l.trim())
        .filter_map(|l| match l.strip_prefix('#') {
            Some(commented) if commented.starts_with("ETCD_") => Some(commented),
            Some(_) => None,
            None => Some(l),
        })
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once('=').expect("KEY=value");
            (k.to_owned(), v.to_owned())
        })
        .collect();
    for key in [
        "ETCD_LISTEN_CLIENT_URLS",
        "ETCD_ADVERTISE_CLIENT_URLS",
        "ETCD_LISTEN_PEER_URLS",
        "ETCD_INITIAL_ADVERTISE_PEER_URLS",
        "ETCD_INITIAL_CLUSTER",
    ] {
        let value = vars.get_mut(key).expect(key);
        *value = value.replace("http://", "https://");
    }
    let config = print_config("systemd/cairn.env with TLS", &vars);
    assert!(resolved(&config, "listen-metrics-urls").starts_with("http://"));

    let (_scratch, certs) = gen_certs(&documented_gen_certs("systemd/cairn.env", &text, &[]));
    let cert = check_tls("systemd/cairn.env with TLS", &vars, &config, &certs);
    assert!(cert.ends_with(format!("{}.pem", vars["ETCD_NAME"])));
    // cairnctl on the host uses the loopback client URL.
    let ca = certs.join("ca.pem");
    assert_verifies(&ca, &cert, "sslserver", Some("127.0.0.1"));
}

/// The compose file with `override_file` over it, merged as compose does:
/// environment maps key by key, volumes by their path in the container,
/// anything else replaced.
fn compose_with_override(override_file: &str) -> Value {
    let parse = |file: &str| {
        let mut value: Value =
            serde_norway::from_str(&compose_defaults(&read(file))).expect("YAML");
        value.apply_merge().expect("merge keys");
        value
    };
    let mut compose = parse("docker-compose.yml");
    let over = parse(override_file);
    let services = compose["services"].as_mapping_mut().expect("services");
    for (name, service_over) in over["services"].as_mapping().expect("services") {
        let service = services
            .get_mut(name)
            .unwrap_or_else(|| panic!("{override_file}: {name:?} is not in docker-compose.yml"));
        for (key, value) in service_over.as_mapping().expect("service") {
            match key.as_str() {
                Some("environment") => {
                    let env = service["environment"]
                        .as_mapping_mut()
                        .expect("environment map");
                    for (k, v) in value.as_mapping().expect("environment map") {
                        env.insert(k.clone(), v.clone());
                    }
                }
                Some("volumes") => {
                    let target = |v: &Value| {
                        let v = v.as_str().expect("short volume syntax");
                        v.split(':').nth(1).expect("source:target").to_owned()
                    };
                    let volumes = service["volumes"].as_sequence_mut().expect("volumes");
                    for v in value.as_sequence().expect("volumes") {
                        volumes.retain(|old| target(old) != target(v));
                        volumes.push(v.clone());
                    }
                }
                _ => {
                    service
                        .as_mapping_mut()
                        .expect("service")
                        .insert(key.clone(), value.clone());
                }
            }
        }
    }
    compose
}

#[test]
fn compose_tls_override_resolves() {
    let file = "docker-compose.tls.yml";
    let compose = compose_with_override(file);
    let (_scratch, certs) = gen_certs(&documented_gen_certs(file, &read(file), &[]));
    let services = compose["services"].as_mapping().expect("services");
    assert_eq!(services.len(), 3);
    for (name, service) in services {
        let name = name.as_str().expect("service name");
        let source = format!("{file} {name}");
        let vars = string_env(&service["environment"]);
        let config = print_config(&source, &vars);
        assert_eq!(resolved(&config, "name"), name);
        assert_eq!(
            resolved(&config, "initial-advertise-peer-urls"),
            format!("https://{name}:2380")
        );
        check_tls(&source, &vars, &config, &certs);
        // The certificates are mounted read-only beside the data volume.
        let volumes: Vec<&str> = service["volumes"]
            .as_sequence()
            .expect("volumes")
            .iter()
            .map(|v| v.as_str().expect("short syntax"))
            .collect();
        assert!(
            volumes.contains(&"./certs:/etc/cairn/tls:ro"),
            "{volumes:?}"
        );
        assert!(volumes.iter().any(|v| v.ends_with(":/var/lib/cairn")));
        // The healthcheck's cairnctl reaches the member as before, over
        // TLS through the ETCDCTL_* variables.
        let test = service["healthcheck"]["test"]
            .as_sequence()
            .expect("healthcheck");
        assert!(test.contains(&Value::from("127.0.0.1:2379")), "{test:?}");
    }
}

/// `patch` merged into `base` as `kubectl kustomize` merges a strategic
/// patch (checked by hand against kustomize 5.5): maps key by key; lists
/// of named entries by name, the patch's entries first in its order, then
/// the base's others; anything else replaced.
fn strategic_merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Mapping(base), Value::Mapping(patch)) => {
            for (k, v) in patch {
                match base.get_mut(k) {
                    Some(old) => strategic_merge(old, v),
                    None => {
                        base.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Sequence(base), Value::Sequence(patch))
            if patch.iter().all(|p| p["name"].is_string()) =>
        {
            let mut merged = Vec::new();
            for p in patch {
                match base.iter().position(|b| b["name"] == p["name"]) {
                    Some(i) => {
                        let mut entry = base.remove(i);
                        strategic_merge(&mut entry, p);
                        merged.push(entry);
                    }
                    None => merged.push(p.clone()),
                }
            }
            merged.append(base);
            *base = merged;
        }
        (base, patch) => *base = patch.clone(),
    }
}

fn named<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_sequence()
        .expect("list")
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn kubernetes_tls_overlay_resolves() {
    let kustomization_text = read("kubernetes-tls/kustomization.yaml");
    let kustomization: Value = serde_norway::from_str(&kustomization_text).expect("YAML");
    assert_eq!(
        kustomization["resources"],
        Value::Sequence(vec!["../kubernetes".into()])
    );
    let patch_file = str_at(&kustomization, &["patches", "0", "path"]);
    let patch: Value =
        serde_norway::from_str(&read(&format!("kubernetes-tls/{patch_file}"))).expect("YAML");
    let mut set: Value =
        serde_norway::from_str(&read("kubernetes/statefulset.yaml")).expect("YAML");
    assert_eq!(patch["kind"], set["kind"]);
    assert_eq!(patch["metadata"]["name"], set["metadata"]["name"]);
    strategic_merge(&mut set, &patch);

    let namespace = "prod";
    let (_scratch, certs) = gen_certs(&documented_gen_certs(
        "kubernetes-tls/kustomization.yaml",
        &kustomization_text,
        &[("ns", namespace)],
    ));
    let replicas = get(&set, &["spec", "replicas"]).as_u64().expect("replicas");
    let pod_spec = get(&set, &["spec", "template", "spec"]);
    let container = get(pod_spec, &["containers", "0"]);
    for i in 0..replicas {
        let pod = format!("cairn-{i}");
        let source = format!("kubernetes-tls {pod}");
        // pod_env fails on a $(VAR) defined after its use, which is what
        // the merge's order would do to entries the patch did not repeat.
        let mut vars = pod_env(&container["env"], &pod, namespace);
        vars.retain(|k, _| k.starts_with("ETCD"));
        let config = print_config(&source, &vars);
        assert_eq!(resolved(&config, "name"), pod);
        assert_eq!(
            resolved(&config, "advertise-client-urls"),
            format!("https://{pod}.cairn.{namespace}.svc:2379")
        );
        let cert = check_tls(&source, &vars, &config, &certs);
        // Applications come through the client Service.
        assert_verifies(
            &certs.join("ca.pem"),
            &cert,
            "sslserver",
            Some(&format!("cairn-client.{namespace}.svc")),
        );
        // The probes ask for /health where no client certificate is
        // needed: the plain-http metrics URL.
        let metrics = resolved(&config, "listen-metrics-urls");
        assert_eq!(metrics, "http://0.0.0.0:2381");
        let port = named(&container["ports"], "metrics")["containerPort"].as_u64();
        assert_eq!(port, Some(2381));
        for probe in ["readinessProbe", "livenessProbe"] {
            assert_eq!(str_at(container, &[probe, "httpGet", "path"]), "/health");
            assert_eq!(str_at(container, &[probe, "httpGet", "port"]), "metrics");
        }
    }

    // The Secret is mounted read-only where the variables look.
    let mount = named(&container["volumeMounts"], "tls");
    assert_eq!(str_at(mount, &["mountPath"]), TLS_MOUNT);
    assert_eq!(mount["readOnly"].as_bool(), Some(true));
    let volume = named(&pod_spec["volumes"], "tls");
    assert_eq!(str_at(volume, &["secret", "secretName"]), "cairn-tls");
    // The documented `kubectl create secret` puts in what the pods read
    // (each pod's pair, the CA), and not the CA's key.
    let files: Vec<&str> = kustomization_text
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("--from-file=cairn-tls/"))
        .collect();
    assert!(kustomization_text.contains("create secret generic cairn-tls "));
    let mut wanted = vec!["ca.pem".to_owned()];
    for i in 0..replicas {
        wanted.push(format!("cairn-{i}.pem"));
        wanted.push(format!("cairn-{i}-key.pem"));
    }
    for file in &wanted {
        assert!(files.contains(&file.as_str()), "the Secret lacks {file}");
    }
    assert!(!files.contains(&"ca-key.pem"));
}
