//! Extractors whose rejections are the API's JSON errors and say what was wrong: a body that
//! does not match the schema is a `422` naming the field (`secret_ids[2]: invalid type: ...`,
//! `missing field `severity``), malformed JSON a `400` with the position, a bad query
//! parameter a `400` naming it. The detail quotes only what the client sent.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;

use crate::error::ApiError;

/// A JSON body (`Content-Type: application/json`) deserialized into `T`.
#[derive(Debug)]
pub struct Body<T>(pub T);

/// Query parameters deserialized into `T`.
#[derive(Debug)]
pub struct Params<T>(pub T);

/// The text of the rejection's cause (serde's message with the field path in front, from
/// axum's `serde_path_to_error`), without axum's generic prefix.
fn cause(rejection: &dyn std::error::Error) -> String {
    rejection
        .source()
        .map_or_else(|| rejection.to_string(), ToString::to_string)
}

/// The API error for a rejected JSON body.
pub fn json_rejection(rejection: &JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            format!("the body does not match the schema: {}", cause(e)),
        ),
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::bad_request(format!("the body is not valid JSON: {}", cause(e)))
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send Content-Type: application/json",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the body is too large (server.body_limit)",
        ),
        other => ApiError::new(other.status(), "bad_request", "the body could not be read"),
    }
}

impl<S, T> FromRequest<S> for Body<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

impl<S, T> FromRequestParts<S> for Params<T>
where
    Query<T>: FromRequestParts<S, Rejection = QueryRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Params(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::bad_request(
                format!("bad query parameter: {}", cause(&e)),
            )),
            Err(other) => Err(ApiError::bad_request(other.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body as HttpBody;
    use axum::response::IntoResponse;
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)] // only deserialized
    struct Shape {
        reason: String,
        ids: Vec<String>,
    }

    async fn rejected(body: &str) -> (StatusCode, String) {
        let req = Request::builder()
            .method("POST")
            .header("content-type", "application/json")
            .body(HttpBody::from(body.to_owned()))
            .expect("request");
        let err = Body::<Shape>::from_request(req, &())
            .await
            .expect_err("rejected");
        let response = err.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        (
            status,
            v["error"]["message"].as_str().unwrap_or("").to_owned(),
        )
    }

    #[tokio::test]
    async fn rejections_name_the_field() {
        let (status, message) = rejected(r#"{"reason": "x", "ids": ["a", "b", 3]}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            message.contains("ids[2]: invalid type: integer `3`"),
            "{message}"
        );
        let (status, message) = rejected(r#"{"ids": []}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(message.contains("missing field `reason`"), "{message}");
        let (status, message) = rejected("{not json").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(message.contains("line 1 column"), "{message}");
    }
}
