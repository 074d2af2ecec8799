//! The api-gateway: forwards reads to users and products, and orchestrates checkout
//! (validate the user and fetch the price concurrently, then create the order).
//!
//! `GET /api/products` · `GET /api/products/{id}` · `GET /api/users/{id}` ·
//! `POST /api/checkout`

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use bytes::Bytes;
use reqwest::Method;

use super::config::ServiceName;
use super::server::{AppError, Cx, RouteDef, ServiceCtx};
use super::shop::{CheckoutRequest, MAX_QUANTITY, OrderRequest, Product, reply_json};

pub(crate) const ROUTES: &[RouteDef] = &[
    RouteDef {
        method: "GET",
        template: "/api/products",
        span_name: "GET /api/products",
    },
    RouteDef {
        method: "GET",
        template: "/api/products/{id}",
        span_name: "GET /api/products/{id}",
    },
    RouteDef {
        method: "GET",
        template: "/api/users/{id}",
        span_name: "GET /api/users/{id}",
    },
    RouteDef {
        method: "POST",
        template: "/api/checkout",
        span_name: "POST /api/checkout",
    },
];

pub(crate) fn routes() -> Router<Arc<ServiceCtx>> {
    Router::new()
        .route("/api/products", get(products))
        .route("/api/products/{id}", get(product))
        .route("/api/users/{id}", get(user))
        .route("/api/checkout", post(checkout))
}

async fn products(
    State(ctx): State<Arc<ServiceCtx>>,
    axum::Extension(cx): Cx,
) -> Result<Response, AppError> {
    let r = ctx
        .upstreams
        .call(
            &ctx.telemetry,
            &ctx.faults,
            &cx.0,
            ServiceName::Products,
            Method::GET,
            "GET products /products",
            "/products",
            None,
        )
        .await?;
    Ok(reply_json(r))
}

async fn product(
    State(ctx): State<Arc<ServiceCtx>>,
    axum::Extension(cx): Cx,
    Path(id): Path<u64>,
) -> Result<Response, AppError> {
    let path = format!("/products/{id}");
    let r = ctx
        .upstreams
        .call(
            &ctx.telemetry,
            &ctx.faults,
            &cx.0,
            ServiceName::Products,
            Method::GET,
            "GET products /products/{id}",
            &path,
            None,
        )
        .await?;
    Ok(reply_json(r))
}

async fn user(
    State(ctx): State<Arc<ServiceCtx>>,
    axum::Extension(cx): Cx,
    Path(id): Path<u64>,
) -> Result<Response, AppError> {
    let path = format!("/users/{id}");
    let r = ctx
        .upstreams
        .call(
            &ctx.telemetry,
            &ctx.faults,
            &cx.0,
            ServiceName::Users,
            Method::GET,
            "GET users /users/{id}",
            &path,
            None,
        )
        .await?;
    Ok(reply_json(r))
}

async fn checkout(
    State(ctx): State<Arc<ServiceCtx>>,
    axum::Extension(cx): Cx,
    body: Bytes,
) -> Result<Response, AppError> {
    let req: CheckoutRequest = serde_json::from_slice(&body)
        .map_err(|e| AppError::new(StatusCode::BAD_REQUEST, format!("invalid checkout: {e}")))?;
    if req.quantity == 0 || req.quantity > MAX_QUANTITY {
        return Err(AppError::new(
            StatusCode::BAD_REQUEST,
            format!("quantity must be 1..={MAX_QUANTITY}"),
        ));
    }
    let user_path = format!("/users/{}", req.user_id);
    let product_path = format!("/products/{}", req.product_id);
    let (user, product) = tokio::join!(
        ctx.upstreams.call(
            &ctx.telemetry,
            &ctx.faults,
            &cx.0,
            ServiceName::Users,
            Method::GET,
            "GET users /users/{id}",
            &user_path,
            None
        ),
        ctx.upstreams.call(
            &ctx.telemetry,
            &ctx.faults,
            &cx.0,
            ServiceName::Products,
            Method::GET,
            "GET products /products/{id}",
            &product_path,
            None
        ),
    );
    user?;
    let product: Product = serde_json::from_slice(&product?.body).map_err(|e| {
        AppError::new(
            StatusCode::BAD_GATEWAY,
            format!("products answered an invalid product: {e}"),
        )
    })?;
    let order = serde_json::to_value(OrderRequest {
        user_id: req.user_id,
        product_id: req.product_id,
        quantity: req.quantity,
        unit_price_cents: product.price_cents,
    })
    .map_err(|e| AppError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let r = ctx
        .upstreams
        .call(
            &ctx.telemetry,
            &ctx.faults,
            &cx.0,
            ServiceName::Orders,
            Method::POST,
            "POST orders /orders",
            "/orders",
            Some(&order),
        )
        .await?;
    Ok(reply_json(r))
}
