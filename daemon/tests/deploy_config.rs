//! The settings in deploy/ must be ones cairn accepts: each member's
//! `ETCD_*` variables from the systemd environment file, the compose file
//! and the Kubernetes StatefulSet are handed to `cairn --print-config`,
//! which resolves them and runs the checks made before bootstrapping (the
//! member is in the initial cluster at its advertised peer URLs, and so on)
//! without serving. It must succeed without warning about a variable it
//! does not know. The manifests' other parts that must agree with those
//! settings (probe ports, volume paths, member counts) are checked too.
//!
//! No Docker or Kubernetes is needed: daemon/tests/docker_compose.rs runs
//! the compose file for real.

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

#[test]
fn compose_members_resolve() {
    let mut compose: Value =
        serde_norway::from_str(&compose_defaults(&read("docker-compose.yml"))).expect("YAML");
    compose.apply_merge().expect("merge keys");
    let services = compose["services"].as_mapping().expect("services");
    assert_eq!(services.len(), 3);
    for (name, service) in services {
        let name = name.as_str().expect("service name");
        let env = service["environment"]
            .as_mapping()
            .expect("environment map");
        let mut vars = BTreeMap::new();
        for (k, v) in env {
            let value = match v {
                Value::String(s) => s.clone(),
                other => serde_norway::to_string(other)
                    .expect("scalar")
                    .trim()
                    .to_owned(),
            };
            vars.insert(k.as_str().expect("name").to_owned(), value);
        }
        // cairn ignores bitnami's variable without a word.
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
