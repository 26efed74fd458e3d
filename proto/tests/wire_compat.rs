//! Checks cairn's etcd API definitions against etcd's own `.proto` files.
//!
//! The reference files come from Debian's `golang-etcd-server-dev` package
//! (etcd 3.4). They are compiled here with `protox`, and every package,
//! service, RPC, message, field and enum value they define must exist in
//! cairn's compiled descriptors with the same fully qualified name, number,
//! type, label, oneof membership and streaming-ness. Anything cairn has on
//! top of the reference must be one of the known etcd 3.5 additions, which a
//! second test checks against hard-coded expectations.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use prost::Message as _;
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorSet,
    ServiceDescriptorProto, field_descriptor_proto::Label, field_descriptor_proto::Type,
};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

/// Debian package that ships the reference files.
const REFERENCE_PACKAGE: &str = "golang-etcd-server-dev";
/// Include root of the reference files: their imports are written relative
/// to it (`import "etcd/mvcc/mvccpb/kv.proto"`).
const REFERENCE_ROOT: &str = "/usr/share/gocode/src/go.etcd.io";
const REFERENCE_FILES: &[&str] = &[
    "etcd/mvcc/mvccpb/kv.proto",
    "etcd/auth/authpb/auth.proto",
    "etcd/etcdserver/etcdserverpb/rpc.proto",
    "etcd/etcdserver/api/v3lock/v3lockpb/v3lock.proto",
    "etcd/etcdserver/api/v3election/v3electionpb/v3election.proto",
];
/// The protobuf packages that make up etcd's client API.
const ETCD_PACKAGES: &[&str] = &[
    "mvccpb",
    "authpb",
    "etcdserverpb",
    "v3lockpb",
    "v3electionpb",
];

/// Stand-in for `gogoproto/gogo.proto`: declares the gogoproto options the
/// reference files use (plus a few common field options), so they parse.
/// Options never affect the wire format, so their exact shape is irrelevant;
/// the numbers are gogoproto's own. Using a stand-in keeps the test
/// independent of where other Debian packages put their copies.
const GOGO_STAND_IN: &str = r#"
syntax = "proto2";
package gogoproto;
import "google/protobuf/descriptor.proto";
extend google.protobuf.EnumOptions {
  optional bool goproto_enum_prefix = 62001;
}
extend google.protobuf.EnumValueOptions {
  optional string enumvalue_customname = 66001;
}
extend google.protobuf.FileOptions {
  optional bool goproto_getters_all = 63001;
  optional bool goproto_enum_prefix_all = 63002;
  optional bool marshaler_all = 63017;
  optional bool unmarshaler_all = 63018;
  optional bool sizer_all = 63020;
}
extend google.protobuf.FieldOptions {
  optional bool nullable = 65001;
  optional bool embed = 65002;
  optional string customtype = 65003;
  optional string customname = 65004;
  optional string jsontag = 65005;
  optional string moretags = 65006;
  optional string casttype = 65007;
}
"#;

/// Stand-in for `google/api/annotations.proto` (with the `HttpRule` message
/// of `google/api/http.proto` folded in), for the `(google.api.http)` method
/// options of the reference files.
const GOOGLE_API_STAND_IN: &str = r#"
syntax = "proto3";
package google.api;
import "google/protobuf/descriptor.proto";
extend google.protobuf.MethodOptions {
  HttpRule http = 72295728;
}
message HttpRule {
  string selector = 1;
  oneof pattern {
    string get = 2;
    string put = 3;
    string post = 4;
    string delete = 5;
    string patch = 6;
    CustomHttpPattern custom = 8;
  }
  string body = 7;
  string response_body = 12;
  repeated HttpRule additional_bindings = 11;
}
message CustomHttpPattern {
  string kind = 1;
  string path = 2;
}
"#;

/// Serves the two stand-in files from memory.
#[derive(Debug)]
struct StandIns;

impl FileResolver for StandIns {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match name {
            "gogoproto/gogo.proto" => File::from_source(name, GOGO_STAND_IN),
            "google/api/annotations.proto" => File::from_source(name, GOOGLE_API_STAND_IN),
            _ => Err(protox::Error::file_not_found(name)),
        }
    }
}

/// Compiles etcd's reference files, failing loudly if they are not installed.
fn reference_set() -> FileDescriptorSet {
    let root = Path::new(REFERENCE_ROOT);
    let missing: Vec<_> = REFERENCE_FILES
        .iter()
        .filter(|f| !root.join(f).is_file())
        .collect();
    assert!(
        missing.is_empty(),
        "etcd's reference .proto files are missing under {REFERENCE_ROOT} ({missing:?}); \
         install them with `apt-get install -y {REFERENCE_PACKAGE}` (Debian package \
         {REFERENCE_PACKAGE}). This test never skips."
    );

    let mut resolver = ChainFileResolver::new();
    resolver.add(StandIns);
    resolver.add(protox::file::IncludeFileResolver::new(root.to_owned()));
    resolver.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true);
    for file in REFERENCE_FILES {
        if let Err(err) = compiler.open_file(file) {
            panic!("cannot compile reference file {file}: {err:?}");
        }
    }
    compiler.file_descriptor_set()
}

fn our_set() -> FileDescriptorSet {
    FileDescriptorSet::decode(cairn_proto::FILE_DESCRIPTOR_SET)
        .expect("FILE_DESCRIPTOR_SET decodes")
}

/// Everything in a descriptor set, keyed by fully qualified name (with a
/// leading dot, as in field type names).
#[derive(Debug, Default)]
struct Index {
    messages: BTreeMap<String, DescriptorProto>,
    enums: BTreeMap<String, EnumDescriptorProto>,
    services: BTreeMap<String, ServiceDescriptorProto>,
}

impl Index {
    /// Indexes the files of `set` whose package is one of `packages`.
    fn build(set: &FileDescriptorSet, packages: &[&str]) -> Self {
        let mut index = Self::default();
        for file in &set.file {
            let package = file.package();
            if !packages.contains(&package) {
                continue;
            }
            let prefix = format!(".{package}");
            for message in &file.message_type {
                index.add_message(&prefix, message);
            }
            for en in &file.enum_type {
                index
                    .enums
                    .insert(format!("{prefix}.{}", en.name()), en.clone());
            }
            for service in &file.service {
                index
                    .services
                    .insert(format!("{prefix}.{}", service.name()), service.clone());
            }
        }
        index
    }

    fn add_message(&mut self, prefix: &str, message: &DescriptorProto) {
        let name = format!("{prefix}.{}", message.name());
        for nested in &message.nested_type {
            self.add_message(&name, nested);
        }
        for en in &message.enum_type {
            self.enums
                .insert(format!("{name}.{}", en.name()), en.clone());
        }
        self.messages.insert(name, message.clone());
    }
}

/// The parts of a field that decide its wire format and generated API.
#[derive(Debug, PartialEq, Eq)]
struct FieldShape {
    number: i32,
    label: Label,
    ty: Type,
    type_name: String,
    oneof: Option<String>,
    proto3_optional: bool,
}

fn field_shape(message: &DescriptorProto, field: &FieldDescriptorProto) -> FieldShape {
    FieldShape {
        number: field.number(),
        label: field.label(),
        ty: field.r#type(),
        type_name: field.type_name().to_owned(),
        oneof: field
            .oneof_index
            .map(|i| message.oneof_decl[i as usize].name().to_owned()),
        proto3_optional: field.proto3_optional(),
    }
}

/// What cairn defines beyond etcd 3.4, i.e. etcd's 3.5 additions. Anything
/// else extra in cairn's descriptors is an error.
const EXTRA_SERVICE_METHODS: &[&str] = &[
    ".etcdserverpb.Maintenance/Downgrade",
    ".etcdserverpb.Auth/AuthStatus",
];
const EXTRA_MESSAGES: &[&str] = &[
    ".etcdserverpb.DowngradeRequest",
    ".etcdserverpb.DowngradeResponse",
    ".etcdserverpb.AuthStatusRequest",
    ".etcdserverpb.AuthStatusResponse",
];
const EXTRA_ENUMS: &[&str] = &[".etcdserverpb.DowngradeRequest.DowngradeAction"];
const EXTRA_FIELDS: &[&str] = &[
    ".etcdserverpb.MemberListRequest.linearizable",
    ".etcdserverpb.AuthUserAddRequest.hashedPassword",
    ".etcdserverpb.AuthUserChangePasswordRequest.hashedPassword",
];

#[test]
fn matches_etcd_reference_protos() {
    let reference = Index::build(&reference_set(), ETCD_PACKAGES);
    let ours = Index::build(&our_set(), ETCD_PACKAGES);
    let mut problems = Vec::new();

    // Sanity: the reference really was read.
    assert!(
        reference.services.len() == 8 && reference.messages.len() > 100,
        "reference looks incomplete: {} services, {} messages",
        reference.services.len(),
        reference.messages.len()
    );

    // Services and RPCs.
    for (name, want) in &reference.services {
        let Some(have) = ours.services.get(name) else {
            problems.push(format!("missing service {name}"));
            continue;
        };
        for want_m in &want.method {
            let Some(have_m) = have.method.iter().find(|m| m.name() == want_m.name()) else {
                problems.push(format!("missing rpc {name}/{}", want_m.name()));
                continue;
            };
            let shape = |m: &prost_types::MethodDescriptorProto| {
                (
                    m.input_type().to_owned(),
                    m.output_type().to_owned(),
                    m.client_streaming(),
                    m.server_streaming(),
                )
            };
            if shape(want_m) != shape(have_m) {
                problems.push(format!(
                    "rpc {name}/{}: etcd has (in, out, client_streaming, server_streaming) \
                     = {:?}, cairn has {:?}",
                    want_m.name(),
                    shape(want_m),
                    shape(have_m)
                ));
            }
        }
        for have_m in &have.method {
            let full = format!("{name}/{}", have_m.name());
            if !want.method.iter().any(|m| m.name() == have_m.name())
                && !EXTRA_SERVICE_METHODS.contains(&full.as_str())
            {
                problems.push(format!("unexpected rpc {full} (not in etcd)"));
            }
        }
    }
    for name in ours.services.keys() {
        if !reference.services.contains_key(name) {
            problems.push(format!("unexpected service {name} (not in etcd)"));
        }
    }

    // Messages and fields.
    for (name, want) in &reference.messages {
        let Some(have) = ours.messages.get(name) else {
            problems.push(format!("missing message {name}"));
            continue;
        };
        for want_f in &want.field {
            let Some(have_f) = have.field.iter().find(|f| f.name() == want_f.name()) else {
                problems.push(format!("missing field {name}.{}", want_f.name()));
                continue;
            };
            let (w, h) = (field_shape(want, want_f), field_shape(have, have_f));
            if w != h {
                problems.push(format!(
                    "field {name}.{}: etcd has {w:?}, cairn has {h:?}",
                    want_f.name()
                ));
            }
        }
        for have_f in &have.field {
            let full = format!("{name}.{}", have_f.name());
            if !want.field.iter().any(|f| f.name() == have_f.name())
                && !EXTRA_FIELDS.contains(&full.as_str())
            {
                problems.push(format!("unexpected field {full} (not in etcd)"));
            }
        }
    }
    for name in ours.messages.keys() {
        if !reference.messages.contains_key(name) && !EXTRA_MESSAGES.contains(&name.as_str()) {
            problems.push(format!("unexpected message {name} (not in etcd)"));
        }
    }

    // Enums and their values.
    for (name, want) in &reference.enums {
        let Some(have) = ours.enums.get(name) else {
            problems.push(format!("missing enum {name}"));
            continue;
        };
        let values = |e: &EnumDescriptorProto| {
            e.value
                .iter()
                .map(|v| (v.name().to_owned(), v.number()))
                .collect::<BTreeSet<_>>()
        };
        if values(want) != values(have) {
            problems.push(format!(
                "enum {name}: etcd has {:?}, cairn has {:?}",
                values(want),
                values(have)
            ));
        }
    }
    for name in ours.enums.keys() {
        if !reference.enums.contains_key(name) && !EXTRA_ENUMS.contains(&name.as_str()) {
            problems.push(format!("unexpected enum {name} (not in etcd)"));
        }
    }

    assert!(
        problems.is_empty(),
        "cairn's etcd API differs from etcd's reference .proto files:\n  {}",
        problems.join("\n  ")
    );
}

/// etcd 3.5 additions, which the 3.4 reference cannot vouch for. Facts from
/// etcd's `api/etcdserverpb/rpc.proto` (release 3.5; the main branch tags
/// each of these with `etcd_version ... "3.5"`).
#[test]
fn etcd_3_5_additions_are_present() {
    let ours = Index::build(&our_set(), ETCD_PACKAGES);

    let rpc = |service: &str, method: &str| {
        let s = ours
            .services
            .get(service)
            .unwrap_or_else(|| panic!("service {service} missing"));
        let m = s
            .method
            .iter()
            .find(|m| m.name() == method)
            .unwrap_or_else(|| panic!("rpc {service}/{method} missing"));
        (
            m.input_type().to_owned(),
            m.output_type().to_owned(),
            m.client_streaming(),
            m.server_streaming(),
        )
    };
    let field = |message: &str, name: &str| {
        let m = ours
            .messages
            .get(message)
            .unwrap_or_else(|| panic!("message {message} missing"));
        let f = m
            .field
            .iter()
            .find(|f| f.name() == name)
            .unwrap_or_else(|| panic!("field {message}.{name} missing"));
        (f.number(), f.label(), f.r#type(), f.type_name().to_owned())
    };
    let scalar = |number: i32, ty: Type| (number, Label::Optional, ty, String::new());
    let msg = |number: i32, type_name: &str| {
        (number, Label::Optional, Type::Message, type_name.to_owned())
    };

    // Maintenance.Downgrade: unary DowngradeRequest -> DowngradeResponse.
    assert_eq!(
        rpc(".etcdserverpb.Maintenance", "Downgrade"),
        (
            ".etcdserverpb.DowngradeRequest".to_owned(),
            ".etcdserverpb.DowngradeResponse".to_owned(),
            false,
            false
        )
    );
    // DowngradeRequest { DowngradeAction action = 1; string version = 2; }
    assert_eq!(
        field(".etcdserverpb.DowngradeRequest", "action"),
        (
            1,
            Label::Optional,
            Type::Enum,
            ".etcdserverpb.DowngradeRequest.DowngradeAction".to_owned()
        )
    );
    assert_eq!(
        field(".etcdserverpb.DowngradeRequest", "version"),
        scalar(2, Type::String)
    );
    // DowngradeAction { VALIDATE = 0; ENABLE = 1; CANCEL = 2; }
    let action: Vec<_> = ours.enums[".etcdserverpb.DowngradeRequest.DowngradeAction"]
        .value
        .iter()
        .map(|v| (v.name().to_owned(), v.number()))
        .collect();
    assert_eq!(
        action,
        [
            ("VALIDATE".to_owned(), 0),
            ("ENABLE".to_owned(), 1),
            ("CANCEL".to_owned(), 2)
        ]
    );
    // DowngradeResponse { ResponseHeader header = 1; string version = 2; }
    assert_eq!(
        field(".etcdserverpb.DowngradeResponse", "header"),
        msg(1, ".etcdserverpb.ResponseHeader")
    );
    assert_eq!(
        field(".etcdserverpb.DowngradeResponse", "version"),
        scalar(2, Type::String)
    );

    // Auth.AuthStatus: unary AuthStatusRequest -> AuthStatusResponse.
    assert_eq!(
        rpc(".etcdserverpb.Auth", "AuthStatus"),
        (
            ".etcdserverpb.AuthStatusRequest".to_owned(),
            ".etcdserverpb.AuthStatusResponse".to_owned(),
            false,
            false
        )
    );
    // AuthStatusRequest has no fields.
    assert!(
        ours.messages[".etcdserverpb.AuthStatusRequest"]
            .field
            .is_empty()
    );
    // AuthStatusResponse { header = 1; bool enabled = 2; uint64 authRevision = 3; }
    assert_eq!(
        field(".etcdserverpb.AuthStatusResponse", "header"),
        msg(1, ".etcdserverpb.ResponseHeader")
    );
    assert_eq!(
        field(".etcdserverpb.AuthStatusResponse", "enabled"),
        scalar(2, Type::Bool)
    );
    assert_eq!(
        field(".etcdserverpb.AuthStatusResponse", "authRevision"),
        scalar(3, Type::Uint64)
    );

    // MemberListRequest.linearizable = 1 (bool): linearizable member list.
    assert_eq!(
        field(".etcdserverpb.MemberListRequest", "linearizable"),
        scalar(1, Type::Bool)
    );
    // AuthUserAddRequest.hashedPassword = 4 (string): hash computed by the
    // API layer so the clear-text password is not replicated.
    assert_eq!(
        field(".etcdserverpb.AuthUserAddRequest", "hashedPassword"),
        scalar(4, Type::String)
    );
    // AuthUserChangePasswordRequest.hashedPassword = 3 (string): same idea.
    assert_eq!(
        field(
            ".etcdserverpb.AuthUserChangePasswordRequest",
            "hashedPassword"
        ),
        scalar(3, Type::String)
    );

    // Fields that already existed in 3.4 and that 3.5 clients depend on
    // (also covered by the reference comparison; repeated here so that a
    // failure points straight at them).
    assert_eq!(
        field(".etcdserverpb.WatchCreateRequest", "fragment"),
        scalar(8, Type::Bool)
    );
    assert_eq!(
        field(".etcdserverpb.WatchResponse", "fragment"),
        scalar(7, Type::Bool)
    );
    assert_eq!(
        field(".etcdserverpb.HashKVResponse", "compact_revision"),
        scalar(3, Type::Int64)
    );
    assert_eq!(
        field(".etcdserverpb.StatusResponse", "isLearner"),
        scalar(10, Type::Bool)
    );
}

/// The descriptor set exported for reflection covers every package.
#[test]
fn descriptor_set_covers_all_packages() {
    let set = our_set();
    let packages: BTreeSet<_> = set.file.iter().map(|f| f.package().to_owned()).collect();
    for package in ETCD_PACKAGES.iter().chain(&["cairn.peer.v1"]) {
        assert!(
            packages.contains(*package),
            "package {package} missing from descriptor set"
        );
    }
}
