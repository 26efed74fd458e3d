//! Feeds arbitrary bytes to the WAL record decoder. It must never panic,
//! and whatever it accepts must carry matching checksums and re-encode to
//! exactly the bytes it came from.
//!
//! Run: `cd daemon/fuzz && cargo +nightly fuzz run wal_record`

#![no_main]

use cairn::wal::{self, HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((record, used)) = wal::decode(data) {
        let payload_crc = u32::from_le_bytes(data[4..8].try_into().unwrap());
        assert_eq!(crc32c::crc32c(&data[HEADER_LEN..used]), payload_crc);
        let mut again = Vec::new();
        wal::encode(&record, &mut again).unwrap();
        assert_eq!(again, &data[..used]);
    }
});
