//! `/storage[/{storage}]`: the storage configuration (PVE's `storage.cfg`), cluster-wide.
//! Adding an NFS storage reaches the server first (mount + directory layout, under a deadline)
//! and writes nothing when that fails, as PVE does.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use corral_api_types::storage::{StorageConfig, StorageType};
use corral_storage::config::{self, StorageParams};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::params::{optional, required, Kind, Prop, RawParams};
use crate::auth::{Authenticated, Privilege};
use crate::state::AppState;
use crate::storage::{self, StorageStoreError};

impl From<StorageStoreError> for ApiError {
    fn from(err: StorageStoreError) -> Self {
        match err {
            StorageStoreError::NotFound(_) => ApiError::param("storage", "No such storage."),
            StorageStoreError::Cluster(err) => err.into(),
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}

const STR: Kind = Kind::Str { max_len: 4096 };

const COMMON: &[Prop] = &[
    optional("content", Kind::Str { max_len: 256 }),
    optional("options", Kind::Str { max_len: 1024 }),
    optional("nodes", Kind::Str { max_len: 4096 }),
    optional("disable", Kind::Bool),
    optional("shared", Kind::Bool),
    optional("prune-backups", Kind::Str { max_len: 256 }),
    optional("format", Kind::Str { max_len: 16 }),
];

fn create_schema() -> Vec<Prop> {
    let mut schema = vec![
        required("storage", Kind::Str { max_len: 64 }),
        required("type", Kind::Enum(&["dir", "nfs"])),
        optional("path", STR),
        optional("server", Kind::Str { max_len: 256 }),
        optional("export", STR),
    ];
    schema.extend_from_slice(COMMON);
    schema
}

fn update_schema() -> Vec<Prop> {
    let mut schema = vec![optional("digest", Kind::Str { max_len: 64 }), optional("delete", Kind::Str { max_len: 1024 })];
    schema.extend_from_slice(COMMON);
    // Fixed keys are accepted by the schema so the answer can say they are fixed.
    schema.extend([optional("path", STR), optional("server", Kind::Str { max_len: 256 }), optional("export", STR)]);
    schema
}

#[derive(Deserialize)]
struct UpdateParams {
    #[serde(flatten)]
    changes: StorageParams,
    digest: Option<String>,
    delete: Option<String>,
}

/// `GET /storage`: every storage (Datastore.Audit per storage), each with the configuration's digest.
pub async fn list(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    #[derive(Deserialize)]
    struct Query {
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    let query: Query = params.check(&[optional("type", Kind::Enum(&["dir", "nfs"]))])?;
    let all = storage::list(&state.db).await?;
    let digest = storage::digest(&all);
    let out: Vec<StorageConfig> = all
        .into_iter()
        .filter(|c| query.kind.as_deref().is_none_or(|k| k == c.kind.as_str()))
        .filter(|c| auth.require(Privilege::DatastoreAudit, &format!("/storage/{}", c.storage)).is_ok())
        .map(|c| shown(&state, c, &digest))
        .collect();
    Ok(super::data(out))
}

/// What the API shows: the digest, `shared` as the type implies it, `local`'s path on this node.
fn shown(state: &AppState, mut config: StorageConfig, digest: &str) -> StorageConfig {
    config.digest = Some(digest.to_string());
    config.shared = config.is_shared();
    if config.kind == StorageType::Dir && config.path.is_none() {
        config.path = Some(state.storage.registry.dir_path(&config).to_string_lossy().into_owned());
    }
    config
}

/// `GET /storage/{storage}`.
pub async fn read(auth: Authenticated, State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    auth.require(Privilege::DatastoreAudit, &format!("/storage/{id}"))?;
    let config = storage::get(&state.db, &id).await?;
    let digest = storage::digest(&storage::list(&state.db).await?);
    Ok(super::data(shown(&state, config, &digest)))
}

/// `POST /storage` (Datastore.Allocate on /storage): check the storage is reachable, then save.
pub async fn create(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    let p: StorageParams = params.check(&create_schema())?;
    auth.require(Privilege::DatastoreAllocate, "/storage")?;
    let config = config::build_new(&p).map_err(ApiError::params)?;
    let failed = |why: String| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("create storage failed: {why}"));
    if storage::get(&state.db, config.storage.as_str()).await.is_ok() {
        return Err(failed(StorageStoreError::Exists(config.storage.clone()).to_string()));
    }
    state.require_quorum().await?;
    if !config.disable && config.applies_to(state.node.as_str()) {
        state.storage.registry.probe(&config).activate(&config).await.map_err(|e| failed(e.to_string()))?;
    }
    storage::create(&state.cluster, &config).await.map_err(|e| match e {
        StorageStoreError::Cluster(c) => ApiError::from(c),
        other => failed(other.to_string()),
    })?;
    state.storage.wake();
    crate::cluster_log::append(&state, crate::cluster_log::PRI_INFO, "storage", auth.userid.as_str(), &format!("added storage '{}' ({})", config.storage, config.target())).await;
    Ok(super::data(json!({ "storage": config.storage, "type": config.kind })))
}

/// `PUT /storage/{storage}` (Datastore.Allocate on /storage/{storage}).
pub async fn update(auth: Authenticated, State(state): State<AppState>, Path(id): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    let p: UpdateParams = params.check(&update_schema())?;
    auth.require(Privilege::DatastoreAllocate, &format!("/storage/{id}"))?;
    let old = storage::get(&state.db, &id).await?;
    if let Some(digest) = &p.digest {
        if *digest != storage::digest(&storage::list(&state.db).await?) {
            return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "detected modified configuration - file changed by other user? Try again."));
        }
    }
    let delete: Vec<String> = p.delete.unwrap_or_default().split([',', ' ', ';']).filter(|s| !s.is_empty()).map(String::from).collect();
    let new = config::apply_update(&old, &p.changes, &delete).map_err(ApiError::params)?;
    state.require_quorum().await?;
    storage::update(&state.cluster, &old, &new).await?;
    state.storage.wake();
    Ok(super::data(json!({ "storage": new.storage, "type": new.kind })))
}

/// `DELETE /storage/{storage}` (Datastore.Allocate): refused while a guest's disk lives there.
pub async fn remove(auth: Authenticated, State(state): State<AppState>, Path(id): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    auth.require(Privilege::DatastoreAllocate, &format!("/storage/{id}"))?;
    let old = storage::get(&state.db, &id).await?;
    let users = crate::guests::using_storage(&state.db, old.storage.as_str()).await?;
    if !users.is_empty() {
        let list = users.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ");
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("storage '{id}' is still used by guests (VMID {list}); move or remove their disks first")));
    }
    state.require_quorum().await?;
    storage::remove(&state.cluster, &old).await?;
    state.storage.wake();
    crate::cluster_log::append(&state, crate::cluster_log::PRI_INFO, "storage", auth.userid.as_str(), &format!("removed storage '{id}'")).await;
    Ok(super::data(Value::Null))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(list).post(create)).route("/{storage}", get(read).put(update).delete(remove))
}
