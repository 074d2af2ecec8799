//! User journeys against the sample services' frontend, and the requests each one sends.
//!
//! Routes are fixed by the services: `browse` = `GET /products` then `GET /products/{id}`;
//! `checkout` = `POST /checkout`; `account` = `GET /account/{id}`; `health` = `GET /healthz`.
//! `login` = `POST /login` starts each closed-model user's session (never named in a scenario).

use rand::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A named sequence of requests a simulated user makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Journey {
    /// `GET /products`, then `GET /products/{id}` with id in 1..=20.
    Browse,
    /// `POST /checkout` with `{"user_id","product_id","quantity"}`.
    Checkout,
    /// `GET /account/{id}` with id in 1..=50.
    Account,
    /// `GET /healthz`.
    Health,
    /// `POST /login` with `{"user_id"}`: a closed-model user's first request (sets its cookie).
    Login,
}

impl Journey {
    /// Every journey a scenario can name, in a stable order (not [`Journey::Login`]).
    pub const ALL: [Journey; 4] = [
        Journey::Browse,
        Journey::Checkout,
        Journey::Account,
        Journey::Health,
    ];

    /// The kebab-case name used in scenario files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Journey::Browse => "browse",
            Journey::Checkout => "checkout",
            Journey::Account => "account",
            Journey::Health => "health",
            Journey::Login => "login",
        }
    }

    /// Parses a kebab-case name.
    pub fn from_name(name: &str) -> Option<Journey> {
        Journey::ALL.into_iter().find(|j| j.name() == name)
    }

    /// How many requests one run of the journey sends.
    pub fn request_count(self) -> usize {
        match self {
            Journey::Browse => 2,
            Journey::Checkout | Journey::Account | Journey::Health | Journey::Login => 1,
        }
    }

    /// The request of step `step` (0-based; `None` past the last step), with random ids.
    pub fn step<R: Rng + ?Sized>(self, step: usize, rng: &mut R) -> Option<Step> {
        let s = match (self, step) {
            (Journey::Browse, 0) => Step::get("/products", "/products".to_owned()),
            (Journey::Browse, 1) => Step::get(
                "/products/{id}",
                format!("/products/{}", rng.random_range(1..=20u64)),
            ),
            (Journey::Checkout, 0) => {
                let body = serde_json::json!({
                    "user_id": rng.random_range(1..=50u64),
                    "product_id": rng.random_range(1..=20u64),
                    "quantity": rng.random_range(1..=3u64),
                });
                Step {
                    method: StepMethod::Post,
                    route: "/checkout",
                    path: "/checkout".to_owned(),
                    json_body: Some(body.to_string()),
                }
            }
            (Journey::Account, 0) => Step::get(
                "/account/{id}",
                format!("/account/{}", rng.random_range(1..=50u64)),
            ),
            (Journey::Health, 0) => Step::get("/healthz", "/healthz".to_owned()),
            (Journey::Login, 0) => Step {
                method: StepMethod::Post,
                route: "/login",
                path: "/login".to_owned(),
                json_body: Some(
                    serde_json::json!({ "user_id": rng.random_range(1..=50u64) }).to_string(),
                ),
            },
            _ => return None,
        };
        Some(s)
    }
}

impl fmt::Display for Journey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// HTTP method of a step (only the two the journeys use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepMethod {
    Get,
    Post,
}

/// One request of a journey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub method: StepMethod,
    /// Route template, low-cardinality (`/products/{id}`), used as the record's route label.
    pub route: &'static str,
    /// Concrete path with ids filled in.
    pub path: String,
    /// JSON request body, if any.
    pub json_body: Option<String>,
}

impl Step {
    fn get(route: &'static str, path: String) -> Step {
        Step {
            method: StepMethod::Get,
            route,
            path,
            json_body: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journeys_send_the_fixed_routes() {
        let mut rng = rand::rng();
        for _ in 0..200 {
            let first = Journey::Browse.step(0, &mut rng).expect("step 0");
            assert_eq!(first.path, "/products");
            let second = Journey::Browse.step(1, &mut rng).expect("step 1");
            let id: u64 = second
                .path
                .strip_prefix("/products/")
                .and_then(|s| s.parse().ok())
                .expect("numeric id");
            assert!((1..=20).contains(&id));
            assert_eq!(Journey::Browse.step(2, &mut rng), None);

            let c = Journey::Checkout.step(0, &mut rng).expect("checkout");
            assert_eq!((c.method, c.path.as_str()), (StepMethod::Post, "/checkout"));
            let body: serde_json::Value =
                serde_json::from_str(c.json_body.as_deref().expect("body")).expect("json");
            let field = |k: &str| body[k].as_u64().expect("u64 field");
            assert!((1..=50).contains(&field("user_id")));
            assert!((1..=20).contains(&field("product_id")));
            assert!((1..=3).contains(&field("quantity")));

            let a = Journey::Account.step(0, &mut rng).expect("account");
            assert_eq!(a.route, "/account/{id}");
            assert_eq!(
                Journey::Health.step(0, &mut rng).expect("health").path,
                "/healthz"
            );
        }
        for j in Journey::ALL {
            assert_eq!(Journey::from_name(j.name()), Some(j));
            let steps = (0..5).filter(|i| j.step(*i, &mut rng).is_some()).count();
            assert_eq!(steps, j.request_count());
        }
    }
}
