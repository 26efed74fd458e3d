//! The committed man pages and shell completions under man/ must be what
//! the command lines generate today: a flag added, renamed or documented
//! differently fails here until man/ is regenerated.

#[test]
fn man_pages_and_completions_match_the_command_lines() {
    let root = xtask::repo_root();
    if std::env::var_os("CAIRN_UPDATE_MAN").is_some_and(|v| v == "1") {
        xtask::write(&root).expect("write man/");
    }
    let stale = xtask::differences(&root, &xtask::generate()).expect("read man/");
    assert!(
        stale.is_empty(),
        "man/ does not match the command lines:\n  {}\n\
         Regenerate with `cargo xtask man` (or CAIRN_UPDATE_MAN=1 cargo test -p xtask), \
         review the diff and commit it.",
        stale.join("\n  ")
    );
}

#[test]
fn every_tool_and_cairnctl_subcommand_has_a_page() {
    let files = xtask::generate();
    for page in [
        "cairn.1",
        "cairnctl.1",
        "cairntop.1",
        "cairnctl-put.1",
        "cairnctl-member-add.1",
        "cairnctl-snapshot-restore.1",
    ] {
        let path = std::path::Path::new("man").join(page);
        let text = String::from_utf8(files.get(&path).cloned().unwrap_or_default()).unwrap();
        assert!(
            text.starts_with(".ie \\n(.g .ds Aq"),
            "{page} is not a roff page"
        );
        assert!(text.contains(".SH \"SEE ALSO\""), "{page} has no SEE ALSO");
    }
    let cairn =
        String::from_utf8(files[&std::path::Path::new("man/cairn.1").to_path_buf()].clone())
            .unwrap();
    // Options carry their ETCD_* variable, the way cairn is configured in
    // containers.
    assert!(cairn.contains("ETCD_INITIAL_CLUSTER"), "{cairn}");
}
