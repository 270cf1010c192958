//! Recognises the container of a recording from its first bytes.
//!
//! Hikvision devices send MPEG-PS (pack header `00 00 01 BA`) even for files named `.mp4`,
//! sometimes after a 40-byte `IMKH` file header; some send MPEG-TS or real MP4.

/// What a download body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// MPEG program stream, as most Hikvision devices send recordings.
    MpegPs,
    /// MPEG-PS after Hikvision's 40-byte `IMKH` header.
    HikvisionPs,
    /// MPEG transport stream (188-byte packets starting with 0x47).
    MpegTs,
    /// ISO base media (MP4/MOV): `ftyp` box first.
    Mp4,
    /// An XML document (a refusal where video was expected).
    Xml,
    /// None of the above.
    Unknown,
}

/// The bytes needed to tell every container apart.
pub const SNIFF_LEN: usize = 40 + 4;

impl Container {
    /// Tells the container from the start of a body (`SNIFF_LEN` bytes suffice; fewer give
    /// the best guess possible).
    pub fn sniff(head: &[u8]) -> Container {
        if head.starts_with(&[0, 0, 1, 0xBA]) {
            return Container::MpegPs;
        }
        if head.starts_with(b"IMKH") {
            return Container::HikvisionPs;
        }
        if head.len() >= 8 && &head[4..8] == b"ftyp" {
            return Container::Mp4;
        }
        if head.first() == Some(&0x47) && (head.len() < 189 || head[188] == 0x47) {
            return Container::MpegTs;
        }
        let text = head
            .strip_prefix(&[0xEF, 0xBB, 0xBF])
            .unwrap_or(head)
            .trim_ascii_start();
        if text.starts_with(b"<") {
            return Container::Xml;
        }
        Container::Unknown
    }

    pub fn is_video(self) -> bool {
        !matches!(self, Container::Xml | Container::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_each_container() {
        let cases: [(&[u8], Container); 8] = [
            (&[0, 0, 1, 0xBA, 0x44], Container::MpegPs),
            (b"IMKH\x01\x02", Container::HikvisionPs),
            (b"\0\0\0\x20ftypisom", Container::Mp4),
            (&[0x47, 0x40, 0x00, 0x10], Container::MpegTs),
            (b"<?xml version=\"1.0\"?><ResponseStatus>", Container::Xml),
            (b"\xEF\xBB\xBF \n<ResponseStatus>", Container::Xml),
            (b"garbage", Container::Unknown),
            (b"", Container::Unknown),
        ];
        for (head, want) in cases {
            assert_eq!(Container::sniff(head), want, "{head:?}");
        }
    }
}
