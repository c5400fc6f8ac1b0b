//! The core scheduler pass over memory stores: a full batch is followed by another pass, each
//! secret is tried once per `run_due` (a secret refused before it starts stays due without
//! looping), orphaned schedules are removed only when asked, and the engine's clock is used.

use std::collections::HashMap;
use std::sync::Arc;

use rotation_core::{
    Engine, ErrorKind, GeneratorSpec, MemoryStateStore, MemoryStore, RotationId, RotationPolicy,
    ScheduleRecord, Scheduler, SecretBinding, SecretId, SecretPath, SecretStore, SecretValue,
    StateStore, TimingSpec,
};

async fn binding(store: &Arc<MemoryStore>, id: &str, verified: bool) -> SecretBinding {
    let path = SecretPath::new(id);
    store
        .write_current(
            &path,
            &RotationId::generate(),
            &SecretValue::from("seed"),
            None,
        )
        .await
        .expect("seed");
    let timing = TimingSpec {
        interval: Some("1d".into()),
        ..Default::default()
    }
    .build("p")
    .expect("timing");
    SecretBinding {
        id: SecretId::new(id),
        store: store.clone(),
        path,
        field: None,
        // The policy names a verifier the binding lacks: refused before anything changes.
        policy: Arc::new(if verified {
            RotationPolicy::builder("p")
                .require_verification(false)
                .build()
                .expect("policy")
        } else {
            RotationPolicy::builder("p")
                .verifiers(["missing"])
                .build()
                .expect("policy")
        }),
        generator: GeneratorSpec::default_random()
            .build("g")
            .expect("generator"),
        verifiers: Vec::new(),
        target: None,
        create_if_missing: false,
        timing: Some(Arc::new(timing)),
    }
}

#[tokio::test]
async fn full_batches_continue_and_a_refused_secret_is_tried_once() {
    let store = Arc::new(MemoryStore::new());
    let state = Arc::new(MemoryStateStore::new());
    let past = chrono::Utc::now() - chrono::Duration::hours(1);
    let mut bindings = HashMap::new();
    for (id, ok) in [
        ("a-refused", false),
        ("b", true),
        ("c", true),
        ("orphan", true),
    ] {
        let b = binding(&store, id, ok).await;
        state
            .put_schedule(&ScheduleRecord::new(b.id.clone(), "p", "s", Some(past)))
            .await
            .expect("schedule");
        if id != "orphan" {
            bindings.insert(b.id.clone(), b);
        }
    }
    let engine = Engine::builder().state(state.clone()).build();
    let keep = Scheduler::builder(engine.clone(), Arc::new(bindings.clone()))
        .batch(1)
        .remove_orphans(false)
        .build();
    let results = keep.run_due(|_| {}).await.expect("run");
    let ids: Vec<&str> = results.iter().map(|r| r.secret.as_str()).collect();
    assert_eq!(
        ids,
        ["a-refused"],
        "a batch of one, first refused: stops, no loop"
    );
    assert_eq!(results[0].error_kind, Some(ErrorKind::InvalidConfig));

    let all = Scheduler::builder(engine, Arc::new(bindings))
        .batch(2)
        .remove_orphans(false)
        .build();
    let results = all.run_due(|_| {}).await.expect("run");
    let ids: Vec<&str> = results.iter().map(|r| r.secret.as_str()).collect();
    assert_eq!(
        ids,
        ["a-refused", "b", "c"],
        "full batches continue; each once"
    );
    assert!(results[1].success && results[2].success);
    assert!(
        state
            .schedule(&SecretId::new("orphan"))
            .await
            .expect("read")
            .is_some(),
        "kept when orphans are not removed"
    );
}
