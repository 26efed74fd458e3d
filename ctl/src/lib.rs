//! The cairn client library (used by `cairnctl` and `cairntop`) and the
//! etcdctl-compatible command line. The client arrives with the server.
