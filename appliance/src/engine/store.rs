//! The engine's rows in SQLite: tasks, their sources and recordings, the index's record of
//! processed recordings, and matches (schema: `db/migrations/0002_tasks.sql`).
//!
//! Plain functions over a connection; the engine runs writes through the database's one
//! writer ([`crate::db::Database::write`]) and reads on its read pool. Every change to a
//! recording's state updates the task's counters in the same transaction, so progress is one
//! row read however many recordings a task covers.

use pipeline::faces::{Embedding, ModelId};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::engine::request::{Target, TaskParams, ValidTask};

/// Now, as the rows store times.
pub(crate) fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TaskState {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl TaskState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Done => "done",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<TaskState> {
        Some(match s {
            "queued" => TaskState::Queued,
            "running" => TaskState::Running,
            "done" => TaskState::Done,
            "failed" => TaskState::Failed,
            "cancelled" => TaskState::Cancelled,
            _ => return None,
        })
    }

    pub(crate) fn is_finished(self) -> bool {
        matches!(
            self,
            TaskState::Done | TaskState::Failed | TaskState::Cancelled
        )
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct TaskCounts {
    /// Recordings found so far (the searches go on while they are processed).
    pub(crate) recordings_total: u64,
    /// Recordings searched (damaged ones too, with a warning).
    pub(crate) recordings_done: u64,
    /// Recordings that gave nothing to search, with the reasons in the task's failures.
    pub(crate) recordings_failed: u64,
    /// Keyframes and accepted faces of the recordings done.
    pub(crate) keyframes: u64,
    pub(crate) faces: u64,
    /// Faces within the task's match distance of its target.
    pub(crate) matches: u64,
    /// Of the keyframes, those the motion gates let be decoded, and of those, the ones sent
    /// to the face detector (`keyframes - keyframes_decoded` were skipped for a static GOP,
    /// `keyframes_decoded - keyframes_detected` for static pixels).
    pub(crate) keyframes_decoded: u64,
    pub(crate) keyframes_detected: u64,
}

/// A task as stored; the API shows it with its progress (`TaskStatus`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TaskRow {
    /// A UUID, made when the task is created.
    pub(crate) id: String,
    pub(crate) state: TaskState,
    #[serde(flatten)]
    pub(crate) params: TaskParams,
    /// Whether the task was given a photo (else an embedding).
    #[serde(rename = "photo")]
    pub(crate) has_photo: bool,
    /// Why it failed, or the sources a done task could not search.
    pub(crate) error: Option<String>,
    /// Unix milliseconds.
    pub(crate) created_at_ms: i64,
    pub(crate) started_at_ms: Option<i64>,
    pub(crate) finished_at_ms: Option<i64>,
    #[serde(flatten)]
    pub(crate) counts: TaskCounts,
}

/// A camera track a task searches, and how far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Source {
    pub(crate) camera_id: i64,
    /// The ISAPI track, e.g. 101 for channel 1's main stream.
    pub(crate) track: u32,
    /// Where the next search starts (Unix ms): after the last page stored.
    pub(crate) cursor_ms: i64,
    /// The search reached the end of the task's range.
    pub(crate) search_done: bool,
}

/// A recording a search found.
#[derive(Debug, Clone)]
pub(crate) struct FoundRecording {
    /// The device's name for the recording, which its download asks for.
    pub(crate) playback_uri: String,
    /// Unix milliseconds, through the device's time zone.
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
    /// Bytes, when the device says.
    pub(crate) size: Option<u64>,
}

/// A recording of a task still to process.
#[derive(Debug, Clone)]
pub(crate) struct PendingRecording {
    /// Its row in `recordings`, shared by every task that finds it.
    pub(crate) recording_id: i64,
    pub(crate) camera_id: i64,
    pub(crate) track: u32,
    pub(crate) playback_uri: String,
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
    /// The order the task found it in.
    pub(crate) seq: i64,
}

/// A processed recording's index entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Indexed {
    /// The recording's entries are `first_entry..end_entry`.
    pub(crate) first_entry: u64,
    pub(crate) end_entry: u64,
    /// Every keyframe of the recording, those decoded (the rest the motion gates skipped
    /// without decoding), and those sent to the face detector.
    pub(crate) keyframes: KeyframeCounts,
    /// Faces accepted.
    pub(crate) faces: u64,
}

/// A recording's keyframes, and how far the motion gates let them through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct KeyframeCounts {
    pub(crate) total: u64,
    pub(crate) decoded: u64,
    pub(crate) detected: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewMatch {
    /// The face's entry in the embedding index.
    pub(crate) entry_id: u64,
    pub(crate) recording_id: i64,
    pub(crate) camera_id: i64,
    /// The keyframe's wall-clock time, Unix milliseconds.
    pub(crate) time_ms: i64,
    /// Between the unit embeddings of the face and the target.
    pub(crate) distance: f32,
    /// x, y, width, height in keyframe pixels.
    pub(crate) face_box: [f32; 4],
    /// Which face of its keyframe, naming its snapshot.
    pub(crate) face_index: u64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct MatchRow {
    pub(crate) id: i64,
    pub(crate) camera_id: i64,
    pub(crate) camera_name: Option<String>,
    pub(crate) recording_id: i64,
    pub(crate) playback_uri: String,
    pub(crate) time_ms: i64,
    pub(crate) distance: f32,
    /// x, y, width, height in keyframe pixels.
    pub(crate) face_box: [f32; 4],
    /// Which face of its keyframe, naming its snapshot.
    #[serde(skip)]
    pub(crate) face_index: u64,
}

/// How processing a recording for a task ended.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Done {
        matches: Vec<NewMatch>,
        keyframes: KeyframeCounts,
        faces: u64,
        /// The video was damaged after some keyframes (their faces were kept).
        warning: Option<String>,
    },
    Failed {
        reason: String,
    },
}

fn embedding_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A stored embedding; `None` when its model is not this build's or its values are not
/// a vector of that model (the task then embeds its photo again, or fails without one).
fn stored_embedding(model: &str, bytes: &[u8]) -> Option<Embedding> {
    let model = ModelId::from_id(model)?;
    let values = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Embedding::new(model, values).ok()
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Stores a new task, `queued` (its cameras resolved).
pub(crate) fn insert_task(
    conn: &Connection,
    id: &str,
    task: &ValidTask,
    created_at_ms: i64,
) -> rusqlite::Result<()> {
    let params = &task.params;
    let cameras = serde_json::to_string(&params.cameras).unwrap_or_else(|_| "[]".to_owned());
    let photo = match &task.target {
        Target::Photo(photo) => Some(photo.as_slice()),
        Target::Embeddings(_) => None,
    };
    conn.execute(
        "INSERT INTO tasks (id, state, priority, from_ms, to_ms, cameras, match_distance,
                            has_photo, created_at_ms)
         VALUES (?1, 'queued', ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            id,
            params.priority,
            params.from_ms,
            params.to_ms,
            cameras,
            f64::from(params.match_distance),
            photo.is_some(),
            created_at_ms
        ],
    )?;
    match &task.target {
        Target::Photo(photo) => {
            conn.execute(
                "INSERT INTO task_photos (task_id, photo) VALUES (?1, ?2)",
                params![id, photo],
            )?;
        }
        Target::Embeddings(embeddings) => set_embeddings(conn, id, embeddings)?,
    }
    Ok(())
}

/// Stores the embeddings the task looks for (in place of any it had), in their order.
pub(crate) fn set_embeddings(
    conn: &Connection,
    task: &str,
    embeddings: &[Embedding],
) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM task_embeddings WHERE task_id = ?1", [task])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO task_embeddings (task_id, n, model, embedding) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (n, embedding) in embeddings.iter().enumerate() {
        insert.execute(params![
            task,
            n as i64,
            embedding.model().id(),
            embedding_bytes(embedding.vector())
        ])?;
    }
    Ok(())
}

/// The embeddings the task looks for, in their order; none before its photo is embedded.
/// One of another model than this build's, or that is not a vector of its model, is left
/// out (the task then embeds its photo again, or fails without one).
pub(crate) fn task_embeddings(conn: &Connection, task: &str) -> rusqlite::Result<Vec<Embedding>> {
    let mut statement = conn.prepare_cached(
        "SELECT model, embedding FROM task_embeddings WHERE task_id = ?1 ORDER BY n",
    )?;
    let rows = statement.query_map([task], |row| {
        Ok(stored_embedding(
            &row.get::<_, String>(0)?,
            &row.get::<_, Vec<u8>>(1)?,
        ))
    })?;
    let mut embeddings = Vec::new();
    for row in rows {
        match row? {
            Some(embedding) => embeddings.push(embedding),
            None => tracing::warn!(
                task,
                "a stored embedding of another model, or not a vector of this one, is left out"
            ),
        }
    }
    Ok(embeddings)
}

/// Moves an unfinished task to `state`; a finished task stays as it is. Returns whether
/// the task changed.
pub(crate) fn set_state(
    conn: &Connection,
    task: &str,
    state: TaskState,
    error: Option<&str>,
    now_ms: i64,
) -> rusqlite::Result<bool> {
    let changed = conn.execute(
        "UPDATE tasks SET state = ?2,
                error = coalesce(?3, error),
                started_at_ms = CASE WHEN ?2 = 'running' THEN coalesce(started_at_ms, ?4)
                                     ELSE started_at_ms END,
                finished_at_ms = CASE WHEN ?2 IN ('done', 'failed', 'cancelled') THEN ?4
                                      ELSE finished_at_ms END
         WHERE id = ?1 AND state IN ('queued', 'running')",
        params![task, state.as_str(), error, now_ms],
    )?;
    Ok(changed == 1)
}

const TASK_COLUMNS: &str = "id, state, priority, from_ms, to_ms, cameras, match_distance,
    has_photo, error, created_at_ms, started_at_ms, finished_at_ms,
    recordings_total, recordings_done, recordings_failed, keyframes, faces, matches,
    keyframes_decoded, keyframes_detected";

fn task_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TaskRow> {
    let state: String = row.get(1)?;
    let cameras: String = row.get(5)?;
    Ok(TaskRow {
        id: row.get(0)?,
        state: TaskState::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                1,
                rusqlite::types::Type::Text,
                format!("unknown task state {state:?}").into(),
            )
        })?,
        params: TaskParams {
            priority: row.get(2)?,
            from_ms: row.get(3)?,
            to_ms: row.get(4)?,
            cameras: serde_json::from_str(&cameras).unwrap_or_default(),
            match_distance: row.get::<_, f64>(6)? as f32,
        },
        has_photo: row.get(7)?,
        error: row.get(8)?,
        created_at_ms: row.get(9)?,
        started_at_ms: row.get(10)?,
        finished_at_ms: row.get(11)?,
        counts: TaskCounts {
            recordings_total: count(row.get(12)?),
            recordings_done: count(row.get(13)?),
            recordings_failed: count(row.get(14)?),
            keyframes: count(row.get(15)?),
            faces: count(row.get(16)?),
            matches: count(row.get(17)?),
            keyframes_decoded: count(row.get(18)?),
            keyframes_detected: count(row.get(19)?),
        },
    })
}

pub(crate) fn task(conn: &Connection, id: &str) -> rusqlite::Result<Option<TaskRow>> {
    conn.query_row(
        &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"),
        [id],
        task_row,
    )
    .optional()
}

/// Newest first; `before` is the `created_at_ms` and id of the last task of the previous page.
pub(crate) fn tasks(
    conn: &Connection,
    state: Option<TaskState>,
    limit: u32,
    before: Option<(i64, &str)>,
) -> rusqlite::Result<Vec<TaskRow>> {
    let (before_ms, before_id) = before.unwrap_or((i64::MAX, ""));
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {TASK_COLUMNS} FROM tasks
         WHERE (?1 IS NULL OR state = ?1) AND (created_at_ms, id) < (?2, ?3)
         ORDER BY created_at_ms DESC, id DESC LIMIT ?4"
    ))?;
    let rows = statement.query_map(
        params![state.map(TaskState::as_str), before_ms, before_id, limit],
        task_row,
    )?;
    rows.collect()
}

/// Tasks to run after a start: queued or running, best priority and oldest first.
pub(crate) fn unfinished_tasks(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut statement = conn.prepare(
        "SELECT id FROM tasks WHERE state IN ('queued', 'running')
         ORDER BY priority, created_at_ms",
    )?;
    let rows = statement.query_map([], |row| row.get(0))?;
    rows.collect()
}

pub(crate) fn task_photo(conn: &Connection, id: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    Ok(conn
        .query_row(
            "SELECT photo FROM task_photos WHERE task_id = ?1",
            [id],
            |row| row.get::<_, Option<Vec<u8>>>(0),
        )
        .optional()?
        .flatten())
}

/// Adds the sources a task will search (kept when they exist: a resumed task keeps its
/// cursors), then returns them all.
pub(crate) fn ensure_sources(
    conn: &Connection,
    task: &str,
    sources: &[(i64, u32)],
    from_ms: i64,
) -> rusqlite::Result<Vec<Source>> {
    {
        let mut insert = conn.prepare_cached(
            "INSERT OR IGNORE INTO task_sources (task_id, camera_id, track, cursor_ms)
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        for &(camera, track) in sources {
            insert.execute(params![task, camera, track, from_ms])?;
        }
    }
    let mut statement = conn.prepare_cached(
        "SELECT camera_id, track, cursor_ms, search_done FROM task_sources WHERE task_id = ?1
         ORDER BY camera_id, track",
    )?;
    let rows = statement.query_map([task], |row| {
        Ok(Source {
            camera_id: row.get(0)?,
            track: row.get(1)?,
            cursor_ms: row.get(2)?,
            search_done: row.get(3)?,
        })
    })?;
    rows.collect()
}

/// The sequence number the task's next found recording gets.
fn next_seq(conn: &Connection, task: &str) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT coalesce(max(seq), 0) + 1 FROM task_recordings WHERE task_id = ?1",
        [task],
        |row| row.get(0),
    )
}

/// Records one page of a search: the recordings (new ones become pending for the task) and
/// the source's cursor. Returns the recordings that became pending.
pub(crate) fn add_found(
    conn: &Connection,
    task: &str,
    source: &Source,
    found: &[FoundRecording],
) -> rusqlite::Result<Vec<PendingRecording>> {
    let mut pending = Vec::new();
    let mut next_seq = next_seq(conn, task)?;
    {
        let mut upsert = conn.prepare_cached(
            "INSERT INTO recordings (camera_id, track, playback_uri, start_ms, end_ms, size)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (camera_id, playback_uri) DO UPDATE SET size = coalesce(size, excluded.size)
             RETURNING id",
        )?;
        let mut link = conn.prepare_cached(
            "INSERT OR IGNORE INTO task_recordings (task_id, recording_id, seq, state)
             VALUES (?1, ?2, ?3, 'pending')",
        )?;
        for recording in found {
            let id: i64 = upsert.query_row(
                params![
                    source.camera_id,
                    source.track,
                    recording.playback_uri,
                    recording.start_ms,
                    recording.end_ms,
                    recording.size.and_then(|s| i64::try_from(s).ok())
                ],
                |row| row.get(0),
            )?;
            if link.execute(params![task, id, next_seq])? == 1 {
                pending.push(PendingRecording {
                    recording_id: id,
                    camera_id: source.camera_id,
                    track: source.track,
                    playback_uri: recording.playback_uri.clone(),
                    start_ms: recording.start_ms,
                    end_ms: recording.end_ms,
                    seq: next_seq,
                });
                next_seq += 1;
            }
        }
    }
    conn.execute(
        "UPDATE tasks SET recordings_total = recordings_total + ?2 WHERE id = ?1",
        params![task, pending.len() as i64],
    )?;
    conn.execute(
        "UPDATE task_sources SET cursor_ms = ?4, search_done = ?5
         WHERE task_id = ?1 AND camera_id = ?2 AND track = ?3",
        params![
            task,
            source.camera_id,
            source.track,
            source.cursor_ms,
            source.search_done
        ],
    )?;
    Ok(pending)
}

/// A task's pending recordings after `after_seq`, in the order they were found.
pub(crate) fn pending(
    conn: &Connection,
    task: &str,
    after_seq: i64,
    limit: u32,
) -> rusqlite::Result<Vec<PendingRecording>> {
    let mut statement = conn.prepare_cached(
        "SELECT r.id, r.camera_id, r.track, r.playback_uri, r.start_ms, r.end_ms, t.seq
         FROM task_recordings t JOIN recordings r ON r.id = t.recording_id
         WHERE t.task_id = ?1 AND t.state = 'pending' AND t.seq > ?2
         ORDER BY t.seq LIMIT ?3",
    )?;
    let rows = statement.query_map(params![task, after_seq, limit], |row| {
        Ok(PendingRecording {
            recording_id: row.get(0)?,
            camera_id: row.get(1)?,
            track: row.get(2)?,
            playback_uri: row.get(3)?,
            start_ms: row.get(4)?,
            end_ms: row.get(5)?,
            seq: row.get(6)?,
        })
    })?;
    rows.collect()
}

/// The recording's entries, when its faces are in the index.
pub(crate) fn indexed(conn: &Connection, recording: i64) -> rusqlite::Result<Option<Indexed>> {
    conn.query_row(
        "SELECT first_entry, end_entry, keyframes, faces,
                coalesce(keyframes_decoded, keyframes), coalesce(keyframes_detected, keyframes)
             FROM recordings WHERE id = ?1 AND indexed_at_ms IS NOT NULL",
        [recording],
        |row| {
            Ok(Indexed {
                first_entry: count(row.get(0)?),
                end_entry: count(row.get(1)?),
                keyframes: KeyframeCounts {
                    total: count(row.get(2)?),
                    decoded: count(row.get(4)?),
                    detected: count(row.get(5)?),
                },
                faces: count(row.get(3)?),
            })
        },
    )
    .optional()
}

pub(crate) fn mark_indexed(
    conn: &Connection,
    recording: i64,
    indexed: Indexed,
    decode_error: Option<&str>,
    now_ms: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE recordings SET indexed_at_ms = ?2, first_entry = ?3, end_entry = ?4,
                keyframes = ?5, faces = ?6, decode_error = ?7, keyframes_decoded = ?8,
                keyframes_detected = ?9
         WHERE id = ?1",
        params![
            recording,
            now_ms,
            indexed.first_entry as i64,
            indexed.end_entry as i64,
            indexed.keyframes.total as i64,
            indexed.faces as i64,
            decode_error,
            indexed.keyframes.decoded as i64,
            indexed.keyframes.detected as i64,
        ],
    )?;
    Ok(())
}

/// Stores how a recording ended for a task, its matches and the task's counters, once: a
/// recording that is no longer pending (already completed before a crash) changes nothing.
pub(crate) fn complete(
    conn: &Connection,
    task: &str,
    recording: i64,
    outcome: &Outcome,
) -> rusqlite::Result<bool> {
    let (state, reason) = match outcome {
        Outcome::Done { warning, .. } => ("done", warning.as_deref()),
        Outcome::Failed { reason } => ("failed", Some(reason.as_str())),
    };
    let changed = conn.execute(
        "UPDATE task_recordings SET state = ?3, reason = ?4
         WHERE task_id = ?1 AND recording_id = ?2 AND state = 'pending'",
        params![task, recording, state, reason],
    )?;
    if changed == 0 {
        return Ok(false);
    }
    match outcome {
        Outcome::Done {
            matches,
            keyframes,
            faces,
            ..
        } => {
            let stored = insert_matches(conn, task, matches)?;
            add_done(conn, task, 1, *keyframes, *faces, stored)?;
        }
        Outcome::Failed { .. } => {
            conn.execute(
                "UPDATE tasks SET recordings_failed = recordings_failed + 1 WHERE id = ?1",
                [task],
            )?;
        }
    }
    Ok(true)
}

/// Stores a task's matches (each face once per task, whoever stores it first), only those
/// whose recording is still indexed (retention may have retired it meanwhile); how many
/// were new.
pub(crate) fn insert_matches(
    conn: &Connection,
    task: &str,
    matches: &[NewMatch],
) -> rusqlite::Result<u64> {
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO matches (task_id, entry_id, recording_id, camera_id, time_ms,
             distance, box_x, box_y, box_width, box_height, face_index)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11
         WHERE EXISTS (SELECT 1 FROM recordings WHERE id = ?3 AND indexed_at_ms IS NOT NULL)",
    )?;
    let mut stored = 0;
    for m in matches {
        stored += insert.execute(params![
            task,
            m.entry_id as i64,
            m.recording_id,
            m.camera_id,
            m.time_ms,
            f64::from(m.distance),
            f64::from(m.face_box[0]),
            f64::from(m.face_box[1]),
            f64::from(m.face_box[2]),
            f64::from(m.face_box[3]),
            m.face_index as i64
        ])? as u64;
    }
    Ok(stored)
}

/// Adds `recordings` searched, with their keyframes, faces and new matches, to the task's
/// counters.
pub(crate) fn add_done(
    conn: &Connection,
    task: &str,
    recordings: u64,
    keyframes: KeyframeCounts,
    faces: u64,
    matches: u64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE tasks SET recordings_done = recordings_done + ?2,
                keyframes = keyframes + ?3, faces = faces + ?4, matches = matches + ?5,
                keyframes_decoded = keyframes_decoded + ?6,
                keyframes_detected = keyframes_detected + ?7
         WHERE id = ?1",
        params![
            task,
            recordings as i64,
            keyframes.total as i64,
            faces as i64,
            matches as i64,
            keyframes.decoded as i64,
            keyframes.detected as i64
        ],
    )?;
    Ok(())
}

/// Adds `recordings` found to the task's total (those answered from the index in a batch,
/// which get no `task_recordings` row).
pub(crate) fn add_found_count(
    conn: &Connection,
    task: &str,
    recordings: u64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE tasks SET recordings_total = recordings_total + ?2 WHERE id = ?1",
        params![task, recordings as i64],
    )?;
    Ok(())
}

/// Records recordings searched from the index whose video was damaged, as done with the
/// damage as their reason (what the task's reasons list shows).
pub(crate) fn add_done_rows(
    conn: &Connection,
    task: &str,
    recordings: &[(i64, &str)],
) -> rusqlite::Result<()> {
    let mut next_seq = next_seq(conn, task)?;
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO task_recordings (task_id, recording_id, seq, state, reason)
         VALUES (?1, ?2, ?3, 'done', ?4)",
    )?;
    for &(recording, reason) in recordings {
        next_seq += insert.execute(params![task, recording, next_seq, reason])? as i64;
    }
    Ok(())
}

/// Whether every camera track of the task has been searched to the end of its range.
pub(crate) fn sources_done(conn: &Connection, task: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) = 0 FROM task_sources WHERE task_id = ?1 AND NOT search_done",
        [task],
        |r| r.get(0),
    )
}

/// Reasons and how many recordings gave each.
pub(crate) type Reasons = Vec<(String, u64)>;

/// Why recordings of a task failed (`failed`), or what was damaged in recordings that were
/// searched anyway (`done`), most common first.
pub(crate) fn reasons(conn: &Connection, task: &str, state: &str) -> rusqlite::Result<Reasons> {
    let mut statement = conn.prepare_cached(
        "SELECT reason, count(*) FROM task_recordings
         WHERE task_id = ?1 AND state = ?2 AND reason IS NOT NULL
         GROUP BY reason ORDER BY count(*) DESC, reason LIMIT 20",
    )?;
    let rows = statement.query_map(params![task, state], |row| {
        Ok((
            row.get::<_, Option<String>>(0)?.unwrap_or_default(),
            count(row.get(1)?),
        ))
    })?;
    rows.collect()
}

const MATCH_COLUMNS: &str = "m.id, m.camera_id, c.name, m.recording_id, r.playback_uri, m.time_ms,
    m.distance, m.box_x, m.box_y, m.box_width, m.box_height, m.face_index";

fn match_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<MatchRow> {
    Ok(MatchRow {
        id: row.get(0)?,
        camera_id: row.get(1)?,
        camera_name: row.get(2)?,
        recording_id: row.get(3)?,
        playback_uri: row.get(4)?,
        time_ms: row.get(5)?,
        distance: row.get::<_, f64>(6)? as f32,
        face_box: [
            row.get::<_, f64>(7)? as f32,
            row.get::<_, f64>(8)? as f32,
            row.get::<_, f64>(9)? as f32,
            row.get::<_, f64>(10)? as f32,
        ],
        face_index: count(row.get(11)?),
    })
}

/// A task's matches in the order they were stored, after `after_id`.
pub(crate) fn matches(
    conn: &Connection,
    task: &str,
    after_id: i64,
    limit: u32,
) -> rusqlite::Result<Vec<MatchRow>> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {MATCH_COLUMNS} FROM matches m
         JOIN recordings r ON r.id = m.recording_id
         LEFT JOIN cameras c ON c.id = m.camera_id
         WHERE m.task_id = ?1 AND m.id > ?2 ORDER BY m.id LIMIT ?3"
    ))?;
    let rows = statement.query_map(params![task, after_id, limit], match_row)?;
    rows.collect()
}

pub(crate) fn match_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<MatchRow>> {
    conn.query_row(
        &format!(
            "SELECT {MATCH_COLUMNS} FROM matches m
             JOIN recordings r ON r.id = m.recording_id
             LEFT JOIN cameras c ON c.id = m.camera_id
             WHERE m.id = ?1"
        ),
        [id],
        match_row,
    )
    .optional()
}

/// What a camera's motion gates have learnt (JSON), if they have been saved.
pub(crate) fn motion_state(conn: &Connection, camera: i64) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT motion_state FROM cameras WHERE id = ?1",
        [camera],
        |row| row.get(0),
    )
    .optional()
    .map(Option::flatten)
}

/// Saves what a camera's motion gates have learnt (a camera deleted meanwhile: nothing).
pub(crate) fn save_motion_state(
    conn: &Connection,
    camera: i64,
    state: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE cameras SET motion_state = ?2 WHERE id = ?1",
        params![camera, state],
    )?;
    Ok(())
}
