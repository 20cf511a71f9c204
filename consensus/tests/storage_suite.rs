//! openraft's own storage conformance suite against the SQLite log and state machine.

mod common;

use corral_consensus::{ConfigStateMachine, RaftLogStore, StorageError, TypeConfig};
use openraft::testing::{StoreBuilder, Suite};

struct SqliteBuilder;

impl StoreBuilder<TypeConfig, RaftLogStore, ConfigStateMachine, tempfile::TempDir> for SqliteBuilder {
    async fn build(&self) -> Result<(tempfile::TempDir, RaftLogStore, ConfigStateMachine), StorageError> {
        let dir = tempfile::tempdir().unwrap();
        let db = common::database(dir.path()).await;
        Ok((dir, RaftLogStore::new(db.clone()), ConfigStateMachine::new(db)))
    }
}

#[test]
fn sqlite_store_passes_the_openraft_suite() {
    Suite::test_all(SqliteBuilder).unwrap();
}
