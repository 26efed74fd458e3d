complete -c cairntop -l endpoints -d 'gRPC endpoints' -r
complete -c cairntop -l refresh -d 'how often to refresh (e.g. 1s, 500ms)' -r
complete -c cairntop -l dial-timeout -d 'dial timeout for client connections' -r
complete -c cairntop -l command-timeout -d 'timeout of one request; shorter than etcdctl\'s 5s so a silent member is reported within about one refresh' -r
complete -c cairntop -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c cairntop -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c cairntop -l key -d 'identify secure client using this TLS key file' -r
complete -c cairntop -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c cairntop -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c cairntop -l insecure-skip-tls-verify -d 'skip server certificate verification (encrypted, not authenticated)'
complete -c cairntop -s h -l help -d 'Print help'
complete -c cairntop -s V -l version -d 'Print version'
