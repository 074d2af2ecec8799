//! The users service: `GET /users/{id}` (ids 1..=1000 exist).

use std::sync::Arc;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

use super::server::{AppError, RouteDef, ServiceCtx, route_def};
use super::shop::{User, user};

pub(crate) const ROUTES: &[RouteDef] = &[route_def!("GET" "/users/{id}")];

pub(crate) fn routes() -> Router<Arc<ServiceCtx>> {
    Router::new().route("/users/{id}", get(get_user))
}

async fn get_user(Path(id): Path<u64>) -> Result<Json<User>, AppError> {
    user(id)
        .map(Json)
        .ok_or_else(|| AppError::new(StatusCode::NOT_FOUND, format!("no user {id}")))
}
