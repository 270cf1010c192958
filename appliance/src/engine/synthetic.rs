//! Days of indexed footage made of real faces, for benchmarks that search a community's
//! week without indexing it first (`dipper-bench community`: 7 days x 16 cameras).
//!
//! [`fill`] writes what background indexing would have written, through the same store
//! functions and into the same embedding index: for every track of every camera in the
//! data directory, one-minute recordings over the span, each marked indexed with its
//! entries (faces copied from a real index, at the density real footage gave), and the
//! track's coverage over the whole span. Nothing is downloaded or decoded.
//!
//! Contract: the daemon is not running on the directory (its index is locked while open);
//! the directory was started once (its database and index exist) and its cameras added;
//! a track that already has coverage is refused rather than mixed with made-up footage.

use std::path::Path;

use pipeline::index::{EmbeddingIndex, EmbeddingRef, EntryMeta, FaceBox, NewEntry};

use super::{
    background::coverage,
    store::{self, FoundRecording, Indexed, KeyframeCounts},
};
use crate::{BoxError, db::Database};

/// A face to copy: its embedding and where it was in its keyframe.
#[derive(Debug, Clone)]
pub struct Face {
    pub vector: Vec<f32>,
    pub face_box: [f32; 4],
}

/// What to make.
#[derive(Debug, Clone)]
pub struct Footage {
    /// The span's end, Unix ms; it starts `days` before.
    pub end_ms: i64,
    pub days: u32,
    /// Faces per camera-minute; at least one face is in `faces` when this is above 0.
    pub faces_per_minute: f64,
    /// The embedding model of `faces` (the index's own).
    pub model: String,
    /// Copied in turn, each camera starting at another one.
    pub faces: Vec<Face>,
    /// The share of faces copied as they are (0 to 1); the rest are strangers: the copied
    /// face's vector with its dimensions shifted round by a varying amount, as face-like in
    /// its values and no one's. Real footage shows the people searched for a few times a
    /// day among thousands of faces, not in every copy.
    pub known_share: f64,
}

/// What [`fill`] made.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filled {
    pub tracks: u64,
    pub recordings: u64,
    pub entries: u64,
}

const MINUTE_MS: i64 = 60_000;
/// One keyframe every two seconds.
const KEYFRAMES_PER_MINUTE: u64 = 30;

/// Fills the data directory `data_dir` with `footage` for every camera track in it.
pub async fn fill(data_dir: &Path, footage: &Footage) -> Result<Filled, BoxError> {
    if footage.faces_per_minute > 0.0 && footage.faces.is_empty() {
        return Err("faces_per_minute is above 0 but there is no face to copy".into());
    }
    let db = Database::open(data_dir)?;
    let mut index = EmbeddingIndex::open(data_dir.join("index"))?;
    if index.model() != footage.model {
        return Err(format!(
            "the index holds {} embeddings, the faces are {}",
            index.model(),
            footage.model
        )
        .into());
    }
    let mut filled = Filled::default();
    let mut copier = Copier {
        footage,
        carry: 0.0,
        known: 0.0,
        next_known: 0,
        next_stranger: 0,
    };
    for camera in db.cameras().await? {
        for &track in &camera.tracks {
            let covered = fill_track(&db, &mut index, &mut copier, (camera.id, track));
            let (recordings, entries) = covered.await?;
            filled.tracks += 1;
            filled.recordings += recordings;
            filled.entries += entries;
        }
    }
    index.sync()?;
    Ok(filled)
}

/// One track's recordings, entries and coverage, a day per transaction, newest first.
async fn fill_track(
    db: &Database,
    index: &mut EmbeddingIndex,
    copier: &mut Copier<'_>,
    (camera, track): (i64, u32),
) -> Result<(u64, u64), BoxError> {
    let footage = copier.footage;
    let start_ms = footage.end_ms - i64::from(footage.days) * 24 * 60 * MINUTE_MS;
    let end_ms = footage.end_ms;
    let existing = db
        .write(move |tx| Ok(coverage::ensure(tx, camera, track, end_ms)?))
        .await?;
    if existing.covered_from_ms < existing.covered_to_ms {
        return Err(format!("camera {camera} track {track} is indexed already").into());
    }
    let (mut recordings, mut entries) = (0, 0);
    // Newest day first: the coverage grows backwards from the end, one whole day at a time.
    let mut day_end = end_ms;
    while day_end > start_ms {
        let day_start = (day_end - 24 * 60 * MINUTE_MS).max(start_ms);
        let found: Vec<FoundRecording> = (day_start..day_end)
            .step_by(MINUTE_MS as usize)
            .map(|start| FoundRecording {
                playback_uri: format!("synthetic://{camera}/{track}/{start}"),
                start_ms: start,
                end_ms: start + MINUTE_MS,
                size: None,
            })
            .collect();
        let stored = db
            .write(move |tx| Ok(coverage::store_found(tx, camera, track, &found, end_ms)?))
            .await?;
        let mut marks = Vec::with_capacity(stored.len());
        for recording in &stored {
            let made = copier.recording();
            let batch: Vec<NewEntry<'_>> = made
                .iter()
                .enumerate()
                .map(|(n, (face, vector))| {
                    let time_ms = recording.start_ms + (n as i64 * 2_000) % MINUTE_MS;
                    let at = (recording.recording_id, time_ms);
                    entry(footage, *face, vector, camera, at)
                })
                .collect();
            let faces = batch.len();
            let range = index.add_batch(&batch)?;
            marks.push((recording.recording_id, range, faces as u64));
        }
        recordings += marks.len() as u64;
        entries += marks.iter().map(|m| m.2).sum::<u64>();
        db.write(move |tx| {
            let now = store::now_ms();
            for (recording, range, faces) in marks {
                let indexed = Indexed {
                    first_entry: range.start,
                    end_entry: range.end,
                    keyframes: KeyframeCounts {
                        total: KEYFRAMES_PER_MINUTE,
                        decoded: KEYFRAMES_PER_MINUTE,
                        detected: KEYFRAMES_PER_MINUTE,
                    },
                    faces,
                };
                store::mark_indexed(tx, recording, indexed, None, now)?;
                coverage::recording_done(tx, camera, track, recording, None, now)?;
            }
            coverage::extend(tx, camera, track, day_start..day_end, now)?;
            Ok(())
        })
        .await?;
        index.sync()?;
        day_end = day_start;
    }
    Ok((recordings, entries))
}

/// Picks the faces of each recording: `faces_per_minute` on average, the known ones in
/// turn through `faces`, the strangers made of them in turn too.
struct Copier<'a> {
    footage: &'a Footage,
    /// The fraction of a face the previous recording left, and of a known face.
    carry: f64,
    known: f64,
    next_known: usize,
    next_stranger: usize,
}

impl Copier<'_> {
    /// A one-minute recording's faces: which face each was copied from, and its vector.
    fn recording(&mut self) -> Vec<(usize, Vec<f32>)> {
        let count = self.footage.faces.len();
        self.carry += self.footage.faces_per_minute;
        let n = self.carry as usize;
        self.carry -= n as f64;
        (0..n)
            .map(|_| {
                self.known += self.footage.known_share;
                if self.known >= 1.0 {
                    self.known -= 1.0;
                    self.next_known += 1;
                    let face = self.next_known % count;
                    return (face, self.footage.faces[face].vector.clone());
                }
                self.next_stranger += 1;
                let face = self.next_stranger % count;
                let rotation = self.next_stranger / count;
                (face, stranger(&self.footage.faces[face].vector, rotation))
            })
            .collect()
    }
}

/// Stranger `n` made of `vector`: its dimensions shifted round by 1 to `len - 1`.
fn stranger(vector: &[f32], n: usize) -> Vec<f32> {
    let mut shifted = vector.to_vec();
    if vector.len() > 1 {
        shifted.rotate_left(1 + n % (vector.len() - 1));
    }
    shifted
}

/// An entry of `vector` (face `face`'s, or a stranger made of it) in `recording` at
/// `time_ms`.
fn entry<'a>(
    footage: &'a Footage,
    face: usize,
    vector: &'a [f32],
    camera: i64,
    (recording, time_ms): (i64, i64),
) -> NewEntry<'a> {
    let [x, y, width, height] = footage.faces[face].face_box;
    NewEntry {
        embedding: EmbeddingRef::new(&footage.model, vector),
        meta: EntryMeta {
            recording: recording as u64,
            camera: camera as u32,
            time_ms,
            face_box: FaceBox {
                x,
                y,
                width,
                height,
            },
            crop: 0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::stranger;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        dot / (norm(a) * norm(b))
    }

    #[test]
    fn strangers_resemble_neither_their_face_nor_each_other() {
        // An uneven vector, as embeddings are.
        let face: Vec<f32> = (0..128u32)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) * (1.0 + (i % 3) as f32))
            .collect();
        let made: Vec<Vec<f32>> = (0..8).map(|n| stranger(&face, n)).collect();
        for (n, one) in made.iter().enumerate() {
            assert!(
                cosine(one, &face) < 0.5,
                "stranger {n}: {}",
                cosine(one, &face)
            );
            for (m, other) in made.iter().enumerate().skip(n + 1) {
                assert!(cosine(one, other) < 0.5, "strangers {n} and {m}");
            }
        }
    }
}
