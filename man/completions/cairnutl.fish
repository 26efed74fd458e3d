# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_cairnutl_global_optspecs
    string join \n w/write-out= h/help V/version
end

function __fish_cairnutl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_cairnutl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_cairnutl_using_subcommand
    set -l cmd (__fish_cairnutl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c cairnutl -n "__fish_cairnutl_needs_command" -s w -l write-out -d 'set the output format (fields, json, simple, table)' -r
complete -c cairnutl -n "__fish_cairnutl_needs_command" -s h -l help -d 'Print help'
complete -c cairnutl -n "__fish_cairnutl_needs_command" -s V -l version -d 'Print version'
complete -c cairnutl -n "__fish_cairnutl_needs_command" -f -a "snapshot" -d 'Manages etcd node snapshots'
complete -c cairnutl -n "__fish_cairnutl_needs_command" -f -a "defrag" -d 'Defragments the storage of a member that is not running'
complete -c cairnutl -n "__fish_cairnutl_needs_command" -f -a "hashkv" -d 'Prints the KV history hash of a member that is not running'
complete -c cairnutl -n "__fish_cairnutl_needs_command" -f -a "version" -d 'Prints the version of cairnutl'
complete -c cairnutl -n "__fish_cairnutl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cairnutl -n "__fish_cairnutl_using_subcommand snapshot; and not __fish_seen_subcommand_from status restore help" -s w -l write-out -d 'set the output format (fields, json, simple, table)' -r
complete -c cairnutl -n "__fish_cairnutl_using_subcommand snapshot; and not __fish_seen_subcommand_from status restore help" -s h -l help -d 'Print help'
complete -c cairnutl -n "__fish_cairnutl_using_subcommand snapshot; and not __fish_seen_subcommand_from status restore help" -f -a "status" -d 'Gets backend snapshot status of a given file'
complete -c cairnutl -n "__fish_cairnutl_using_subcommand snapshot; and not __fish_seen_subcommand_from status restore help" -f -a "restore" -d 'Restores an etcd member snapshot to an etcd directory'
complete -c cairnutl -n "__fish_cairnutl_using_subcommand snapshot; and not __fish_seen_subcommand_from status restore help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cairnutl -n "__fish_cairnutl_using_subcommand snapshot; and __fish_seen_subcommand_from status" -s w -l write-out -d 'set the output format (fields, json, simple, table)' -r
complete -c cairnutl -n "__fish_cairnutl_using_subcommand snapshot; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c cairnutl -n "__fish_cairnutl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l data-dir -d 'Path to the output data directory' -r
complete -c cairnutl -n "__fish_cairnutl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l wal-dir -d 'Path to the WAL directory (use --data-dir if none given)' -r
complete -c cairnutl -n "__fish_cairnutl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l name -d 'Human-readable name for this member' -r
complete -c cairnutl -n "__fish_cairnutl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l initial-cluster -d 'Initial cluster configuration for restore bootstrap' -r
complete -c cairnutl -n "__fish_cairnutl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l initial-cluster-token -d 'Initial cluster token for the cluster during restore bootstrap' -r
complete -c cairnutl -n "__fish_cairnutl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l initial-advertise-peer-urls -d 'List of this member\'s peer URLs to advertise to the rest of the cluster' -r
complete -c cairnutl -n "__fish_cairnutl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -s w -l write-out -d 'set the output format (fields, json, simple, table)' -r
complete -c cairnutl -n "__fish_cairnutl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l skip-hash-check -d 'Ignore snapshot integrity hash value (not supported: cairn restores files saved with `snapshot save`, which carry their checksum)'
complete -c cairnutl -n "__fish_cairnutl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -s h -l help -d 'Print help'
complete -c cairnutl -n "__fish_cairnutl_using_subcommand snapshot; and __fish_seen_subcommand_from help" -f -a "status" -d 'Gets backend snapshot status of a given file'
complete -c cairnutl -n "__fish_cairnutl_using_subcommand snapshot; and __fish_seen_subcommand_from help" -f -a "restore" -d 'Restores an etcd member snapshot to an etcd directory'
complete -c cairnutl -n "__fish_cairnutl_using_subcommand snapshot; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cairnutl -n "__fish_cairnutl_using_subcommand defrag" -l data-dir -d 'Required. Defragments a data directory not in use by cairn' -r -F
complete -c cairnutl -n "__fish_cairnutl_using_subcommand defrag" -s w -l write-out -d 'set the output format (fields, json, simple, table)' -r
complete -c cairnutl -n "__fish_cairnutl_using_subcommand defrag" -s h -l help -d 'Print help'
complete -c cairnutl -n "__fish_cairnutl_using_subcommand hashkv" -l data-dir -d 'Required. The data directory of a member not in use by cairn' -r -F
complete -c cairnutl -n "__fish_cairnutl_using_subcommand hashkv" -l rev -d 'the revision to hash at (0: the current revision)' -r
complete -c cairnutl -n "__fish_cairnutl_using_subcommand hashkv" -s w -l write-out -d 'set the output format (fields, json, simple, table)' -r
complete -c cairnutl -n "__fish_cairnutl_using_subcommand hashkv" -s h -l help -d 'Print help'
complete -c cairnutl -n "__fish_cairnutl_using_subcommand version" -s w -l write-out -d 'set the output format (fields, json, simple, table)' -r
complete -c cairnutl -n "__fish_cairnutl_using_subcommand version" -s h -l help -d 'Print help'
complete -c cairnutl -n "__fish_cairnutl_using_subcommand help; and not __fish_seen_subcommand_from snapshot defrag hashkv version help" -f -a "snapshot" -d 'Manages etcd node snapshots'
complete -c cairnutl -n "__fish_cairnutl_using_subcommand help; and not __fish_seen_subcommand_from snapshot defrag hashkv version help" -f -a "defrag" -d 'Defragments the storage of a member that is not running'
complete -c cairnutl -n "__fish_cairnutl_using_subcommand help; and not __fish_seen_subcommand_from snapshot defrag hashkv version help" -f -a "hashkv" -d 'Prints the KV history hash of a member that is not running'
complete -c cairnutl -n "__fish_cairnutl_using_subcommand help; and not __fish_seen_subcommand_from snapshot defrag hashkv version help" -f -a "version" -d 'Prints the version of cairnutl'
complete -c cairnutl -n "__fish_cairnutl_using_subcommand help; and not __fish_seen_subcommand_from snapshot defrag hashkv version help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cairnutl -n "__fish_cairnutl_using_subcommand help; and __fish_seen_subcommand_from snapshot" -f -a "status" -d 'Gets backend snapshot status of a given file'
complete -c cairnutl -n "__fish_cairnutl_using_subcommand help; and __fish_seen_subcommand_from snapshot" -f -a "restore" -d 'Restores an etcd member snapshot to an etcd directory'
