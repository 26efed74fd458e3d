//! The forks under third_party/ are built only while `[patch.crates-io]`
//! in the root Cargo.toml points at them and their versions still match
//! what the lock file wants. When a dependency update makes a patch stop
//! applying, cargo only warns ("patch was not used") and quietly builds the
//! registry's crate, dropping the fix: etcdctl 3.4 would fail against cairn
//! again (h2) or sled's I/O pool would wake all its threads again. This
//! test turns that into a failure. In the lock file a crate patched from a
//! path has no `source` line; one from crates.io has.

#[test]
fn the_vendored_forks_are_the_crates_built() {
    let lock = std::fs::read_to_string(xtask::repo_root().join("Cargo.lock")).expect("Cargo.lock");
    for (fork, why) in [
        ("h2", "third_party/h2: etcd 3.4 clients' :authority"),
        ("sled", "third_party/sled: one I/O thread woken per job"),
    ] {
        let entries: Vec<&str> = lock
            .split("[[package]]")
            .filter(|p| p.contains(&format!("\nname = \"{fork}\"\n")))
            .collect();
        assert_eq!(
            entries.len(),
            1,
            "{fork}: one version in Cargo.lock, got {entries:?}"
        );
        assert!(
            !entries[0].contains("source ="),
            "{fork} comes from a registry, not from its fork ({why}); \
             re-apply the patch to the version Cargo.lock wants (see its CAIRN.md): {}",
            entries[0].trim()
        );
    }
}
