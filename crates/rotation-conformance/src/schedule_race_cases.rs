//! Races on one schedule through the real engine: an operator's `pause`/`resume` against
//! rotations finishing at the same moment. The state store must apply each schedule change
//! atomically ([`StateStore::update_schedule`]), so the operator's change is never undone by the
//! rotation moving the schedule (the lost update ADR 0006 used to accept).

use std::sync::Arc;
use std::time::Duration;

use rotation_core::{
    Engine, GeneratorSpec, MemoryStore, RotateRequest, RotationId, RotationPolicy, ScheduleChange,
    ScheduleRecord, SecretBinding, SecretId, SecretPath, SecretStore, SecretValue, StateStore,
    TimingSpec,
};

/// Pause/resume calls, each racing one finishing rotation.
const ROUNDS: u32 = 200;

/// 200 `pause`/`resume` calls, each racing a finishing rotation of the same secret: after each
/// round the schedule shows the operator's change and the rotation counted.
pub async fn pause_racing_finished_rotations_is_never_lost(state: Arc<dyn StateStore>) {
    let n: u64 = rand::random();
    let id = SecretId::new(format!("race-{n:016x}"));
    let path = SecretPath::new(id.as_str());
    let store = Arc::new(MemoryStore::new());
    store
        .write_current(
            &path,
            &RotationId::generate(),
            &SecretValue::from("seed"),
            None,
        )
        .await
        .expect("seed");
    let timing = Arc::new(
        TimingSpec {
            interval: Some("1d".into()),
            ..Default::default()
        }
        .build("race")
        .expect("timing"),
    );
    let policy = RotationPolicy::builder("race")
        .require_verification(false)
        .build()
        .expect("policy");
    let binding = SecretBinding {
        id: id.clone(),
        store: store.clone(),
        path,
        field: None,
        policy: Arc::new(policy),
        generator: GeneratorSpec::default_random()
            .build("race")
            .expect("generator"),
        verifiers: Vec::new(),
        target: None,
        create_if_missing: false,
        timing: Some(timing.clone()),
    };
    let next = timing.next_after(&id, chrono::Utc::now());
    state
        .put_schedule(&ScheduleRecord::new(id.clone(), "race", "every 1d", next))
        .await
        .expect("schedule");
    let engine = Engine::builder()
        .state(state.clone())
        .lease_ttl(Duration::from_secs(30))
        .build();
    for round in 0..ROUNDS {
        let pause = round % 2 == 0;
        let change = if pause {
            ScheduleChange::Pause
        } else {
            ScheduleChange::Resume
        };
        let rotation = {
            let (engine, binding) = (engine.clone(), binding.clone());
            tokio::spawn(async move { engine.rotate(&binding, RotateRequest::default()).await })
        };
        let operator = {
            let (state, id) = (state.clone(), id.clone());
            tokio::spawn(async move { state.update_schedule(&id, &change).await })
        };
        let (rotated, changed) = tokio::join!(rotation, operator);
        let rotated = rotated.expect("rotation task");
        assert!(rotated.success, "round {round}: {:?}", rotated.error);
        changed
            .expect("operator task")
            .expect("update")
            .expect("schedule exists");
        let record = state.schedule(&id).await.expect("read").expect("schedule");
        assert_eq!(
            record.paused,
            pause,
            "round {round}: the operator's {} was lost to a finishing rotation",
            if pause { "pause" } else { "resume" }
        );
        assert_eq!(record.rotation_count, u64::from(round) + 1, "round {round}");
    }
}
