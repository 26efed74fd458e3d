complete -c cairntop -l endpoints -d 'gRPC endpoints' -r
complete -c cairntop -l refresh -d 'how often to refresh (e.g. 1s, 500ms)' -r
complete -c cairntop -l dial-timeout -d 'dial timeout for client connections' -r
complete -c cairntop -l command-timeout -d 'timeout of one request; shorter than etcdctl\'s 5s so a silent member is reported within about one refresh' -r
complete -c cairntop -s h -l help -d 'Print help'
complete -c cairntop -s V -l version -d 'Print version'
