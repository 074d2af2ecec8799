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
use super::server::{AppError, Cx, RouteDef, ServiceCtx, json_body, json_value, route_def};
use super::shop::{CheckoutRequest, MAX_QUANTITY, OrderRequest, Product, reply_json};

pub(crate) const ROUTES: &[RouteDef] = &[
    route_def!("GET" "/api/products"),
    route_def!("GET" "/api/products/{id}"),
    route_def!("GET" "/api/users/{id}"),
    route_def!("POST" "/api/checkout"),
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
    ctx.call(
        &cx,
        ServiceName::Products,
        Method::GET,
        "GET products /products",
        "/products",
        None,
    )
    .await
    .map(reply_json)
}

async fn product(
    State(ctx): State<Arc<ServiceCtx>>,
    axum::Extension(cx): Cx,
    Path(id): Path<u64>,
) -> Result<Response, AppError> {
    let path = format!("/products/{id}");
    ctx.call(
        &cx,
        ServiceName::Products,
        Method::GET,
        "GET products /products/{id}",
        &path,
        None,
    )
    .await
    .map(reply_json)
}

async fn user(
    State(ctx): State<Arc<ServiceCtx>>,
    axum::Extension(cx): Cx,
    Path(id): Path<u64>,
) -> Result<Response, AppError> {
    let path = format!("/users/{id}");
    ctx.call(
        &cx,
        ServiceName::Users,
        Method::GET,
        "GET users /users/{id}",
        &path,
        None,
    )
    .await
    .map(reply_json)
}

async fn checkout(
    State(ctx): State<Arc<ServiceCtx>>,
    axum::Extension(cx): Cx,
    body: Bytes,
) -> Result<Response, AppError> {
    let req: CheckoutRequest = json_body(&body, "checkout")?;
    if req.quantity == 0 || req.quantity > MAX_QUANTITY {
        return Err(AppError::new(
            StatusCode::BAD_REQUEST,
            format!("quantity must be 1..={MAX_QUANTITY}"),
        ));
    }
    let user_path = format!("/users/{}", req.user_id);
    let product_path = format!("/products/{}", req.product_id);
    let (user, product) = tokio::join!(
        ctx.call(
            &cx,
            ServiceName::Users,
            Method::GET,
            "GET users /users/{id}",
            &user_path,
            None
        ),
        ctx.call(
            &cx,
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
    let order = json_value(OrderRequest {
        user_id: req.user_id,
        product_id: req.product_id,
        quantity: req.quantity,
        unit_price_cents: product.price_cents,
    })?;
    ctx.call(
        &cx,
        ServiceName::Orders,
        Method::POST,
        "POST orders /orders",
        "/orders",
        Some(&order),
    )
    .await
    .map(reply_json)
}
