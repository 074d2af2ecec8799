//! The frontend: the routes the load generator drives. Everything but `/` is forwarded to
//! the api-gateway.
//!
//! `GET /` · `GET /products` · `GET /products/{id}` · `POST /checkout` · `GET /account/{id}`
//!
//! Sessions, for closed-model load (`load.model: closed`): `POST /login` with `{"user_id"}`
//! looks the user up and answers with a `gauntlet_session` cookie; `GET /account` answers the
//! session's own account and 401 without a valid cookie. The cookie carries the user id in
//! clear: it shows that a client keeps and sends its cookies, it is not authentication.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use reqwest::Method;

use super::config::ServiceName;
use super::server::{
    AppError, Cx, RequestCx, RouteDef, ServiceCtx, json_body, json_value, route_def,
};
use super::shop::{CheckoutRequest, reply_json};

pub(crate) const ROUTES: &[RouteDef] = &[
    route_def!("GET" "/"),
    route_def!("GET" "/products"),
    route_def!("GET" "/products/{id}"),
    route_def!("POST" "/checkout"),
    route_def!("GET" "/account/{id}"),
    route_def!("POST" "/login"),
    route_def!("GET" "/account"),
];

/// The session cookie `POST /login` sets and `GET /account` reads.
pub const SESSION_COOKIE: &str = "gauntlet_session";

pub(crate) fn routes() -> Router<Arc<ServiceCtx>> {
    Router::new()
        .route("/", get(home))
        .route("/products", get(products))
        .route("/products/{id}", get(product))
        .route("/checkout", post(checkout))
        .route("/account/{id}", get(account))
        .route("/login", post(login))
        .route("/account", get(session_account))
}

async fn home() -> Html<&'static str> {
    Html("<!doctype html><title>gauntlet shop</title><h1>gauntlet sample shop</h1>")
}

/// Every route but `/` is the api-gateway's answer.
async fn forward(
    ctx: &ServiceCtx,
    cx: &RequestCx,
    method: Method,
    span: &'static str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<Response, AppError> {
    ctx.call(cx, ServiceName::ApiGateway, method, span, path, body)
        .await
        .map(reply_json)
}
async fn products(
    State(ctx): State<Arc<ServiceCtx>>,
    axum::Extension(cx): Cx,
) -> Result<Response, AppError> {
    forward(
        &ctx,
        &cx,
        Method::GET,
        "GET api-gateway /api/products",
        "/api/products",
        None,
    )
    .await
}

async fn product(
    State(ctx): State<Arc<ServiceCtx>>,
    axum::Extension(cx): Cx,
    Path(id): Path<u64>,
) -> Result<Response, AppError> {
    let path = format!("/api/products/{id}");
    forward(
        &ctx,
        &cx,
        Method::GET,
        "GET api-gateway /api/products/{id}",
        &path,
        None,
    )
    .await
}

async fn account(
    State(ctx): State<Arc<ServiceCtx>>,
    axum::Extension(cx): Cx,
    Path(id): Path<u64>,
) -> Result<Response, AppError> {
    user_account(&ctx, &cx, id).await
}

/// The api-gateway's answer for user `id`.
async fn user_account(ctx: &ServiceCtx, cx: &RequestCx, id: u64) -> Result<Response, AppError> {
    let path = format!("/api/users/{id}");
    forward(
        ctx,
        cx,
        Method::GET,
        "GET api-gateway /api/users/{id}",
        &path,
        None,
    )
    .await
}

async fn checkout(
    State(ctx): State<Arc<ServiceCtx>>,
    axum::Extension(cx): Cx,
    body: Bytes,
) -> Result<Response, AppError> {
    let req: CheckoutRequest = json_body(&body, "checkout")?;
    let value = json_value(req)?;
    forward(
        &ctx,
        &cx,
        Method::POST,
        "POST api-gateway /api/checkout",
        "/api/checkout",
        Some(&value),
    )
    .await
}

#[derive(serde::Deserialize)]
struct LoginRequest {
    user_id: u64,
}

/// Looks the user up through the api-gateway and, if it exists, starts a session.
async fn login(
    State(ctx): State<Arc<ServiceCtx>>,
    axum::Extension(cx): Cx,
    body: Bytes,
) -> Result<Response, AppError> {
    let req: LoginRequest = json_body(&body, "login")?;
    let mut resp = user_account(&ctx, &cx, req.user_id).await?;
    let cookie = format!("{SESSION_COOKIE}={}; Path=/; HttpOnly", req.user_id);
    let value = HeaderValue::from_str(&cookie)
        .map_err(|e| AppError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    resp.headers_mut().insert(SET_COOKIE, value);
    Ok(resp)
}

/// The session's own account; 401 without a session cookie.
async fn session_account(
    State(ctx): State<Arc<ServiceCtx>>,
    axum::Extension(cx): Cx,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let id = session_user(&headers).ok_or_else(|| {
        AppError::new(
            StatusCode::UNAUTHORIZED,
            format!("no {SESSION_COOKIE} cookie: log in first (POST /login)"),
        )
    })?;
    user_account(&ctx, &cx, id).await
}

/// The user id of the request's session cookie, if it has a well-formed one.
fn session_user(headers: &HeaderMap) -> Option<u64> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .and_then(|(_, value)| value.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        assert_eq!(session_user(&h), None);
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; gauntlet_session=42; b=2"),
        );
        assert_eq!(session_user(&h), Some(42));
        h.insert(COOKIE, HeaderValue::from_static("gauntlet_session=x"));
        assert_eq!(session_user(&h), None);
    }
}
