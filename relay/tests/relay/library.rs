//! The face library written straight to the relay's store: a person and photo rows holding
//! given embeddings, for tests that need someone to search for without enrolling photos
//! through the API (tests/relay/ and tests/uplink/ both include this file).

use protocol::search::WireEmbedding;
use relay::db::{Mode, Scope};
use uuid::Uuid;

use crate::harness::TestRelay;

/// Writes a person of `tenant` with one photo row per embedding, oldest first.
pub(crate) async fn add_person(
    relay: &TestRelay,
    tenant: Uuid,
    embeddings: &[WireEmbedding],
) -> Uuid {
    let person = Uuid::new_v4();
    let now = relay::db::now_ms();
    let mut tx = (relay.state.db)
        .begin(Scope::Tenant(tenant), Mode::Write)
        .await
        .expect("tx");
    sqlx::query(
        "INSERT INTO people (id, tenant_id, name, created_at, updated_at) \
         VALUES ($1, $2, 'Barack', $3, $3)",
    )
    .bind(person.to_string())
    .bind(tenant.to_string())
    .bind(now)
    .execute(&mut *tx)
    .await
    .expect("person");
    for (i, embedding) in embeddings.iter().enumerate() {
        let photo = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO face_photos (id, tenant_id, person_id, model, embedding, object_key, \
             content_type, bytes, face_box, score, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'image/jpeg', 1000, '[0,0,100,100]', 0.9, $7)",
        )
        .bind(photo.to_string())
        .bind(tenant.to_string())
        .bind(person.to_string())
        .bind(embedding.model.clone())
        .bind(embedding.vector.clone())
        .bind(format!("{tenant}/people/{person}/{photo}.jpg"))
        .bind(now + i64::try_from(i).expect("few photos"))
        .execute(&mut *tx)
        .await
        .expect("photo");
    }
    tx.commit().await.expect("commit");
    person
}
