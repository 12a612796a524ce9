//! Test vectors of spec §11, shared by the unit tests of this module (compiled in tests
//! only). Copied verbatim from `shared/spec/bitrix-pull-protocol.md` so a failing test
//! points at the spec, not at a re-derivation.

/// §11.1: Bitrix's own default key (push-server `config/config.json`), HMAC-SHA1.
pub const BITRIX_DEFAULT_KEY: &str = "89133c4cb836aa3c5c505be2ad09cb6dc3d5695fc300f28ac5409d955146286b596d3151b4dbd983a7ecedcfde8e9f7e8e14e7ec173a2d8c977f90772fb1ba42";

/// §11.2: the key of the hand-made vectors.
pub const TEST_KEY: &str = "test-signature-key";
/// §11.2: md5("example-private").
pub const PRIVATE: &str = "f6fcf2d5d6c2764e292968f0d64b7530";
/// §11.2: md5("example-public").
pub const PUBLIC: &str = "a387b57cd8cea2596fae4294fbe0f536";
/// §11.2: md5("example-shared").
pub const SHARED: &str = "975e31775df2c33d6d4fb51adc683a5c";
/// §11.2: private descriptor (server version > 3), sha1.
pub const PRIVATE_DESCRIPTOR: &str = "f6fcf2d5d6c2764e292968f0d64b7530:a387b57cd8cea2596fae4294fbe0f536.a4d601da975bea990483c3fb4c8b69e6ee19da16";
/// §11.2: public descriptor, sha1.
pub const PUBLIC_DESCRIPTOR: &str =
    "a387b57cd8cea2596fae4294fbe0f536.f59a1bc80c528413971b90120368aa438b7e7f30";
/// §11.2: shared descriptor, sha1.
pub const SHARED_DESCRIPTOR: &str =
    "975e31775df2c33d6d4fb51adc683a5c.93ee02640500ee17c911d0093c5dbf55778ce25e";
/// §11.2: sha1(private) signature.
pub const PRIVATE_SIG: &str = "b3b9f55bef5e76a5b540da5cc11de4cef6fe2559";
/// §11.2: sha256 signature of `private:public`.
pub const PRIVATE_PUBLIC_SHA256: &str =
    "80c26a3e7fecca421b5fe6c72beb0597e1b27816c409de079b421dcde48c22a0";

/// §11.4: the message body as PHP produces it.
pub const BODY: &str = r#"{"module_id":"im","command":"message","params":{"text":"hi"},"extra":{"server_time":"2024-01-01T03:00:00+03:00","server_time_unix":1704067200.5,"server_name":"example.com","revision_web":19,"revision_mobile":3}}"#;
/// §11.4: delivery time of the envelope vector.
pub const DELIVERED_MS: u64 = 1_704_067_201_234;
/// §11.4: the long-poll body / WS text frame.
pub const ENVELOPE: &str = r#"#!NGINXNMS!#{"id":42,"mid":"17000000000000000000000042","channel":"-","tag":"234","time":"Mon, 01 Jan 2024 00:00:01 GMT","text":{"module_id":"im","command":"message","params":{"text":"hi"},"extra":{"server_time":"2024-01-01T03:00:00+03:00","server_time_unix":1704067200.5,"server_name":"example.com","revision_web":19,"revision_mobile":3}}}#!NGINXNME!#"#;

/// §11.5: PHP-style trusted publish `RequestBatch`.
pub const PHP_PUBLISH_BATCH: &str = "0a82020aff010afc010a140a10f6fcf2d5d6c2764e292968f0d64b753010011ad3017b226d6f64756c655f6964223a22696d222c22636f6d6d616e64223a226d657373616765222c22706172616d73223a7b2274657874223a226869227d2c226578747261223a7b227365727665725f74696d65223a22323032342d30312d30315430333a30303a30302b30333a3030222c227365727665725f74696d655f756e6978223a313730343036373230302e352c227365727665725f6e616d65223a226578616d706c652e636f6d222c227265766973696f6e5f776562223a31392c227265766973696f6e5f6d6f62696c65223a337d7d2080a3052a0a696d5f6d657373616765";
/// §11.5: shared-mode signature of [`PHP_PUBLISH_BATCH`]'s raw bytes with [`TEST_KEY`].
pub const PHP_PUBLISH_BATCH_SIG: &str = "765926efb7e0ef91c9355551c2ebf4a1801cd8ec";
/// §11.5: `ResponseBatch` with one backend `OutgoingMessage`.
pub const OUTGOING_BATCH: &str = "0af8010af5010af2010a0d1700000000000000000000004212d3017b226d6f64756c655f6964223a22696d222c22636f6d6d616e64223a226d657373616765222c22706172616d73223a7b2274657874223a226869227d2c226578747261223a7b227365727665725f74696d65223a22323032342d30312d30315430333a30303a30302b30333a3030222c227365727665725f74696d655f756e6978223a313730343036373230302e352c227365727665725f6e616d65223a226578616d706c652e636f6d222c227265766973696f6e5f776562223a31392c227265766973696f6e5f6d6f62696c65223a337d7d1880a30525810092652a020802";
/// §11.5: trusted channel stats request for [`PRIVATE`].
pub const STATS_REQUEST: &str = "0a1812160a140a10f6fcf2d5d6c2764e292968f0d64b75301001";
/// §11.5: the reply: [`PRIVATE`] online.
pub const STATS_RESPONSE_ONLINE: &str = "0a1a12180a160a10f6fcf2d5d6c2764e292968f0d64b753010011801";
/// §11.5 [R]: stats for [online private, offline private, all-zero id] from the reference.
pub const STATS_RESPONSE_CAPTURED: &str = "0a4a12480a160a1036a294178a4e0597c7ea4d08cd32a837100118010a160a104567a0fb917069b7481f07c3a5aed837100118000a160a100000000000000000000000000000000010011800";
/// §11.5: client publish `RequestBatch` to [`PUBLIC`], signed with [`TEST_KEY`].
pub const CLIENT_PUBLISH_BATCH: &str = "0a610a5f0a5d0a280a10a387b57cd8cea2596fae4294fbe0f5361a14f59a1bc80c528413971b90120368aa438b7e7f301a317b226d6f64756c655f6964223a22696d222c22636f6d6d616e64223a22747970696e67222c22706172616d73223a7b7d7d";
/// §11.5: the client-published body.
pub const CLIENT_BODY: &str = r#"{"module_id":"im","command":"typing","params":{}}"#;

/// Hex → bytes, for the vectors above.
pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("test vector is valid hex")
}
