//! The recordings to download: found by a real ISAPI search on each camera, listed
//! round-robin across cameras (camera 0's first, camera 1's first, ..., camera 0's second,
//! ...), so that consecutive downloads go to different cameras.

use futures::{StreamExt, TryStreamExt};
use isapi::{Client, Device, SearchQuery};
use pipeline::downloader::{DeviceKey, DownloadRequest};

use crate::BoxError;

/// The track of a one-channel camera's main stream.
const TRACK: u32 = 101;
/// Cameras searched at once.
const SEARCHES_AT_ONCE: usize = 64;
/// Bytes of a one-minute recording of the simulator's clips (about 614 kbit/s).
const BYTES_PER_MINUTE: u64 = 614_000 / 8 * 60;
/// Aggregate rate assumed for unthrottled streams when sizing the search (more than two
/// cores move): only decides how many recordings to list, the list repeats when used up.
const UNTHROTTLED_BYTES_PER_SECOND: u64 = 2_000_000_000;

/// One simulated camera as the downloader sees it.
#[derive(Debug)]
pub(crate) struct Camera {
    pub(crate) key: DeviceKey,
    pub(crate) url: String,
    pub(crate) device: Device,
}

/// One recording of one camera.
#[derive(Debug)]
pub(crate) struct Recording {
    /// Index into [`WorkList::cameras`].
    pub(crate) camera: usize,
    pub(crate) playback_uri: String,
}

/// Every recording the benchmark may download, round-robin across cameras.
#[derive(Debug)]
pub(crate) struct WorkList {
    pub(crate) cameras: Vec<Camera>,
    recordings: Vec<Recording>,
    /// Indexes into `recordings`, per camera.
    by_camera: Vec<Vec<usize>>,
}

impl WorkList {
    /// Searches the last day of each camera (at `urls`) for up to `per_camera` recordings.
    pub(crate) async fn search(
        client: &Client,
        urls: &[String],
        user: &str,
        password: &str,
        per_camera: usize,
    ) -> Result<WorkList, BoxError> {
        let mut cameras = Vec::with_capacity(urls.len());
        for (key, url) in (0..).zip(urls) {
            let device = client.device(url, user, password)?;
            cameras.push(Camera {
                key,
                url: url.clone(),
                device,
            });
        }
        let end = jiff::Timestamp::now();
        let start = end - jiff::SignedDuration::from_hours(24);
        let found: Vec<Vec<String>> = futures::stream::iter(&cameras)
            .map(|camera| async move {
                let query = SearchQuery {
                    track: TRACK,
                    start,
                    end,
                };
                camera
                    .device
                    .search(query)
                    .take(per_camera)
                    .map_ok(|recording| recording.playback_uri)
                    .try_collect::<Vec<_>>()
                    .await
                    .map_err(|e| format!("searching camera {} ({}): {e}", camera.key, camera.url))
            })
            .buffered(SEARCHES_AT_ONCE)
            .try_collect()
            .await?;
        let mut recordings = Vec::new();
        let mut by_camera = vec![Vec::new(); cameras.len()];
        let longest = found.iter().map(Vec::len).max().unwrap_or(0);
        for round in 0..longest {
            for (camera, uris) in found.iter().enumerate() {
                if let Some(uri) = uris.get(round) {
                    by_camera[camera].push(recordings.len());
                    recordings.push(Recording {
                        camera,
                        playback_uri: uri.clone(),
                    });
                }
            }
        }
        if let Some(camera) = by_camera.iter().position(Vec::is_empty) {
            return Err(format!("camera {camera} has no recordings in the last day").into());
        }
        Ok(WorkList {
            cameras,
            recordings,
            by_camera,
        })
    }

    /// The `n`th recording of the list, which repeats when used up.
    pub(crate) fn recording(&self, n: usize) -> &Recording {
        &self.recordings[n % self.recordings.len()]
    }

    /// The `n`th recording of the list as a downloader request.
    pub(crate) fn request(&self, n: usize) -> DownloadRequest {
        let recording = self.recording(n);
        let camera = &self.cameras[recording.camera];
        DownloadRequest {
            device_key: camera.key,
            device: camera.device.clone(),
            playback_uri: recording.playback_uri.clone(),
            // Every byte from the camera: the disk cache is not what this measures.
            cache_key: None,
        }
    }

    /// The `n`th recording of `camera` (its list repeats when used up), as an index for
    /// [`WorkList::request`].
    pub(crate) fn of_camera(&self, camera: usize, n: usize) -> usize {
        let own = &self.by_camera[camera];
        own[n % own.len()]
    }

    /// The camera of the `n`th recording.
    pub(crate) fn camera_of(&self, n: usize) -> &Camera {
        &self.cameras[self.recording(n).camera]
    }
}

/// How many recordings to list per camera: what `concurrency` streams can finish in
/// `seconds` at `rate_kbps` each (0 = unthrottled), with a margin. Listing fewer only makes
/// the list repeat; listing many more only costs search time and memory.
pub(crate) fn recordings_per_camera(
    cameras: usize,
    concurrency: usize,
    seconds: u64,
    rate_kbps: u64,
    recording_minutes: u32,
) -> usize {
    let recording_bytes = BYTES_PER_MINUTE * u64::from(recording_minutes.max(1));
    let streams = concurrency.max(1) as u64;
    let stream_rate = if rate_kbps == 0 {
        UNTHROTTLED_BYTES_PER_SECOND / streams
    } else {
        (rate_kbps * 1000 / 8).min(UNTHROTTLED_BYTES_PER_SECOND / streams)
    };
    let per_stream = seconds * stream_rate / recording_bytes + 1;
    let total = streams * per_stream;
    let per_camera = total.div_ceil(cameras.max(1) as u64) * 3 / 2 + 2;
    // A day of one-minute recordings is 1,440.
    usize::try_from(per_camera).unwrap_or(usize::MAX).min(1440)
}

#[cfg(test)]
mod tests {
    use super::recordings_per_camera;

    #[test]
    fn a_throttled_camera_lists_what_its_streams_can_finish() {
        // 1 MB/s, 4.6 MB recordings, 20 s: 5 each, one stream per camera, plus the margin.
        assert_eq!(recordings_per_camera(1000, 1000, 20, 8000, 1), 9);
        // Ten streams per camera list ten times as many.
        assert_eq!(recordings_per_camera(100, 1000, 20, 8000, 1), 77);
    }

    #[test]
    fn unthrottled_streams_share_an_assumed_aggregate() {
        assert_eq!(recordings_per_camera(1000, 1000, 20, 0, 1), 15);
        assert_eq!(recordings_per_camera(3, 3, 2, 0, 1), 437);
        assert_eq!(recordings_per_camera(1, 1, 600, 0, 1), 1440);
    }
}
