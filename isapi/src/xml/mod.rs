//! ISAPI XML documents as typed Rust values.
//!
//! Every document a device sends is parsed leniently: unknown elements are ignored, optional
//! elements may be missing, and namespaces (`xmlns`, `version`) are accepted but not required.
//! A document that cannot be read gives [`XmlError`], which names the document and carries
//! the parser's reason; nothing here panics on input. The same types serialise the requests
//! the client sends and the replies the simulator sends, so both sides agree on the shapes.

mod device;
mod lenient;
mod search;
mod status;

pub use device::{
    DeviceInfo, DeviceTime, InputProxyChannel, InputProxyChannelList, SearchProfile,
    SourceInputPortDescriptor, StreamingChannel, StreamingChannelList, StreamingVideo, Track,
    TrackList,
};
pub use search::{
    CmSearchDescription, CmSearchResult, DownloadRequest, LogDescriptor, MatchList,
    MediaSegmentDescriptor, MetadataList, PageItem, SearchMatchItem, SearchPage, SearchStatus,
    TimeSpan, TimeSpanList, TrackIdList, parse_search_page,
};
pub use status::{Cpu, CpuList, DeviceStatus, Memory, MemoryList, ResponseStatus, UserCheck};

use serde::{Serialize, de::DeserializeOwned};

/// The namespace Hikvision devices put on the documents they send.
pub const ISAPI_NAMESPACE: &str = "http://www.isapi.org/ver20/XMLSchema";

/// A document that could not be read as the type that was expected.
#[derive(Debug, thiserror::Error)]
#[error("malformed {document} XML: {reason}")]
pub struct XmlError {
    /// The document's root element as expected, e.g. `CMSearchResult`.
    pub document: &'static str,
    /// The parser's reason, with the element or position where it stopped.
    pub reason: String,
}

/// Parses `body` as the ISAPI document `document` (the root element's name, used in errors).
pub fn parse<T: DeserializeOwned>(document: &'static str, body: &str) -> Result<T, XmlError> {
    let trimmed = body.trim_start_matches('\u{feff}').trim();
    if trimmed.is_empty() {
        return Err(XmlError {
            document,
            reason: "empty body".to_owned(),
        });
    }
    let root = root_element(trimmed).ok_or_else(|| XmlError {
        document,
        reason: format!("no root element in {:?}", preview(trimmed)),
    })?;
    if root != document {
        return Err(XmlError {
            document,
            reason: format!("root element is <{root}>, expected <{document}>"),
        });
    }
    let mut de = quick_xml::de::Deserializer::from_str(trimmed);
    T::deserialize(&mut de).map_err(|e| {
        let position = usize::try_from(de.get_ref().get_ref().buffer_position()).unwrap_or(0);
        let position = position.min(trimmed.len());
        let before_start = trimmed.floor_char_boundary(position.saturating_sub(40));
        let before = &trimmed[before_start..trimmed.floor_char_boundary(position)];
        XmlError {
            document,
            reason: format!("{e}, near byte {position} (after {before:?})"),
        }
    })
}

/// Serialises `value` as the document `root`, with the XML declaration devices expect.
pub fn to_string<T: Serialize>(root: &str, value: &T) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    // Serialising plain structs of strings and numbers into a String cannot fail; if a
    // future type makes it fail, the empty document is rejected by the peer's parser.
    if let Err(e) = quick_xml::se::to_writer_with_root(&mut out, root, value) {
        tracing::error!(root, error = %e, "cannot serialise ISAPI document");
    }
    out
}

/// The name of the first element of an XML document, without namespace prefix.
pub fn root_element(body: &str) -> Option<&str> {
    let mut rest = body;
    loop {
        let start = rest.find('<')?;
        rest = &rest[start + 1..];
        if let Some(comment) = rest.strip_prefix("!--") {
            let end = comment.find("-->")?;
            rest = &comment[end + 3..];
            continue;
        }
        if rest.starts_with('?') || rest.starts_with('!') {
            // Declaration or doctype: skip to its end.
            let end = rest.find('>')?;
            rest = &rest[end + 1..];
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .unwrap_or(rest.len());
        let name = &rest[..end];
        let local = name.rsplit(':').next().unwrap_or(name);
        return (!local.is_empty()).then_some(local);
    }
}

/// The start of a body, for error messages: at most 80 characters.
pub(crate) fn preview(body: &str) -> String {
    body.chars().take(80).collect()
}

#[cfg(test)]
mod tests;
