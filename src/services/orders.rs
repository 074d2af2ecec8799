//! The orders service: `POST /orders` creates an order, hands it to the worker's queue
//! (`POST /tasks`) and counts `orders_created_total`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use reqwest::Method;

use super::config::ServiceName;
use super::server::{AppError, Cx, RouteDef, ServiceCtx, json_body, json_value, route_def};
use super::shop::{OrderCreated, OrderRequest, TaskRequest};

pub(crate) const ROUTES: &[RouteDef] = &[route_def!("POST" "/orders")];

pub(crate) fn routes() -> Router<Arc<ServiceCtx>> {
    Router::new().route("/orders", post(create))
}

async fn create(
    State(ctx): State<Arc<ServiceCtx>>,
    axum::Extension(cx): Cx,
    body: Bytes,
) -> Result<(StatusCode, Json<OrderCreated>), AppError> {
    let req: OrderRequest = json_body(&body, "order")?;
    let order_id = ctx.order_seq.fetch_add(1, Ordering::Relaxed);
    let task = json_value(TaskRequest { order_id })?;
    ctx.call(
        &cx,
        ServiceName::Worker,
        Method::POST,
        "POST worker /tasks",
        "/tasks",
        Some(&task),
    )
    .await?;
    if ctx.level.metrics() {
        ctx.metrics.orders_created.inc();
    }
    Ok((
        StatusCode::CREATED,
        Json(OrderCreated {
            order_id,
            total_cents: req.unit_price_cents.saturating_mul(u64::from(req.quantity)),
        }),
    ))
}
