//! The products service: `GET /products` (the first page of the catalogue) and
//! `GET /products/{id}` (ids 1..=100 exist).

use std::sync::Arc;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

use super::server::{AppError, RouteDef, ServiceCtx, route_def};
use super::shop::{Product, product};

/// Products listed by `GET /products`.
const PAGE: u64 = 20;

pub(crate) const ROUTES: &[RouteDef] = &[
    route_def!("GET" "/products"),
    route_def!("GET" "/products/{id}"),
];

pub(crate) fn routes() -> Router<Arc<ServiceCtx>> {
    Router::new()
        .route("/products", get(list))
        .route("/products/{id}", get(get_product))
}

async fn list() -> Json<Vec<Product>> {
    Json((1..=PAGE).filter_map(product).collect())
}

async fn get_product(Path(id): Path<u64>) -> Result<Json<Product>, AppError> {
    product(id)
        .map(Json)
        .ok_or_else(|| AppError::new(StatusCode::NOT_FOUND, format!("no product {id}")))
}
