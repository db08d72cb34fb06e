//! The OpenAPI document: served without a key, identical to the committed `openapi.json` and to
//! what `holdfast openapi` prints, and every operation it lists is a route the server has.

use std::process::Command;

use crate::helpers::{Backend, TestApp};
use reqwest::Method;

const REGENERATE: &str = "openapi.json at the repository root is out of date. Regenerate it with\n\n    \
                          cargo run -p holdfast -- openapi > openapi.json\n\nand commit it.";

fn committed() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.json"))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_is_the_committed_one() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let res = app
        .request(Method::GET, "/openapi.json")
        .no_key()
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert!(res.header("x-request-id").is_some());
    assert!(res.text == committed(), "{REGENERATE}");

    let printed = Command::new(env!("CARGO_BIN_EXE_holdfast"))
        .arg("openapi")
        .output()
        .expect("run holdfast openapi");
    assert!(printed.status.success());
    assert!(
        printed.stdout == res.text.as_bytes(),
        "holdfast openapi prints the served document"
    );
}

/// Each documented operation reaches a handler: none answers the router's own `NOT_FOUND` or
/// `METHOD_NOT_ALLOWED`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_routed() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = app
        .request(Method::GET, "/openapi.json")
        .no_key()
        .send()
        .await
        .json;
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        // Ids that name nothing: the handler answers its own 404.
        let concrete = path.replace("{id}", "nope").replace("{pid}", "nope");
        for (method, _) in item.as_object().unwrap() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = app.request(method.clone(), &concrete).send().await;
            let code = res.json["error"]["code"].as_str().unwrap_or_default();
            assert_ne!(res.status, 405, "{method} {path}: {}", res.text);
            assert!(
                !(res.status == 404 && code == "NOT_FOUND"),
                "{method} {path} is documented but not routed"
            );
            count += 1;
        }
    }
    assert!(count >= 40, "only {count} operations");
}
