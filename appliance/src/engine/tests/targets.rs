//! A task that looks for several embeddings of its target (a remote search carries every
//! photo of the person in the relay's face library): a face near any of them matches, once,
//! at its best distance; over footage indexed for the task, footage background indexing
//! covered, and after a restart.

use std::collections::BTreeMap;
use std::time::Duration;

use pipeline::faces::Embedding;

use super::{TaskRequest, TaskState};
use crate::engine::{
    Engine,
    request::{EmbeddingBody, Target},
    store,
};

/// A face the box saw: its recording, keyframe time and place in the keyframe.
type Face = (i64, i64, u64);

/// The test photos' embeddings, by the engine's own face models.
async fn embeddings_of(engine: &Engine, names: &[&str]) -> Vec<Embedding> {
    let mut embeddings = Vec::new();
    for name in names {
        let photo = std::fs::read(super::cached(&format!("faces/{name}"))).expect("photo");
        let indexer = &engine.inner.searches.indexer;
        embeddings.push(indexer.embed_photo(photo).await.expect("embedding"));
    }
    embeddings
}

fn body(embedding: &Embedding) -> EmbeddingBody {
    EmbeddingBody {
        model: embedding.model().id().to_owned(),
        values: embedding.vector().to_vec(),
    }
}

/// Every match of the task, by face, with its distance; no face twice.
async fn matches_by_face(engine: &Engine, id: &str) -> BTreeMap<Face, f32> {
    let rows = engine.matches(id, 0, 10_000).await.expect("matches");
    let by_face: BTreeMap<Face, f32> = rows
        .iter()
        .map(|m| ((m.recording_id, m.time_ms, m.face_index), m.distance))
        .collect();
    assert_eq!(by_face.len(), rows.len(), "a face reported twice: {rows:?}");
    by_face
}

/// Runs a task for `targets` over `span` of the camera to its end: its matches by face.
async fn search(
    engine: &Engine,
    camera: i64,
    span: (jiff::Timestamp, jiff::Timestamp),
    targets: &[&Embedding],
) -> BTreeMap<Face, f32> {
    let task = TaskRequest {
        embedding: Some(body(targets[0])),
        more_embeddings: targets[1..].iter().map(|e| body(e)).collect(),
        ..super::request(camera, span.0, span.1)
    };
    let id = engine.create_task(task).await.expect("created");
    let done = super::finished(engine, &id).await;
    assert_eq!(done.task.state, TaskState::Done, "{done:?}");
    matches_by_face(engine, &id).await
}

/// The faces of either, each at the smaller of its distances.
fn best_of(a: &BTreeMap<Face, f32>, b: &BTreeMap<Face, f32>) -> BTreeMap<Face, f32> {
    let mut best = a.clone();
    for (face, &distance) in b {
        best.entry(*face)
            .and_modify(|d| *d = d.min(distance))
            .or_insert(distance);
    }
    best
}

/// Every face's keyframe lies within `seconds` of the recording starting at `start`.
fn assert_seen_within(faces: &BTreeMap<Face, f32>, start: jiff::Timestamp, seconds: (i64, i64)) {
    let start = start.as_millisecond();
    let span = (start + seconds.0 * 1_000)..=(start + seconds.1 * 1_000);
    for face in faces.keys() {
        assert!(span.contains(&face.1), "{face:?} outside {span:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_embeddings_find_faces_of_any_each_once_at_the_best_distance() {
    // The clip shows Obama (obama2.jpg) at 10-16 s and Biden at 34-40 s.
    let setup = super::setup(Some((1439, "cam1_h264.ps"))).await;
    let (sim, engine, camera) = (&setup.sim, &setup.engine, setup.camera);
    let (start, stop) = sim.recording_span(0, 101, 1439).expect("span");
    let span = (start + jiff::SignedDuration::from_secs(1), stop);
    let people = [
        "obama.jpg",
        "obama2.jpg",
        "obama3.jpg",
        "biden.jpg",
        "newton.png",
    ];
    let embeddings = embeddings_of(engine, &people).await;
    let [obama, obama2, obama3, biden, newton] = &embeddings[..] else {
        panic!("five embeddings");
    };

    let obama_alone = search(engine, camera, span, &[obama]).await;
    let biden_alone = search(engine, camera, span, &[biden]).await;
    assert!(!obama_alone.is_empty() && !biden_alone.is_empty());
    // Two keyframes a second apart from the appearances' edges, for decoding's rounding.
    assert_seen_within(&obama_alone, start, (9, 17));
    assert_seen_within(&biden_alone, start, (33, 41));
    assert_eq!(
        sim.stats(0).downloads_started,
        1,
        "indexed once, then only searched"
    );

    // Two people: the faces of either, each once.
    let two_people = search(engine, camera, span, &[obama, biden]).await;
    assert_eq!(two_people, best_of(&obama_alone, &biden_alone));

    // Three photos of one person: every face once, at the nearest photo's distance. The
    // clip was made from obama2.jpg, nearer than the others to each of its faces; obama3.jpg
    // finds fewer of them.
    let second = search(engine, camera, span, &[obama2]).await;
    let third = search(engine, camera, span, &[obama3]).await;
    assert!(!third.is_empty());
    let all_photos = search(engine, camera, span, &[obama3, obama, obama2]).await;
    let best = best_of(&best_of(&obama_alone, &second), &third);
    assert_eq!(all_photos, best);
    let improved = best
        .iter()
        .filter(|(face, d)| obama_alone.get(face) != Some(d))
        .count();
    assert!(
        improved > 0,
        "no photo is nearer than obama.jpg to any face, so this checks no best distance: \
         {obama_alone:?} {second:?} {third:?}"
    );

    // The target beside someone who is not in the footage: the target's matches, as alone.
    let with_stranger = search(engine, camera, span, &[obama, newton]).await;
    assert_eq!(with_stranger, obama_alone);
}

/// A task stored with several embeddings by an earlier run resumes with all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_resumed_after_a_restart_keeps_all_its_embeddings() {
    let super::Setup {
        sim,
        engine: first,
        camera,
        _dir: dir,
    } = super::setup(Some((1439, "cam1_h264.ps"))).await;
    let engine = &first;
    let (start, stop) = sim.recording_span(0, 101, 1439).expect("span");
    let span = (start + jiff::SignedDuration::from_secs(1), stop);
    let embeddings = embeddings_of(engine, &["obama.jpg", "biden.jpg"]).await;
    let [obama, biden] = &embeddings[..] else {
        panic!("two embeddings");
    };
    let obama_alone = search(engine, camera, span, &[obama]).await;
    let biden_alone = search(engine, camera, span, &[biden]).await;

    // Stored, not started: as a task the daemon held when it stopped.
    let request = TaskRequest {
        embedding: Some(body(obama)),
        more_embeddings: vec![body(biden)],
        ..super::request(camera, span.0, span.1)
    };
    let distance = engine.inner.searches.config.match_distance;
    let stored = request.validate(distance, obama.model()).expect("valid");
    let Target::Embeddings(given) = stored.target.clone() else {
        panic!("embeddings");
    };
    assert_eq!(given.len(), 2);
    let id = uuid::Uuid::new_v4().to_string();
    let task_id = id.clone();
    engine
        .db()
        .write(move |tx| Ok(store::insert_task(tx, &task_id, &stored, store::now_ms())?))
        .await
        .expect("stored");
    first.shutdown(Duration::from_secs(5)).await;
    drop(first);

    let again = super::engine(dir.path());
    assert_eq!(again.resume().await.expect("resumed"), 1);
    let done = super::finished(&again, &id).await;
    assert_eq!(done.task.state, TaskState::Done, "{done:?}");
    assert_eq!(
        matches_by_face(&again, &id).await,
        best_of(&obama_alone, &biden_alone)
    );
    let read = id.clone();
    let embeddings = again
        .db()
        .read(move |c| Ok(store::task_embeddings(c, &read)?))
        .await
        .expect("read");
    assert_eq!(embeddings, given, "read back as stored, in order");
}
