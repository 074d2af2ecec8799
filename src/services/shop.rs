//! The sample shop's domain: request and response bodies shared by the services, and the
//! fixed catalogue (users 1..=1000, products 1..=100) the load generator can rely on.

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::client::Reply;

/// Known user ids.
pub const USER_IDS: std::ops::RangeInclusive<u64> = 1..=1000;
/// Known product ids.
pub const PRODUCT_IDS: std::ops::RangeInclusive<u64> = 1..=100;
/// Largest quantity one checkout may order.
pub const MAX_QUANTITY: u32 = 100;

/// Body of `POST /checkout` (frontend) and `POST /api/checkout` (gateway).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    pub user_id: u64,
    pub product_id: u64,
    pub quantity: u32,
}

/// Body of `POST /orders` (orders).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    pub user_id: u64,
    pub product_id: u64,
    pub quantity: u32,
    pub unit_price_cents: u64,
}

/// Answer of a successful checkout / order creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCreated {
    pub order_id: u64,
    pub total_cents: u64,
}

/// Body of `POST /tasks` (worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRequest {
    pub order_id: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: u64,
    pub name: String,
    pub price_cents: u64,
}

pub fn user(id: u64) -> Option<User> {
    USER_IDS.contains(&id).then(|| User {
        id,
        name: format!("user-{id}"),
        email: format!("user-{id}@example.test"),
    })
}

pub fn product(id: u64) -> Option<Product> {
    PRODUCT_IDS.contains(&id).then(|| Product {
        id,
        name: format!("product-{id}"),
        price_cents: 100 + (id * 37) % 9_900,
    })
}

/// Passes an upstream's JSON answer through with its status.
pub(crate) fn reply_json(reply: Reply) -> Response {
    (
        reply.status,
        [(CONTENT_TYPE, "application/json")],
        reply.body,
    )
        .into_response()
}
