//! The frontend: the routes the load generator drives. Everything but `/` is forwarded to
//! the api-gateway.
//!
//! `GET /` · `GET /products` · `GET /products/{id}` · `POST /checkout` · `GET /account/{id}`

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
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
];

pub(crate) fn routes() -> Router<Arc<ServiceCtx>> {
    Router::new()
        .route("/", get(home))
        .route("/products", get(products))
        .route("/products/{id}", get(product))
        .route("/checkout", post(checkout))
        .route("/account/{id}", get(account))
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
    let path = format!("/api/users/{id}");
    forward(
        &ctx,
        &cx,
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
