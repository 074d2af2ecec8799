//! The frontend: the routes the load generator drives. Everything but `/` is forwarded to
//! the api-gateway.
//!
//! `GET /` · `GET /products` · `GET /products/{id}` · `POST /checkout` · `GET /account/{id}`

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use reqwest::Method;

use super::config::ServiceName;
use super::server::{AppError, Cx, RequestCx, RouteDef, ServiceCtx};
use super::shop::{CheckoutRequest, reply_json};

pub(crate) const ROUTES: &[RouteDef] = &[
    RouteDef {
        method: "GET",
        template: "/",
        span_name: "GET /",
    },
    RouteDef {
        method: "GET",
        template: "/products",
        span_name: "GET /products",
    },
    RouteDef {
        method: "GET",
        template: "/products/{id}",
        span_name: "GET /products/{id}",
    },
    RouteDef {
        method: "POST",
        template: "/checkout",
        span_name: "POST /checkout",
    },
    RouteDef {
        method: "GET",
        template: "/account/{id}",
        span_name: "GET /account/{id}",
    },
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

async fn forward(
    ctx: &ServiceCtx,
    cx: &RequestCx,
    method: Method,
    span: &'static str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<Response, AppError> {
    let reply = ctx
        .upstreams
        .call(
            &ctx.telemetry,
            &ctx.faults,
            &cx.0,
            ServiceName::ApiGateway,
            method,
            span,
            path,
            body,
        )
        .await?;
    Ok(reply_json(reply))
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
    let req: CheckoutRequest = serde_json::from_slice(&body)
        .map_err(|e| AppError::new(StatusCode::BAD_REQUEST, format!("invalid checkout: {e}")))?;
    let value = serde_json::to_value(req)
        .map_err(|e| AppError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
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
