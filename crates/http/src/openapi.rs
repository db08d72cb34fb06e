//! The OpenAPI 3.1 document of the API, generated from the code and served at `GET /openapi.json`.
//!
//! Paths, parameters and bodies come from each handler's `#[utoipa::path]`, and the router
//! registers the routes from those same annotations (`utoipa_axum::routes!`), so the document can
//! neither list a route the router lacks nor miss one it serves. Schemas come from the DTOs
//! (`ToSchema`); their enumerations are the domain's own lists. Each operation declares the error
//! codes it can answer with `errors!` ([`error_responses`]).
//!
//! The dependencies point one way: the route modules use [`error_responses`] and [`schemas`]
//! (through the DTOs), and this module reads the route table to build the document. The route
//! table knows nothing of the document; the document's own route is added here ([`router`]).
//!
//! This module only describes the API. Nothing in it changes what a route does.

pub(crate) mod error_responses;
mod headers;
pub mod schemas;

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use holdfast_domain::ErrorCode;
use serde_json::{Map, Value, json};
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Header, OpenApi as Document, RefOr};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::error_responses::errors;
use self::headers::{REPLAYED, REQUEST_ID, RETRY_AFTER, add_header};
use crate::AppState;
use crate::error::{ApiError, status_of};

/// The whole document: the annotated routes, plus what no single route owns.
pub fn document() -> Result<Value, serde_json::Error> {
    let mut doc = documented().into_openapi();
    add_headers(&mut doc);
    let mut doc = serde_json::to_value(&doc)?;
    refer_to_components(&mut doc);
    drop_null_bodies(&mut doc);
    add_links(&mut doc);
    Ok(doc)
}

/// The document as the committed `openapi.json` holds it: pretty JSON, keys sorted, and a final
/// newline.
pub fn to_json() -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(&document()?).map(|json| json + "\n")
}

/// Every route with its OpenAPI operation: the whole document.
fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(router())
        .merge(crate::routes::open())
        .merge(crate::routes::api())
}

/// `GET /openapi.json`: like the health checks, behind no guard rail.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(serve_openapi))
}

/// Built once: the document never changes while the process runs.
static JSON: LazyLock<Result<String, String>> =
    LazyLock::new(|| to_json().map_err(|e| e.to_string()));

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "Meta",
    security(),
    responses(
        (status = OK, description = "This document", content_type = "application/json", body = Object),
        ServeOpenApiErrors,
    )
)]
async fn serve_openapi() -> Response {
    match &*JSON {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json.clone()).into_response(),
        Err(e) => ApiError {
            internal: Some(e.clone()),
            ..ApiError::new(
                ErrorCode::InternalError,
                "the OpenAPI document could not be built",
            )
        }
        .into_response(),
    }
}

errors!(ServeOpenApiErrors: [InternalError]);

/// The parts of the document that belong to no route: its info, tags, security and shared schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Holdfast",
        description = include_str!("openapi/description.md"),
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    security(("api_key" = [])),
    // Schemas only parameters name: utoipa collects those of bodies and answers by itself.
    components(schemas(crate::error::ErrorEnvelope, schemas::IntentOrder)),
    modifiers(&Shared),
    tags(
        (name = "Payment intents", description = "Holds: create, confirm (authorize), capture, cancel (void), and schedule."),
        (name = "Orders", description = "Line items and a total, paid by one or several intents."),
        (name = "Refunds", description = "Giving captured money back, in one or several parts."),
        (name = "Customers", description = "Customers and their saved cards."),
        (name = "Checkout sessions", description = "Hosted pages that take one payment, always captured automatically."),
        (name = "Events", description = "The durable record of every change, and its webhook deliveries."),
        (name = "Webhook endpoints", description = "Where events are delivered, and their signing secrets."),
        (name = "Test clocks", description = "Test mode only: frozen time that intents live on, advanced on demand."),
        (name = "Test helpers", description = "Test mode only: the steps a buyer would take."),
        (name = "Health", description = "Liveness and readiness; no key needed."),
        (name = "Meta", description = "This document."),
    )
)]
struct ApiDoc;

/// Adds the security scheme and the response headers every operation shares.
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.security_schemes.insert(
            "api_key".into(),
            RefOr::T(SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("API key")
                    .description(Some(
                        "A secret API key: `sk_test_…` (test mode) or `sk_live_…` (live mode). Every \
                         object belongs to the merchant and mode of the key that created it. A payment \
                         intent's `client_secret` is accepted too, but only to retrieve and confirm \
                         that one intent.",
                    ))
                    .build(),
            )),
        );
        for (name, description) in [
            (
                REQUEST_ID,
                "The request's id (`req_…`), also in the error envelope and in the server's log.",
            ),
            (
                REPLAYED,
                "`true` when this answer is the stored answer to an earlier request with the same `Idempotency-Key`.",
            ),
            (
                RETRY_AFTER,
                "Seconds to wait before retrying: the first request with this `Idempotency-Key` is still running.",
            ),
        ] {
            let schema = ObjectBuilder::new().schema_type(Type::String).build();
            components.headers.insert(
                name.into(),
                RefOr::T(
                    Header::builder()
                        .schema(Some(schema))
                        .description(Some(description))
                        .build(),
                ),
            );
        }
    }
}

/// What each operation's annotation cannot say by itself: the `X-Request-Id` every answer carries,
/// and `Idempotent-Replayed` on the operations whose answers are stored under their
/// `Idempotency-Key` (those that can answer `IDEMPOTENCY_KEY_REUSED`).
fn add_headers(doc: &mut Document) {
    let reused = status_of(ErrorCode::IdempotencyKeyReused)
        .as_str()
        .to_owned();
    for item in doc.paths.paths.values_mut() {
        for operation in operations(item) {
            let idempotent = operation.responses.responses.contains_key(&reused);
            for response in operation.responses.responses.values_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                add_header(response, REQUEST_ID);
                if idempotent {
                    add_header(response, REPLAYED);
                }
            }
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.patch,
        &mut item.delete,
        &mut item.head,
        &mut item.options,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// Replaces each inline copy of a component schema with a reference to it. utoipa inlines the
/// argument of a generic (`Data<PaymentIntentOut>`), which would repeat the whole intent in every
/// answer that holds one.
fn refer_to_components(doc: &mut Value) {
    let Some(Value::Object(components)) = doc.pointer("/components/schemas").cloned() else {
        return;
    };
    let refer = |node: &mut Value| replace_copies(node, &components);
    if let Some(Value::Object(schemas)) = doc.pointer_mut("/components/schemas") {
        // A component's own definition stays; only what it holds is replaced.
        for definition in schemas.values_mut() {
            children(definition).for_each(refer);
        }
    }
    if let Some(Value::Object(paths)) = doc.get_mut("paths") {
        paths.values_mut().for_each(refer);
    }
}

fn replace_copies(node: &mut Value, components: &Map<String, Value>) {
    if node.is_object()
        && let Some((name, _)) = components.iter().find(|(_, schema)| *schema == node)
    {
        *node = json!({ "$ref": format!("#/components/schemas/{name}") });
        return;
    }
    children(node).for_each(|child| replace_copies(child, components));
}

fn children(node: &mut Value) -> Box<dyn Iterator<Item = &mut Value> + '_> {
    match node {
        Value::Object(map) => Box::new(map.values_mut()),
        Value::Array(items) => Box::new(items.iter_mut()),
        _ => Box::new(std::iter::empty()),
    }
}

/// Where an answer's ids lead, by operation id. Clients can follow these links, and schemathesis'
/// stateful phase chains calls along them (create an intent, confirm it, capture it) instead of
/// guessing ids.
struct Link {
    from: &'static str,
    /// Each path parameter of the targets, and where in the answer its value is.
    parameters: &'static [(&'static str, &'static str)],
    to: &'static [&'static str],
}

const LINKS: &[Link] = &[
    Link {
        from: "create_payment_intent",
        parameters: &[("id", "/data/payment_intent/payment_intent_id")],
        to: &[
            "get_payment_intent",
            "confirm_payment_intent",
            "capture_payment_intent",
            "cancel_payment_intent",
            "list_payment_intent_actions",
            "set_scheduled_action",
            "clear_scheduled_action",
            "authenticate_payment_intent",
        ],
    },
    Link {
        from: "confirm_payment_intent",
        parameters: &[("id", "/data/payment_intent_id")],
        to: &[
            "capture_payment_intent",
            "cancel_payment_intent",
            "set_scheduled_action",
            "authenticate_payment_intent",
            "list_payment_intent_actions",
        ],
    },
    Link {
        from: "capture_payment_intent",
        parameters: &[("id", "/data/payment_intent_id")],
        to: &["get_payment_intent", "list_payment_intent_actions"],
    },
    Link {
        from: "create_order",
        parameters: &[("id", "/data/order_id")],
        to: &["get_order", "update_order", "cancel_order", "pay_order"],
    },
    Link {
        from: "pay_order",
        parameters: &[
            ("id", "/data/order_id"),
            ("pid", "/data/payment_intent_ids/0"),
        ],
        to: &["capture_order_payment_intent", "void_order_payment_intent"],
    },
    Link {
        from: "create_refund",
        parameters: &[("id", "/data/refund_id")],
        to: &["get_refund"],
    },
    Link {
        from: "create_customer",
        parameters: &[("id", "/data/customer_id")],
        to: &["get_customer", "save_payment_method"],
    },
    Link {
        from: "create_test_clock",
        parameters: &[("id", "/data/test_clock_id")],
        to: &["get_test_clock", "delete_test_clock", "advance_test_clock"],
    },
    Link {
        from: "create_webhook_endpoint",
        parameters: &[("id", "/data/webhook_endpoint_id")],
        to: &[
            "get_webhook_endpoint",
            "update_webhook_endpoint",
            "delete_webhook_endpoint",
            "rotate_webhook_endpoint_secret",
        ],
    },
    Link {
        from: "list_events",
        parameters: &[("id", "/data/0/id")],
        to: &["get_event", "list_event_deliveries", "resend_event"],
    },
];

/// Adds [`LINKS`] to the success answer of each operation they start from.
fn add_links(doc: &mut Value) {
    let Some(Value::Object(paths)) = doc.get_mut("paths") else {
        return;
    };
    let operations = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let Some(link) = LINKS.iter().find(|l| operation["operationId"] == l.from) else {
            continue;
        };
        let Some(Value::Object(responses)) = operation.get_mut("responses") else {
            continue;
        };
        let parameters: Map<String, Value> = link
            .parameters
            .iter()
            .map(|(name, pointer)| {
                (
                    (*name).to_owned(),
                    json!(format!("$response.body#{pointer}")),
                )
            })
            .collect();
        let links: Map<String, Value> = link
            .to
            .iter()
            .map(|to| {
                let link = json!({ "operationId": to, "parameters": parameters });
                ((*to).to_owned(), link)
            })
            .collect();
        for (_, response) in responses
            .iter_mut()
            .filter(|(status, _)| status.starts_with('2'))
        {
            response["links"] = Value::Object(links.clone());
        }
    }
}

/// A body annotated `Option<T>` may be left out, which utoipa writes as "`T` or `null`". A JSON
/// `null` is not a body Holdfast takes (it answers `INVALID_JSON`), so the body is just `T`, and
/// not required.
fn drop_null_bodies(doc: &mut Value) {
    let Some(Value::Object(paths)) = doc.get_mut("paths") else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
    {
        let Some(Value::Array(one_of)) =
            operation.pointer_mut("/requestBody/content/application~1json/schema/oneOf")
        else {
            continue;
        };
        if let [schema, null] = one_of.as_slice()
            && *null == json!({ "type": "null" })
        {
            let schema = schema.clone();
            if let Some(slot) =
                operation.pointer_mut("/requestBody/content/application~1json/schema")
            {
                *slot = schema;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;
    use crate::extract::IDEMPOTENCY_KEY_CHARS_MAX;

    const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

    fn doc() -> Value {
        document().expect("the document serializes")
    }

    fn each_operation(doc: &Value) -> Vec<(String, &Value)> {
        let mut all = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in METHODS {
                if let Some(op) = item.get(*method) {
                    all.push((format!("{} {path}", method.to_uppercase()), op));
                }
            }
        }
        all
    }

    /// The codes an operation's error responses name.
    fn codes_of(op: &Value) -> Vec<(u16, String)> {
        let mut codes = Vec::new();
        for (status, response) in op["responses"].as_object().expect("responses") {
            let status: u16 = status.parse().expect("a numeric status");
            let narrowed = &response["content"]["application/json"]["schema"]["allOf"][1];
            for code in narrowed["properties"]["error"]["properties"]["code"]["enum"]
                .as_array()
                .into_iter()
                .flatten()
            {
                codes.push((status, code.as_str().expect("a code").to_owned()));
            }
        }
        codes
    }

    #[test]
    fn the_document_is_openapi_3_1() {
        assert_eq!(doc()["openapi"], "3.1.0");
    }

    #[test]
    fn every_code_is_answered_by_some_operation_with_its_own_status() {
        let doc = doc();
        let mut seen = BTreeSet::new();
        for (name, op) in each_operation(&doc) {
            for (status, code) in codes_of(op) {
                let known = ErrorCode::ALL
                    .iter()
                    .find(|c| c.as_str() == code)
                    .unwrap_or_else(|| panic!("{name}: unknown code {code}"));
                assert_eq!(status_of(*known).as_u16(), status, "{name}: {code}");
                seen.insert(code);
            }
        }
        // Route-level answers, described in the document's introduction rather than on an
        // operation; and AUTHENTICATION_FAILED, which shows only in `last_payment_error`.
        let elsewhere = [ErrorCode::MethodNotAllowed, ErrorCode::AuthenticationFailed];
        let missing: Vec<&str> = ErrorCode::ALL
            .iter()
            .filter(|c| !elsewhere.contains(c) && !seen.contains(c.as_str()))
            .map(|c| c.as_str())
            .collect();
        assert!(
            missing.is_empty(),
            "no operation declares these codes (errors!): {missing:?}"
        );
    }

    #[test]
    fn operations_behind_a_key_answer_401_and_the_open_ones_do_not() {
        let doc = doc();
        for (name, op) in each_operation(&doc) {
            let open = op.get("security") == Some(&json!([]));
            let answers_401 = op["responses"].get("401").is_some();
            assert_eq!(!open, answers_401, "{name}");
            assert!(op["summary"].is_string(), "{name} has no summary");
            assert_eq!(op["tags"].as_array().map(Vec::len), Some(1), "{name}");
        }
    }

    #[test]
    fn every_success_answer_is_described_by_a_schema() {
        let doc = doc();
        for (name, op) in each_operation(&doc) {
            let success: Vec<_> = op["responses"]
                .as_object()
                .expect("responses")
                .iter()
                .filter(|(status, _)| status.starts_with('2'))
                .collect();
            assert_eq!(success.len(), 1, "{name}");
            let schema = &success[0].1["content"]["application/json"]["schema"];
            assert!(schema.is_object(), "{name}: no JSON schema");
        }
    }

    /// The envelope's schema and what `ApiError::body` writes agree.
    #[test]
    fn error_bodies_match_the_envelope_schema() {
        let doc = doc();
        let object = &doc["components"]["schemas"]["ErrorObject"];
        let properties: BTreeSet<&str> = object["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .map(String::as_str)
            .collect();
        let required: Vec<&str> = object["required"]
            .as_array()
            .expect("required")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let mut declined = ApiError::param(ErrorCode::CardDeclined, "payment_source_token", "no");
        declined
            .extra
            .insert("decline_code".into(), json!("generic_decline"));
        declined
            .extra
            .insert("payment_intent_id".into(), json!("pi_1"));
        for error in [
            ApiError::new(ErrorCode::NotFound, "no such route"),
            declined,
        ] {
            let body: Value = serde_json::from_slice(&error.body()).expect("JSON");
            let fields = body["error"].as_object().expect("an error object");
            assert_eq!(body.as_object().map(Map::len), Some(1), "{body}");
            for key in fields.keys() {
                assert!(
                    properties.contains(key.as_str()),
                    "{key} is not in the schema"
                );
            }
            for key in &required {
                assert!(fields.contains_key(*key), "{key} is required: {body}");
            }
        }
    }

    #[test]
    fn the_idempotency_key_limits_are_the_extractors() {
        let doc = doc();
        let param = &doc["paths"]["/v1/refunds"]["post"]["parameters"][0];
        assert_eq!(param["name"], "Idempotency-Key");
        assert_eq!(param["in"], "header");
        assert_eq!(param["schema"]["maxLength"], IDEMPOTENCY_KEY_CHARS_MAX);
        assert_eq!(param["schema"]["minLength"], 1);
    }

    /// Each component is defined once and referred to everywhere else.
    #[test]
    fn no_component_schema_is_copied_inline() {
        let doc = doc();
        let components = doc["components"]["schemas"].as_object().expect("schemas");
        let text = doc["paths"].to_string();
        for (name, schema) in components {
            assert!(
                !text.contains(&schema.to_string()),
                "{name} is inlined in a path"
            );
        }
    }

    /// Every `$ref` names a component that exists, and every link an operation that exists.
    #[test]
    fn references_and_links_resolve() {
        let doc = doc();
        let text = doc.to_string();
        for reference in text.split("\"$ref\":\"").skip(1) {
            let target = reference.split('"').next().unwrap_or_default();
            let pointer = target.strip_prefix('#').expect("a local reference");
            assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
        }
        let ids: BTreeSet<String> = each_operation(&doc)
            .iter()
            .map(|(_, op)| op["operationId"].as_str().expect("an id").to_owned())
            .collect();
        for link in LINKS {
            assert!(ids.contains(link.from), "{}", link.from);
            for to in link.to {
                assert!(ids.contains(*to), "{to}");
            }
        }
    }

    #[test]
    fn order_limits_are_the_domains() {
        let doc = doc();
        let items = &doc["components"]["schemas"]["CreateOrderBody"]["properties"]["line_items"];
        assert_eq!(items["maxItems"], holdfast_domain::order::LINE_ITEMS_MAX);
        let name = &doc["components"]["schemas"]["LineItemIn"]["properties"]["name"];
        assert_eq!(name["maxLength"], holdfast_domain::intent::TEXT_CHARS_MAX);
    }

    /// The committed copy at the repository root is what the code generates.
    #[test]
    fn the_committed_openapi_json_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        let generated = to_json().expect("the document serializes");
        assert!(
            committed == generated,
            "openapi.json at the repository root is out of date. Regenerate it with\n\n    \
             cargo run -p holdfast -- openapi > openapi.json\n\nand commit it."
        );
    }
}
