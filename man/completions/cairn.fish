complete -c cairn -l config-file -d 'Path to a YAML configuration file with the same keys as these flags. When it is given, every other flag and ETCD_* variable is ignored' -r -F
complete -c cairn -l name -d 'Human-readable name for this member' -r
complete -c cairn -l data-dir -d 'Path to the data directory [default: ${name}.cairn]' -r -F
complete -c cairn -l wal-dir -d 'Path to a dedicated WAL directory [default: inside the data directory]' -r -F
complete -c cairn -l snapshot-count -d 'Number of committed transactions that triggers a snapshot to disk' -r
complete -c cairn -l heartbeat-interval -d 'Time (in milliseconds) of a heartbeat interval' -r
complete -c cairn -l election-timeout -d 'Time (in milliseconds) for an election to time out; at least 5 heartbeat intervals' -r
complete -c cairn -l listen-peer-urls -d 'Comma-separated URLs to listen on for peer traffic' -r
complete -c cairn -l listen-client-urls -d 'Comma-separated URLs to listen on for client traffic [default: http://localhost:2379]' -r
complete -c cairn -l listen-metrics-urls -d 'Comma-separated URLs to listen on for the metrics and health endpoints' -r
complete -c cairn -l max-snapshots -d 'Maximum number of snapshot files to retain (0 is unlimited)' -r
complete -c cairn -l max-wals -d 'Maximum number of WAL files to retain (0 is unlimited)' -r
complete -c cairn -l quota-backend-bytes -d 'Raise alarms when the backend exceeds this many bytes (0: 2 GiB; negative: no quota)' -r
complete -c cairn -l max-txn-ops -d 'Maximum number of operations permitted in a transaction' -r
complete -c cairn -l max-request-bytes -d 'Maximum client request size in bytes the server will accept' -r
complete -c cairn -l initial-advertise-peer-urls -d 'Comma-separated peer URLs of this member to advertise to the rest of the cluster' -r
complete -c cairn -l initial-cluster -d 'Initial cluster configuration for bootstrapping, as name=URL pairs [default: default=http://localhost:2380, or ${name}=<initial-advertise-peer-urls> when --name is set]' -r
complete -c cairn -l initial-cluster-state -d 'Initial cluster state: new or existing' -r
complete -c cairn -l initial-cluster-token -d 'Initial cluster token, which keeps clusters bootstrapped from the same URLs apart' -r
complete -c cairn -l advertise-client-urls -d 'Comma-separated client URLs of this member to advertise to the public [default: http://localhost:2379; required when --listen-client-urls is given]' -r
complete -c cairn -l strict-reconfig-check -d 'Reject reconfiguration requests that would cause quorum loss' -r
complete -c cairn -l pre-vote -d 'Run an additional Raft election phase (pre-vote) before campaigning' -r
complete -c cairn -l auto-compaction-mode -d 'How --auto-compaction-retention is read: periodic or revision' -r
complete -c cairn -l auto-compaction-retention -d 'Auto compaction retention (0 disables it): in periodic mode a duration such as 30m or a bare number of hours; in revision mode a number of revisions' -r
complete -c cairn -l enable-v2 -d 'Accept etcd v2 requests. Accepted for compatibility; cairn serves v3 only, so it must be false' -r
complete -c cairn -l cert-file -d 'Path to the client server TLS cert file' -r -F
complete -c cairn -l key-file -d 'Path to the client server TLS key file' -r -F
complete -c cairn -l client-cert-auth -d 'Enable client cert authentication' -r
complete -c cairn -l trusted-ca-file -d 'Path to the client server TLS trusted CA cert file' -r -F
complete -c cairn -l auto-tls -d 'Client TLS using generated certificates' -r
complete -c cairn -l client-crl-file -d 'Path to the client certificate revocation list file' -r -F
complete -c cairn -l peer-crl-file -d 'Path to the peer certificate revocation list file' -r -F
complete -c cairn -l cipher-suites -d 'Comma-separated list of supported TLS 1.2 cipher suites (Go\'s names; empty: the library\'s defaults). TLS 1.3 suites are always offered' -r
complete -c cairn -l tls-min-version -d 'Minimum TLS version on every TLS port and connection: TLS1.2 or TLS1.3 (etcd 3.5.x\'s later releases and 3.6 take it)' -r
complete -c cairn -l tls-max-version -d 'Maximum TLS version: TLS1.2 or TLS1.3; empty: the newest' -r
complete -c cairn -l client-cert-allowed-hostname -d 'Allowed TLS hostname for client cert authentication' -r
complete -c cairn -l peer-cert-allowed-cn -d 'Required CN for client certs connecting to the peer endpoint' -r
complete -c cairn -l peer-cert-allowed-hostname -d 'Allowed TLS hostname for inter peer authentication' -r
complete -c cairn -l self-signed-cert-validity -d 'Years a certificate made by --auto-tls or --peer-auto-tls stays valid' -r
complete -c cairn -l peer-cert-file -d 'Path to the peer server TLS cert file' -r -F
complete -c cairn -l peer-key-file -d 'Path to the peer server TLS key file' -r -F
complete -c cairn -l peer-client-cert-auth -d 'Enable peer client cert authentication' -r
complete -c cairn -l experimental-peer-skip-client-san-verification -d 'Skip the check that a peer\'s client certificate is valid for the address it connects from' -r
complete -c cairn -l peer-trusted-ca-file -d 'Path to the peer server TLS trusted CA file' -r -F
complete -c cairn -l peer-auto-tls -d 'Peer TLS using self-generated certificates' -r
complete -c cairn -l auth-token -d 'Auth token type and its options: simple, or jwt,sign-method=...,priv-key=...' -r
complete -c cairn -l auth-token-ttl -d 'Time (in seconds) a simple token lives unused (0: 300)' -r
complete -c cairn -l bcrypt-cost -d 'Cost of the bcrypt password hashes, 4 to 31 (another value: 10, as in etcd)' -r
complete -c cairn -l logger -d 'Logger; zap is the only one' -r
complete -c cairn -l log-outputs -d 'Comma-separated log targets: default, stderr, stdout, or file paths' -r
complete -c cairn -l log-level -d 'Log level: debug, info, warn, error, panic or fatal' -r
complete -c cairn -l experimental-enable-lease-checkpoint -d 'Persist lease remaining TTLs at the primary lessor so long-lived leases do not renew themselves forever across leader changes' -r
complete -c cairn -l experimental-lease-checkpoint-interval -d 'How often the leader records leases\' remaining TTLs (a Go duration such as 5m). A cairn extension: etcd 3.5.1 fixes it at 5 minutes' -r
complete -c cairn -l experimental-corrupt-check-time -d 'How often the leader compares its HashKV with every member\'s and raises CORRUPT on a mismatch (a Go duration; 0 turns the check off). etcd\'s default is 0; cairn\'s is on' -r
complete -c cairn -l experimental-watch-progress-notify-interval -d 'Interval between watch progress notifications (a Go duration such as 10m)' -r
complete -c cairn -l experimental-initial-corrupt-check -d 'Accepted for etcd compatibility; no effect: cairn does not compare hashes with its peers before serving (the periodic check, --experimental-corrupt-check-time, runs from start-up on)' -r
complete -c cairn -l force-new-cluster -d 'Force a new one-member cluster from this member\'s data' -r
complete -c cairn -l backend-batch-interval -d 'No effect: cairn\'s store commits each apply group when it is applied.' -r
complete -c cairn -l backend-batch-limit -d 'No effect: cairn\'s store commits each apply group when it is applied.' -r
complete -c cairn -l backend-bbolt-freelist-type -d 'No effect: cairn\'s store is not bbolt.' -r
complete -c cairn -l cors -d 'No effect: cairn sends no CORS headers (they serve etcd\'s v2 API in browsers).' -r
complete -c cairn -l discovery -d 'Refused unless left at its default: cairn cannot bootstrap through a discovery service; list the members with --initial-cluster.' -r
complete -c cairn -l discovery-fallback -d 'No effect: it only matters with --discovery.' -r
complete -c cairn -l discovery-proxy -d 'No effect: it only matters with --discovery.' -r
complete -c cairn -l discovery-srv -d 'Refused unless left at its default: cairn cannot bootstrap through a discovery service; list the members with --initial-cluster.' -r
complete -c cairn -l discovery-srv-name -d 'No effect: it only matters with --discovery.' -r
complete -c cairn -l enable-log-rotation -d 'No effect: log files are not rotated by cairn; rotate them with logrotate (copytruncate).' -r
complete -c cairn -l log-rotation-config-json -d 'No effect: log files are not rotated by cairn.' -r
complete -c cairn -l enable-pprof -d 'No effect: there is no Go profiler in cairn.' -r
complete -c cairn -l experimental-bootstrap-defrag-threshold-megabytes -d 'No effect: cairn does not defragment at start-up.' -r
complete -c cairn -l experimental-compaction-batch-limit -d 'No effect: compaction removes old revisions in one pass.' -r
complete -c cairn -l experimental-enable-distributed-tracing -d 'No effect: cairn exports no OpenTelemetry traces.' -r
complete -c cairn -l experimental-distributed-tracing-address -d 'No effect: cairn exports no OpenTelemetry traces.' -r
complete -c cairn -l experimental-distributed-tracing-instance-id -d 'No effect: cairn exports no OpenTelemetry traces.' -r
complete -c cairn -l experimental-distributed-tracing-service-name -d 'No effect: cairn exports no OpenTelemetry traces.' -r
complete -c cairn -l experimental-enable-v2v3 -d 'Refused unless left at its default: cairn serves only the v3 API.' -r
complete -c cairn -l experimental-txn-mode-write-with-shared-buffer -d 'No effect: cairn\'s transactions read the store directly.' -r
complete -c cairn -l experimental-warning-apply-duration -d 'No effect: applies slower than 100ms are logged.' -r
complete -c cairn -l grpc-keepalive-interval -d 'No effect: the client port pings idle connections every 10s and accepts any client ping rate.' -r
complete -c cairn -l grpc-keepalive-min-time -d 'No effect: the client port pings idle connections every 10s and accepts any client ping rate.' -r
complete -c cairn -l grpc-keepalive-timeout -d 'No effect: the client port pings idle connections every 10s and accepts any client ping rate.' -r
complete -c cairn -l host-whitelist -d 'No effect: cairn serves every Host header (the check guards etcd\'s v2 API).' -r
complete -c cairn -l initial-election-tick-advance -d 'No effect: a new member waits one election timeout before campaigning.' -r
complete -c cairn -l metrics -d 'No effect: /metrics serves the same series at every level.' -r
complete -c cairn -l proxy -d 'Refused unless left at its default: cairn has no v2 proxy mode; run a member.' -r
complete -c cairn -l proxy-dial-timeout -d 'No effect: it only matters with --proxy.' -r
complete -c cairn -l proxy-failure-wait -d 'No effect: it only matters with --proxy.' -r
complete -c cairn -l proxy-read-timeout -d 'No effect: it only matters with --proxy.' -r
complete -c cairn -l proxy-refresh-interval -d 'No effect: it only matters with --proxy.' -r
complete -c cairn -l proxy-write-timeout -d 'No effect: it only matters with --proxy.' -r
complete -c cairn -l socket-reuse-address -d 'No effect: listeners always set SO_REUSEADDR.' -r
complete -c cairn -l socket-reuse-port -d 'No effect: listeners do not set SO_REUSEPORT; a port in use stops start-up.' -r
complete -c cairn -l unsafe-no-fsync -d 'No effect: cairn always syncs its log to disk; the setting would only trade data for speed.' -r
complete -c cairn -l v2-deprecation -d 'No effect: cairn has no v2 store to deprecate.' -r
complete -c cairn -l version -d 'Print the version and exit'
complete -c cairn -l print-config -d 'cairn only: resolve the configuration (flags, ETCD_* variables or the config file), run the checks made before bootstrapping, print the result and exit without serving'
complete -c cairn -s h -l help -d 'Print help (see more with \'--help\')'
