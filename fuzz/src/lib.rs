//! Fuzz targets for what Dipper reads from outside the process: a device's ISAPI XML, a
//! recording's bytes (MPEG-PS or anything else a camera sends), the JSON payloads box and
//! relay send each other, and query photos.
//!
//! Contract: a target takes any bytes and returns. A panic is a finding: either the code
//! under test panicked on hostile input, or a property the target checks was broken (a
//! protocol message read, written and read again must come back the same). AFL++ runs the
//! targets through `dipper-fuzz` (`scripts/fuzz`, built with `cargo afl build`); the corpus
//! and every crash found (`fuzz/corpus/<target>/`, `fuzz/crashes/<target>/`) are replayed by
//! this crate's tests, so a crash fixed stays fixed.
//!
//! The relay's HTTP request bodies are fuzzed by schemathesis from the OpenAPI document
//! (`relay/tools/schemathesis.sh`), against the running relay: not here.

mod isapi_xml;
mod mpeg_ps;
mod photo;
mod protocol_json;

/// One fuzz target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Every ISAPI document the client and the simulator read, and the times in them.
    IsapiXml,
    /// A recording's bytes through FFmpeg's demuxer and decoder, with the motion gates.
    MpegPs,
    /// Every payload of the box<->relay protocol, as each side reads it.
    ProtocolJson,
    /// A query photo (JPEG or PNG), decoded upright.
    Photo,
}

impl Target {
    pub const ALL: [Target; 4] = [
        Target::IsapiXml,
        Target::MpegPs,
        Target::ProtocolJson,
        Target::Photo,
    ];

    /// The target's name on the command line and its corpus folder.
    pub fn name(self) -> &'static str {
        match self {
            Target::IsapiXml => "isapi_xml",
            Target::MpegPs => "mpeg_ps",
            Target::ProtocolJson => "protocol_json",
            Target::Photo => "photo",
        }
    }

    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The folders of the target's seeds, relative to the repository's root: its corpus, the
    /// crashes AFL++ saved (kept once fixed, so they stay fixed) and, for ISAPI, the device
    /// fixtures the client's tests read.
    pub fn seed_folders(self) -> Vec<String> {
        let mut folders = vec![
            format!("fuzz/corpus/{}", self.name()),
            format!("fuzz/crashes/{}", self.name()),
        ];
        if self == Target::IsapiXml {
            folders.push("isapi/testdata".to_owned());
        }
        folders
    }

    /// Runs `data` through the target; panics on a finding.
    pub fn run(self, data: &[u8]) {
        match self {
            Target::IsapiXml => isapi_xml::run(data),
            Target::MpegPs => mpeg_ps::run(data),
            Target::ProtocolJson => protocol_json::run(data),
            Target::Photo => photo::run(data),
        }
    }
}
