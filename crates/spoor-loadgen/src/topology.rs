//! The fixed service topology of the standard workload: an online shop of 22 services.

/// What a service is; decides its span kind and which attribute family its spans carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Frontend,
    Gateway,
    Business,
    Database,
    Cache,
    Queue,
    Worker,
}

impl Tier {
    /// Whether spans of this tier may have children (data stores are always leaves).
    pub(crate) fn can_call(self) -> bool {
        !matches!(self, Tier::Database | Tier::Cache)
    }
}

/// One operation of a service: its span name and a tier-specific detail (HTTP route, gRPC
/// method, SQL statement, cache command, topic).
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    pub name: &'static str,
    pub detail: &'static str,
}

/// A service of the topology.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    pub name: &'static str,
    pub tier: Tier,
    pub operations: &'static [Operation],
    /// Services it calls, by name.
    pub calls: &'static [&'static str],
    /// Implementation language (for `telemetry.sdk.language` and the scope name).
    pub language: &'static str,
}

const fn op(name: &'static str, detail: &'static str) -> Operation {
    Operation { name, detail }
}

/// The 22 services. Order matters only for determinism.
pub const SERVICES: &[Service] = &[
    Service {
        name: "frontend",
        tier: Tier::Frontend,
        operations: &[
            op("GET /", "/"),
            op("GET /product/{id}", "/product/{id}"),
            op("GET /cart", "/cart"),
            op("POST /cart", "/cart"),
            op("POST /checkout", "/checkout"),
            op("GET /search", "/search"),
        ],
        calls: &["api-gateway", "auth-gateway"],
        language: "nodejs",
    },
    Service {
        name: "api-gateway",
        tier: Tier::Gateway,
        operations: &[
            op("GET /api/products", "/api/products"),
            op("GET /api/cart", "/api/cart"),
            op("POST /api/cart/items", "/api/cart/items"),
            op("POST /api/checkout", "/api/checkout"),
            op("GET /api/search", "/api/search"),
            op("GET /api/recommendations", "/api/recommendations"),
        ],
        calls: &[
            "catalog",
            "cart",
            "checkout",
            "search",
            "recommendation",
            "user",
            "redis",
        ],
        language: "go",
    },
    Service {
        name: "auth-gateway",
        tier: Tier::Gateway,
        operations: &[
            op("POST /auth/token", "/auth/token"),
            op("GET /auth/session", "/auth/session"),
        ],
        calls: &["auth", "user", "redis"],
        language: "go",
    },
    Service {
        name: "auth",
        tier: Tier::Business,
        operations: &[
            op("auth.Auth/Validate", "Validate"),
            op("auth.Auth/Issue", "Issue"),
        ],
        calls: &["user", "postgres", "redis"],
        language: "go",
    },
    Service {
        name: "user",
        tier: Tier::Business,
        operations: &[
            op("user.Users/Get", "Get"),
            op("user.Users/Update", "Update"),
        ],
        calls: &["postgres", "redis"],
        language: "java",
    },
    Service {
        name: "catalog",
        tier: Tier::Business,
        operations: &[
            op("catalog.Catalog/GetProduct", "GetProduct"),
            op("catalog.Catalog/ListProducts", "ListProducts"),
        ],
        calls: &["pricing", "inventory", "postgres", "redis"],
        language: "java",
    },
    Service {
        name: "cart",
        tier: Tier::Business,
        operations: &[
            op("cart.Cart/Get", "Get"),
            op("cart.Cart/AddItem", "AddItem"),
        ],
        calls: &["catalog", "pricing", "redis"],
        language: "dotnet",
    },
    Service {
        name: "checkout",
        tier: Tier::Business,
        operations: &[op("checkout.Checkout/PlaceOrder", "PlaceOrder")],
        calls: &[
            "cart",
            "payment",
            "shipping",
            "inventory",
            "currency",
            "kafka",
            "postgres",
        ],
        language: "go",
    },
    Service {
        name: "payment",
        tier: Tier::Business,
        operations: &[
            op("payment.Payment/Charge", "Charge"),
            op("payment.Payment/Refund", "Refund"),
        ],
        calls: &["fraud", "currency", "postgres"],
        language: "java",
    },
    Service {
        name: "shipping",
        tier: Tier::Business,
        operations: &[
            op("shipping.Shipping/Quote", "Quote"),
            op("shipping.Shipping/Create", "Create"),
        ],
        calls: &["currency", "postgres"],
        language: "rust",
    },
    Service {
        name: "inventory",
        tier: Tier::Business,
        operations: &[
            op("inventory.Inventory/Check", "Check"),
            op("inventory.Inventory/Reserve", "Reserve"),
        ],
        calls: &["postgres", "redis"],
        language: "go",
    },
    Service {
        name: "pricing",
        tier: Tier::Business,
        operations: &[op("pricing.Pricing/Quote", "Quote")],
        calls: &["currency", "redis"],
        language: "python",
    },
    Service {
        name: "currency",
        tier: Tier::Business,
        operations: &[op("currency.Currency/Convert", "Convert")],
        calls: &["redis"],
        language: "cpp",
    },
    Service {
        name: "search",
        tier: Tier::Business,
        operations: &[op("search.Search/Query", "Query")],
        calls: &["elasticsearch", "catalog", "recommendation"],
        language: "python",
    },
    Service {
        name: "recommendation",
        tier: Tier::Business,
        operations: &[op("reco.Recommendation/ForUser", "ForUser")],
        calls: &["catalog", "redis", "postgres"],
        language: "python",
    },
    Service {
        name: "fraud",
        tier: Tier::Business,
        operations: &[op("fraud.Fraud/Score", "Score")],
        calls: &["redis", "postgres"],
        language: "rust",
    },
    Service {
        name: "notification-worker",
        tier: Tier::Worker,
        operations: &[op("orders process", "orders")],
        calls: &["user", "postgres", "email"],
        language: "ruby",
    },
    Service {
        name: "email",
        tier: Tier::Business,
        operations: &[op("email.Email/Send", "Send")],
        calls: &["redis"],
        language: "ruby",
    },
    Service {
        name: "postgres",
        tier: Tier::Database,
        operations: &[
            op("SELECT orders", "SELECT * FROM orders WHERE id = $1"),
            op("INSERT orders", "INSERT INTO orders VALUES ($1, $2, $3)"),
            op("SELECT users", "SELECT * FROM users WHERE id = $1"),
            op("SELECT products", "SELECT * FROM products WHERE sku = $1"),
            op(
                "UPDATE inventory",
                "UPDATE inventory SET qty = $1 WHERE sku = $2",
            ),
        ],
        calls: &[],
        language: "go",
    },
    Service {
        name: "redis",
        tier: Tier::Cache,
        operations: &[
            op("GET", "GET"),
            op("SET", "SET"),
            op("HGETALL", "HGETALL"),
            op("EXPIRE", "EXPIRE"),
        ],
        calls: &[],
        language: "go",
    },
    Service {
        name: "elasticsearch",
        tier: Tier::Database,
        operations: &[op("search products", "POST /products/_search")],
        calls: &[],
        language: "java",
    },
    Service {
        name: "kafka",
        tier: Tier::Queue,
        operations: &[op("orders publish", "orders")],
        calls: &["notification-worker"],
        language: "go",
    },
];

/// The topology with calls resolved to indices.
#[derive(Debug, Clone)]
pub(crate) struct Topology {
    /// Per service: every callee.
    pub(crate) callees: Vec<Vec<u16>>,
    /// Per service: callees that may themselves have children.
    pub(crate) calling_callees: Vec<Vec<u16>>,
    /// Services that can call others, for the rare node whose parent has no calling callee.
    pub(crate) callers: Vec<u16>,
}

pub(crate) fn index_of(name: &str) -> Option<u16> {
    SERVICES
        .iter()
        .position(|s| s.name == name)
        .map(|i| i as u16)
}

impl Topology {
    pub(crate) fn new() -> Self {
        let resolve = |names: &[&str], calling_only: bool| -> Vec<u16> {
            names
                .iter()
                .filter_map(|n| index_of(n))
                .filter(|i| !calling_only || SERVICES[usize::from(*i)].tier.can_call())
                .collect()
        };
        Self {
            callees: SERVICES.iter().map(|s| resolve(s.calls, false)).collect(),
            calling_callees: SERVICES.iter().map(|s| resolve(s.calls, true)).collect(),
            callers: (0..SERVICES.len() as u16)
                .filter(|i| SERVICES[usize::from(*i)].tier == Tier::Business)
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_names_a_service() {
        assert!((18..=24).contains(&SERVICES.len()));
        for s in SERVICES {
            for c in s.calls {
                assert!(index_of(c).is_some(), "{} calls unknown {c}", s.name);
            }
            assert!(!s.operations.is_empty());
        }
        let t = Topology::new();
        assert!(!t.callers.is_empty());
    }
}
