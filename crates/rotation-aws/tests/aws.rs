//! Secrets Manager behaviour against moto: a competing `put-secret-value`, a foreign AWSPENDING,
//! binary secrets, a secret scheduled for deletion, and the AWS-native rotation advisory.

use std::sync::Arc;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::primitives::Blob;
use rotation_aws::AwsStore;
use rotation_conformance::support::{ScriptedVerifier, binding};
use rotation_core::{
    Engine, ErrorKind, RotateRequest, RotationId, RotationStrategy, SecretPath, SecretStore,
    SecretValue,
};
use rotation_testkit::{Moto, unique};
use tokio::sync::Notify;

async fn setup() -> (Client, Arc<AwsStore>) {
    let moto = Moto::from_env();
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&moto.endpoint)
        .load()
        .await;
    let store = AwsStore::builder()
        .endpoint_url(&moto.endpoint)
        .region("us-east-1")
        .build()
        .expect("store");
    (Client::new(&conf), Arc::new(store))
}

async fn create(client: &Client, value: &str) -> String {
    let name = unique("aws-secret");
    client
        .create_secret()
        .name(&name)
        .secret_string(value)
        .send()
        .await
        .expect("create");
    name
}

async fn current(client: &Client, name: &str) -> String {
    let out = client
        .get_secret_value()
        .secret_id(name)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .expect("get");
    out.secret_string().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_competing_put_between_read_and_promote_is_a_conflict() {
    let (client, store) = setup().await;
    let name = create(&client, "old").await;
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let b = binding(
        store.clone(),
        SecretPath::new(&name),
        RotationStrategy::Staged,
        true,
        ScriptedVerifier::holding(entered.clone(), release.clone()),
    );
    let task = tokio::spawn(async move {
        Engine::builder()
            .build()
            .rotate(&b, RotateRequest::default())
            .await
    });
    entered.notified().await;
    client
        .put_secret_value()
        .secret_id(&name)
        .secret_string("by-hand")
        .send()
        .await
        .expect("competing put");
    release.notify_one();
    let r = task.await.expect("join");
    assert_eq!(r.error_kind, Some(ErrorKind::Conflict), "{r:?}");
    assert_eq!(current(&client, &name).await, "by-hand");
    let desc = client
        .describe_secret()
        .secret_id(&name)
        .send()
        .await
        .expect("describe");
    let pending = desc
        .version_ids_to_stages()
        .into_iter()
        .flatten()
        .filter(|(_, s)| s.iter().any(|s| s == "AWSPENDING"))
        .count();
    assert_eq!(pending, 0, "our AWSPENDING was removed");
}

#[tokio::test]
async fn a_foreign_awspending_is_refused_naming_the_version() {
    let (client, store) = setup().await;
    let name = create(&client, "old").await;
    let foreign = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
    client
        .put_secret_value()
        .secret_id(&name)
        .client_request_token(foreign)
        .secret_string("lambda-pending")
        .version_stages("AWSPENDING")
        .send()
        .await
        .expect("foreign pending");
    let b = binding(
        store.clone(),
        SecretPath::new(&name),
        RotationStrategy::Staged,
        true,
        ScriptedVerifier::passing(),
    );
    let r = Engine::builder()
        .build()
        .rotate(&b, RotateRequest::default())
        .await;
    assert_eq!(r.error_kind, Some(ErrorKind::InProgress), "{r:?}");
    assert!(
        r.error.as_deref().unwrap_or_default().contains(foreign),
        "{r:?}"
    );
    assert_eq!(current(&client, &name).await, "old");
}

#[tokio::test]
async fn binary_secrets_stay_binary() {
    let (client, store) = setup().await;
    let name = unique("aws-binary");
    let bytes: Vec<u8> = (0u8..=255).collect();
    client
        .create_secret()
        .name(&name)
        .secret_binary(Blob::new(bytes.clone()))
        .send()
        .await
        .expect("create");
    let path = SecretPath::new(&name);
    assert_eq!(
        store
            .read_current(&path)
            .await
            .expect("read")
            .value
            .expose(),
        &bytes[..]
    );
    let b = binding(
        store.clone(),
        path.clone(),
        RotationStrategy::Staged,
        true,
        ScriptedVerifier::passing(),
    );
    assert!(
        Engine::builder()
            .build()
            .rotate(&b, RotateRequest::default())
            .await
            .success
    );
    let out = client
        .get_secret_value()
        .secret_id(&name)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .expect("get");
    assert!(
        out.secret_binary().is_some() && out.secret_string().is_none(),
        "still a SecretBinary"
    );
    let prev = store
        .read_previous(&path)
        .await
        .expect("previous")
        .expect("some");
    assert_eq!(prev.value.expose(), &bytes[..]);
}

#[tokio::test]
async fn a_secret_scheduled_for_deletion_is_a_clear_error() {
    let (client, store) = setup().await;
    let name = create(&client, "old").await;
    client
        .delete_secret()
        .secret_id(&name)
        .recovery_window_in_days(7)
        .send()
        .await
        .expect("delete");
    let err = store
        .stage(
            &SecretPath::new(&name),
            &RotationId::generate(),
            &SecretValue::from("new"),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("scheduled for deletion"), "{err}");
}

#[tokio::test]
async fn native_rotation_is_reported_as_an_advisory() {
    let (client, store) = setup().await;
    let name = create(&client, "old").await;
    assert!(
        store
            .advisories(&SecretPath::new(&name))
            .await
            .expect("advisories")
            .is_empty()
    );
    // moto records the rotation settings even though it cannot run the Lambda.
    let _ = client
        .rotate_secret()
        .secret_id(&name)
        .rotation_lambda_arn("arn:aws:lambda:us-east-1:123456789012:function:rotator")
        .rotate_immediately(false)
        .send()
        .await;
    let advisories = store
        .advisories(&SecretPath::new(&name))
        .await
        .expect("advisories");
    assert_eq!(advisories.len(), 1, "{advisories:?}");
    assert!(
        advisories[0].contains("AWS-native rotation"),
        "{advisories:?}"
    );
}
