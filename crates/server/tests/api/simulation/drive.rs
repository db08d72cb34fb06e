//! Driving the server: sending each step (alone, twice at once, or retried), checking every answer
//! against the model, auditing the merchant after every step, and reporting a failure with the
//! command that replays it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{Value, json};

use super::generate::*;
use super::model::*;
use super::*;
use crate::helpers::{Backend, Remote, Res, TestApp, rfc3339};

/// A request sent with a key, and the answer stored under it.
#[derive(Debug)]
pub(super) struct Sent {
    pub(super) http: Http,
    pub(super) key: String,
    pub(super) status: u16,
    pub(super) text: String,
}

#[derive(Debug, Default)]
pub(super) struct Stats {
    pub(super) steps: u64,
    pub(super) requests: u64,
    /// How often each kind of answer came back: the model's coverage.
    pub(super) answers: BTreeMap<String, u64>,
    /// Events and actions seen in the seeds' final audits, and the kinds of steps taken.
    pub(super) seen: BTreeMap<String, u64>,
}

pub(super) struct Failure {
    pub(super) seed: u64,
    pub(super) step: usize,
    pub(super) what: String,
    pub(super) detail: String,
    pub(super) trace: Vec<String>,
    pub(super) legend: String,
}

impl Failure {
    pub(super) fn report(&self, backend: Backend, alone: bool) -> String {
        let test = match backend {
            Backend::Sqlite => "simulation::simulate::sqlite",
            Backend::Postgres => "simulation::simulate::postgres",
        };
        let mut out = format!(
            "simulation failed on {backend:?}: seed {}, step {}\n  step: {}\n  {}\nsteps so far:",
            self.seed, self.step, self.what, self.detail
        );
        for line in &self.trace {
            let _ = write!(out, "\n  {line}");
        }
        let _ = write!(out, "\nobjects:{}", self.legend);
        let _ = write!(
            out,
            "\nreplay: HOLDFAST_SIM_SEED={} cargo test -p holdfast --test api {test} -- --nocapture",
            self.seed
        );
        if !alone {
            out.push_str(
                "\n(a replay runs the seed alone on a fresh server; the seed's merchant never sees another seed's objects)",
            );
        }
        out
    }
}

pub(super) fn classify(res: &Res) -> String {
    match res.json["error"]["code"].as_str() {
        Some(code) => format!("{} {code}", res.status),
        None => format!("{}", res.status),
    }
}

/// Checks an answer against the model's prediction.
pub(super) fn check(res: &Res, want: &Expect) -> Result<(), String> {
    let mismatch = |what: String| -> Result<(), String> {
        Err(format!(
            "{what}\n  expected: {} {}\n  got:      {} {}",
            want.status,
            describe_body(&want.body),
            res.status,
            res.text
        ))
    };
    if res.status != want.status {
        return mismatch("status differs".into());
    }
    match &want.body {
        Body::Fields(prefix, fields) => {
            for (pointer, value) in fields {
                let at = format!("{prefix}{pointer}");
                if res.json.pointer(&at) != Some(value) {
                    return mismatch(format!(
                        "{at}: expected {value}, got {}",
                        res.json.pointer(&at).unwrap_or(&Value::Null)
                    ));
                }
            }
        }
        Body::Error { code, param, extra } => {
            let error = &res.json["error"];
            if error["code"] != *code {
                return mismatch(format!("code: expected {code}, got {}", error["code"]));
            }
            let got = error.get("param").and_then(Value::as_str);
            if got != param.as_deref() {
                return mismatch(format!("param: expected {param:?}, got {got:?}"));
            }
            for (pointer, value) in extra {
                if error.pointer(pointer) != Some(value) {
                    return mismatch(format!("error{pointer}: expected {value}"));
                }
            }
        }
    }
    Ok(())
}

pub(super) fn describe_body(body: &Body) -> String {
    match body {
        Body::Fields(prefix, fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|(p, v)| format!("{prefix}{p}={v}"))
                .collect();
            parts.join(" ")
        }
        Body::Error { code, param, extra } => {
            let mut out = format!("{code} param={param:?}");
            for (p, v) in extra {
                let _ = write!(out, " {p}={v}");
            }
            out
        }
    }
}

/// Every object of a list route, following the cursor.
pub(super) async fn list_all(api: &Remote, path: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let url = match &cursor {
            None => format!("{path}?limit=100"),
            Some(c) => format!("{path}?limit=100&cursor={c}"),
        };
        let res = api.get(&url).await;
        if res.status != 200 {
            return Err(format!("GET {url}: {} {}", res.status, res.text));
        }
        out.extend(res.json["data"].as_array().cloned().unwrap_or_default());
        if res.json["has_more"] != true {
            return Ok(out);
        }
        cursor = res.json["next_cursor"].as_str().map(str::to_owned);
    }
    Err(format!("GET {path}: the list never ends"))
}

/// The events newer than any in `known`, oldest first. Newest first, the list can stop at the
/// first event already seen: every request has been answered, so no older one can still appear.
pub(super) async fn new_events(
    api: &Remote,
    known: &BTreeSet<String>,
) -> Result<Vec<Value>, String> {
    let mut fresh = Vec::new();
    let mut cursor: Option<String> = None;
    'pages: for _ in 0..100 {
        let url = match &cursor {
            None => "/v1/events?limit=8".to_owned(),
            Some(c) => format!("/v1/events?limit=25&cursor={c}"),
        };
        let res = api.get(&url).await;
        if res.status != 200 {
            return Err(format!("GET {url}: {} {}", res.status, res.text));
        }
        for event in res.json["data"].as_array().cloned().unwrap_or_default() {
            if known.contains(event["id"].as_str().unwrap_or_default()) {
                break 'pages;
            }
            fresh.push(event);
        }
        if res.json["has_more"] != true {
            break;
        }
        cursor = res.json["next_cursor"].as_str().map(str::to_owned);
    }
    fresh.reverse();
    Ok(fresh)
}

pub(super) struct Sim<'a> {
    pub(super) app: &'a TestApp,
    pub(super) api: Remote,
    pub(super) seed: u64,
    pub(super) rng: Rng,
    pub(super) model: Model,
    pub(super) sent: Vec<Sent>,
    pub(super) keys: u64,
    pub(super) trace: Vec<String>,
    /// The first terminal state seen of each intent: status and money, which must never change.
    pub(super) terminal: BTreeMap<String, Value>,
    /// The merchant's events, oldest first, and their ids.
    pub(super) events: Vec<Value>,
    pub(super) event_ids: BTreeSet<String>,
    pub(super) stats: &'a mut Stats,
}

pub(super) async fn run_seed(app: &TestApp, seed: u64, stats: &mut Stats) -> Result<(), Failure> {
    let merchant = app
        .app
        .create_merchant(&format!("sim-{seed}"))
        .await
        .expect("merchant");
    let api = Remote {
        client: app.client.clone(),
        base: app.base.clone(),
        key: merchant.test_key,
    };
    let mut sim = Sim {
        app,
        api,
        seed,
        rng: Rng::new(seed),
        model: Model {
            wall: app.app.now().seconds(),
            ..Model::default()
        },
        sent: Vec::new(),
        keys: 0,
        trace: Vec::new(),
        terminal: BTreeMap::new(),
        events: Vec::new(),
        event_ids: BTreeSet::new(),
        stats,
    };
    let steps = sim.rng.range(STEPS_MIN, STEPS_MAX) as usize;
    for step in 1..=steps {
        let next = generate(&mut sim.rng, &sim.model, sim.sent.len());
        let what = sim.describe(&next);
        let kind = match &next {
            Step::Http(_, mode) => format!("step: request {mode:?}"),
            Step::Wall { worker, .. } => format!("step: wall clock, worker {worker}"),
            Step::Worker => "step: worker".into(),
            Step::Retry(_) => "step: retry with key".into(),
            Step::Reuse(_) => "step: key reused".into(),
        };
        *sim.stats.seen.entry(kind).or_default() += 1;
        sim.trace.push(format!("{step}: {what}"));
        sim.stats.steps += 1;
        let outcome = match sim.step(next).await {
            Ok(()) => sim
                .audit(step == steps)
                .await
                .map_err(|e| format!("audit: {e}")),
            Err(e) => Err(e),
        };
        if let Err(detail) = outcome {
            return Err(Failure {
                seed,
                step,
                what,
                detail,
                trace: sim.trace.clone(),
                legend: sim.model.legend(),
            });
        }
    }
    if std::env::var_os("HOLDFAST_SIM_TRACE").is_some() {
        eprintln!("seed {seed}:\n  {}", sim.trace.join("\n  "));
    }
    Ok(())
}

impl Sim<'_> {
    pub(super) fn describe(&self, step: &Step) -> String {
        match step {
            Step::Http(cmd, mode) => {
                format!("{cmd:?} [{mode:?}] = {}", self.model.render(cmd).describe())
            }
            Step::Wall { seconds, worker } => {
                format!("wall clock +{seconds}s, worker: {worker}")
            }
            Step::Worker => "deadline worker".into(),
            Step::Retry(k) => format!(
                "retry with key {}: {}",
                self.sent[*k].key,
                self.sent[*k].http.describe()
            ),
            Step::Reuse(k) => format!("reuse key {} for another request", self.sent[*k].key),
        }
    }

    pub(super) fn fresh_key(&mut self) -> String {
        self.keys += 1;
        format!("sim-{}-{}", self.seed, self.keys)
    }

    pub(super) async fn send(&mut self, http: &Http, key: Option<&str>) -> Res {
        self.stats.requests += 1;
        self.api
            .send(http.method.clone(), &http.path, key, http.body.as_ref())
            .await
    }

    pub(super) fn note(&mut self, cmd: &Cmd, res: &Res) {
        let answer = match res.json["error"]["code"].as_str() {
            Some(code) => format!("{} {code} ({})", res.status, cmd.kind()),
            None => format!("{} {}", res.status, cmd.kind()),
        };
        *self.stats.answers.entry(answer).or_default() += 1;
        if let Some(line) = self.trace.last_mut() {
            let _ = write!(line, " -> {}", classify(res));
        }
    }

    /// Checks an answer and takes the id of what it created.
    pub(super) fn expect(&mut self, cmd: &Cmd, res: &Res, want: &Expect) -> Result<(), String> {
        self.note(cmd, res);
        check(res, want)?;
        self.adopt(res, want);
        Ok(())
    }

    pub(super) fn adopt(&mut self, res: &Res, want: &Expect) {
        let id = |pointers: &[&str]| {
            pointers
                .iter()
                .find_map(|p| res.json.pointer(p).and_then(Value::as_str))
                .unwrap_or_default()
                .to_owned()
        };
        match want.new {
            None => {}
            Some(New::Intent(i)) => {
                self.model.intents[i].id = id(&[
                    "/data/payment_intent/payment_intent_id",
                    "/error/payment_intent_id",
                ]);
            }
            Some(New::Order(o)) => self.model.orders[o].id = id(&["/data/order_id"]),
            Some(New::Clock(c)) => self.model.clocks[c].id = id(&["/data/test_clock_id"]),
            Some(New::Refund(r)) => self.model.refunds[r].id = id(&["/data/refund_id"]),
        }
    }

    pub(super) async fn step(&mut self, step: Step) -> Result<(), String> {
        match step {
            Step::Http(cmd, mode) => self.http(&cmd, mode).await,
            Step::Wall { seconds, worker } => {
                self.app.clock.advance(seconds);
                self.model.wall += seconds;
                if worker {
                    self.worker().await?;
                }
                Ok(())
            }
            Step::Worker => self.worker().await,
            Step::Retry(k) => {
                let (http, key) = (self.sent[k].http.clone(), self.sent[k].key.clone());
                let res = self.send(&http, Some(&key)).await;
                let sent = &self.sent[k];
                if res.status != sent.status
                    || res.text != sent.text
                    || res.header("idempotent-replayed") != Some("true")
                {
                    return Err(format!(
                        "a retry with its key must replay the stored answer byte for byte\n  stored: {} {}\n  got:    {} {} (replayed: {:?})",
                        sent.status,
                        sent.text,
                        res.status,
                        res.text,
                        res.header("idempotent-replayed")
                    ));
                }
                Ok(())
            }
            Step::Reuse(k) => {
                let key = self.sent[k].key.clone();
                let http = Http::post("/v1/test-clocks".into(), json!({"name": "reused key"}));
                let res = self.send(&http, Some(&key)).await;
                *self.stats.answers.entry(classify(&res)).or_default() += 1;
                check(&res, &error(422, "IDEMPOTENCY_KEY_REUSED", None))
            }
        }
    }

    /// Runs the deadline worker until it finds nothing to claim, as the model does.
    pub(super) async fn worker(&mut self) -> Result<(), String> {
        for _ in 0..64 {
            match self.app.app.run_due_once(500).await {
                Ok(holdfast_service::Outcome::Idle) => {
                    self.model.worker();
                    return Ok(());
                }
                Ok(holdfast_service::Outcome::Worked(_)) => {}
                Err(e) => return Err(format!("the deadline worker failed: {e}")),
            }
        }
        Err("the deadline worker never went idle".into())
    }

    pub(super) async fn http(&mut self, cmd: &Cmd, mode: Mode) -> Result<(), String> {
        let http = self.model.render(cmd);
        match mode {
            Mode::Keyed | Mode::Unkeyed => {
                let key = (mode == Mode::Keyed).then(|| self.fresh_key());
                self.single(cmd, &http, key).await
            }
            Mode::TwinKeyed => {
                let key = self.fresh_key();
                let want = self.model.apply(cmd);
                if want.status >= 500 {
                    // Twins of a request that fails are not one effect; sent once, then retried.
                    let res = self.send(&http, Some(&key)).await;
                    self.expect(cmd, &res, &want)?;
                    return self.retry_after_5xx(cmd, &http, Some(key)).await;
                }
                self.stats.requests += 2;
                let api = self.api.clone();
                let (a, b) = tokio::join!(
                    api.send(
                        http.method.clone(),
                        &http.path,
                        Some(&key),
                        http.body.as_ref()
                    ),
                    api.send(
                        http.method.clone(),
                        &http.path,
                        Some(&key),
                        http.body.as_ref()
                    ),
                );
                let in_use = |r: &Res| {
                    r.status == 409 && r.json["error"]["code"] == "IDEMPOTENCY_KEY_IN_USE"
                };
                let replayed = |r: &Res| r.header("idempotent-replayed") == Some("true");
                let (original, twin) = match (
                    in_use(&a) || replayed(&a),
                    in_use(&b) || replayed(&b),
                ) {
                    (false, true) => (a, b),
                    (true, false) => (b, a),
                    _ => {
                        return Err(format!(
                            "twins with one key: exactly one must do the work\n  a: {} {} (replayed {})\n  b: {} {} (replayed {})",
                            a.status,
                            a.text,
                            replayed(&a),
                            b.status,
                            b.text,
                            replayed(&b)
                        ));
                    }
                };
                self.expect(cmd, &original, &want)?;
                let outcome = if in_use(&twin) {
                    "twin with one key: 409 IDEMPOTENCY_KEY_IN_USE"
                } else {
                    "twin with one key: replayed"
                };
                *self.stats.seen.entry(outcome.into()).or_default() += 1;
                if !in_use(&twin) && (twin.status != original.status || twin.text != original.text)
                {
                    return Err(format!(
                        "the twin's replay differs from the original\n  original: {} {}\n  twin:     {} {}",
                        original.status, original.text, twin.status, twin.text
                    ));
                }
                self.sent.push(Sent {
                    http,
                    key,
                    status: original.status,
                    text: original.text,
                });
                Ok(())
            }
            Mode::TwinUnkeyed => {
                // Both answers must be the model's for the command run twice in a row: an answer
                // decided from reads of different moments (an order read before a racing change
                // and its intent read after it) is an answer no serial order gives, and fails.
                let first = self.model.apply(cmd);
                let second = self.model.apply(cmd);
                self.stats.requests += 2;
                let api = self.api.clone();
                let (a, b) = tokio::join!(
                    api.send(http.method.clone(), &http.path, None, http.body.as_ref()),
                    api.send(http.method.clone(), &http.path, None, http.body.as_ref()),
                );
                self.note(cmd, &a);
                self.note(cmd, &b);
                let straight = check(&a, &first).and_then(|()| check(&b, &second));
                if straight.is_ok() {
                    self.adopt(&a, &first);
                    self.adopt(&b, &second);
                    return Ok(());
                }
                if check(&a, &second).and_then(|()| check(&b, &first)).is_ok() {
                    self.adopt(&a, &second);
                    self.adopt(&b, &first);
                    return Ok(());
                }
                Err(format!(
                    "twins without a key must answer as the command run twice in a row, in either order\n  first:  {:?}\n  second: {:?}\n  got a:  {} {}\n  got b:  {} {}\n  (a against first: {})",
                    first,
                    second,
                    a.status,
                    a.text,
                    b.status,
                    b.text,
                    straight.err().unwrap_or_default()
                ))
            }
        }
    }

    pub(super) async fn single(
        &mut self,
        cmd: &Cmd,
        http: &Http,
        key: Option<String>,
    ) -> Result<(), String> {
        let want = self.model.apply(cmd);
        let res = self.send(http, key.as_deref()).await;
        self.expect(cmd, &res, &want)?;
        if want.status >= 500 {
            return self.retry_after_5xx(cmd, http, key).await;
        }
        if let Some(key) = key {
            self.sent.push(Sent {
                http: http.clone(),
                key,
                status: res.status,
                text: res.text,
            });
        }
        Ok(())
    }

    /// A 5xx is not stored: the same request again, with the same key, does the work.
    pub(super) async fn retry_after_5xx(
        &mut self,
        cmd: &Cmd,
        http: &Http,
        key: Option<String>,
    ) -> Result<(), String> {
        let want = self.model.apply(cmd);
        if want.status >= 500 {
            return Err(format!("model: a retry after a 5xx fails again: {want:?}"));
        }
        let res = self.send(http, key.as_deref()).await;
        self.expect(cmd, &res, &want)
            .map_err(|e| format!("the retry after a 5xx: {e}"))?;
        if let Some(key) = key {
            self.sent.push(Sent {
                http: http.clone(),
                key,
                status: res.status,
                text: res.text,
            });
        }
        Ok(())
    }

    // ---- The audit ----

    pub(super) async fn audit(&mut self, full: bool) -> Result<(), String> {
        let touched = std::mem::take(&mut self.model.touched);
        let which: Vec<usize> = if full {
            (0..self.model.intents.len()).collect()
        } else {
            touched.into_iter().collect()
        };
        let paths: Vec<String> = which
            .iter()
            .map(|&i| format!("/v1/payment-intents/{}/actions", self.model.intents[i].id))
            .collect();
        let with_orders = full || !self.model.orders.is_empty();
        // The reads go out together: every request has been answered, nothing moves meanwhile.
        let api = self.api.clone();
        let (intents, orders, fresh, actions) = tokio::join!(
            list_all(&api, "/v1/payment-intents"),
            async {
                match with_orders {
                    true => list_all(&api, "/v1/orders").await.map(Some),
                    false => Ok(None),
                }
            },
            new_events(&api, &self.event_ids),
            async {
                let mut out = Vec::with_capacity(paths.len());
                for path in &paths {
                    out.push(api.get(path).await);
                }
                out
            },
        );
        self.audit_intents(&intents?)?;
        if let Some(orders) = orders? {
            self.audit_orders(&orders)?;
        }
        self.audit_events(fresh?, full).await?;
        for (i, res) in which.into_iter().zip(actions) {
            self.audit_actions(i, full, &res)?;
        }
        if full {
            self.audit_refunds_and_clocks().await?;
        }
        Ok(())
    }

    pub(super) fn audit_intents(&mut self, listed: &[Value]) -> Result<(), String> {
        let model = &self.model;
        if listed.len() != model.intents.len() {
            let ids: Vec<&str> = listed
                .iter()
                .filter_map(|v| v["payment_intent_id"].as_str())
                .collect();
            return Err(format!(
                "{} intents listed, the model has {}: {ids:?}",
                listed.len(),
                model.intents.len()
            ));
        }
        let by_id: BTreeMap<&str, &Value> = listed
            .iter()
            .filter_map(|v| v["payment_intent_id"].as_str().map(|id| (id, v)))
            .collect();
        for i in 0..model.intents.len() {
            let id = model.intents[i].id.as_str();
            let Some(got) = by_id.get(id) else {
                return Err(format!("intent #{i} {id} is not listed"));
            };
            money_invariant(got).map_err(|e| format!("intent #{i} {id}: {e}: {got}"))?;
            for (pointer, value) in model.intent_fields(i) {
                if got.pointer(pointer) != Some(&value) {
                    return Err(format!(
                        "intent #{i} {id}{pointer}: expected {value}, got {}\n  intent: {got}",
                        got.pointer(pointer).unwrap_or(&Value::Null)
                    ));
                }
            }
            let status = got["status"].as_str().unwrap_or_default();
            if ["succeeded", "canceled", "expired"].contains(&status) {
                let settled = json!({
                    "status": status,
                    "authorized": got["authorized_amount_money"],
                    "captured": got["captured_amount_money"],
                    "released": got["released_amount_money"],
                    "capturable": got["capturable_amount_money"],
                });
                let first = self
                    .terminal
                    .entry(id.to_owned())
                    .or_insert_with(|| settled.clone());
                if *first != settled {
                    return Err(format!(
                        "intent #{i} {id} left its terminal state: was {first}, now {settled}"
                    ));
                }
            }
        }
        Ok(())
    }

    pub(super) fn audit_orders(&mut self, listed: &[Value]) -> Result<(), String> {
        let model = &self.model;
        if listed.len() != model.orders.len() {
            return Err(format!(
                "{} orders listed, the model has {}",
                listed.len(),
                model.orders.len()
            ));
        }
        for o in 0..model.orders.len() {
            let id = model.orders[o].id.as_str();
            let Some(got) = listed.iter().find(|v| v["order_id"] == id) else {
                return Err(format!("order #{o} {id} is not listed"));
            };
            for (pointer, value) in model.order_fields(o) {
                if got.pointer(pointer) != Some(&value) {
                    return Err(format!(
                        "order #{o} {id}{pointer}: expected {value}, got {}\n  order: {got}",
                        got.pointer(pointer).unwrap_or(&Value::Null)
                    ));
                }
            }
            let amount = |p: &str| got.pointer(p).and_then(Value::as_i64).unwrap_or(-1);
            let (total, paid, due) = (
                amount("/total_money/amount"),
                amount("/settlement_amounts/paid_money/amount"),
                amount("/settlement_amounts/amount_due_money/amount"),
            );
            if paid > total || due != (total - paid).max(0) {
                return Err(format!(
                    "order #{o} {id}: paid {paid}, due {due} of {total}"
                ));
            }
        }
        Ok(())
    }

    /// Each event once, and each intent's events exactly the model's, in order.
    pub(super) async fn audit_events(
        &mut self,
        fresh: Vec<Value>,
        full: bool,
    ) -> Result<(), String> {
        for event in fresh {
            let id = event["id"].as_str().unwrap_or_default().to_owned();
            let kind = event["type"].as_str().unwrap_or_default();
            let object = &event["data"]["object"];
            if object.get("authorized_amount_money").is_some() {
                money_invariant(object).map_err(|e| format!("event {id} {kind} snapshot: {e}"))?;
            }
            if !self.event_ids.insert(id.clone()) {
                return Err(format!("event {id} is listed twice"));
            }
            self.events.push(event);
        }
        if full {
            let all = list_all(&self.api, "/v1/events").await?;
            let ids: BTreeSet<String> = all
                .iter()
                .filter_map(|e| e["id"].as_str().map(str::to_owned))
                .collect();
            if all.len() != self.events.len() || ids != self.event_ids {
                return Err(format!(
                    "{} events listed at the end, {} seen step by step",
                    all.len(),
                    self.events.len()
                ));
            }
        }
        let mut of_intent: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut succeeded_of_order: BTreeMap<String, usize> = BTreeMap::new();
        for event in &self.events {
            let kind = event["type"].as_str().unwrap_or_default().to_owned();
            if full {
                *self.stats.seen.entry(format!("event: {kind}")).or_default() += 1;
            }
            let data = &event["data"];
            if kind == "order.payment_succeeded" {
                let order = data["object"]["order_id"].as_str().unwrap_or_default();
                *succeeded_of_order.entry(order.to_owned()).or_default() += 1;
                continue;
            }
            let intent = data["payment_intent_id"]
                .as_str()
                .or_else(|| data["object"]["payment_intent_id"].as_str())
                .unwrap_or_default();
            of_intent.entry(intent.to_owned()).or_default().push(kind);
        }
        let model = &self.model;
        for (i, x) in model.intents.iter().enumerate() {
            let got = of_intent.remove(&x.id).unwrap_or_default();
            if got != x.events {
                return Err(format!(
                    "intent #{i} {}: events\n  expected {:?}\n  got      {got:?}",
                    x.id, x.events
                ));
            }
        }
        if let Some((intent, events)) = of_intent.into_iter().next() {
            return Err(format!(
                "events of an intent the model does not know: {intent} {events:?}"
            ));
        }
        for (o, ord) in model.orders.iter().enumerate() {
            let got = succeeded_of_order.remove(&ord.id).unwrap_or_default();
            if got != ord.succeeded_events {
                return Err(format!(
                    "order #{o} {}: {got} order.payment_succeeded events, expected {}",
                    ord.id, ord.succeeded_events
                ));
            }
        }
        Ok(())
    }

    /// The money movements: each the model's, each hold resolved at most once, and adding up to
    /// the intent's money fields.
    pub(super) fn audit_actions(&mut self, i: usize, full: bool, res: &Res) -> Result<(), String> {
        let x = &self.model.intents[i];
        if res.status != 200 {
            return Err(format!("actions of #{i}: {} {}", res.status, res.text));
        }
        let got: Vec<MAction> = res.json["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|a| MAction {
                kind: match a["type"].as_str().unwrap_or_default() {
                    "authorization" => "authorization",
                    "capture" => "capture",
                    "void" => "void",
                    "expiry" => "expiry",
                    "refund" => "refund",
                    _ => "unknown",
                },
                amount: a["amount_money"]["amount"].as_i64().unwrap_or(-1),
                ok: a["status"] == "succeeded",
                scheduled: a["reference"] == "scheduled",
            })
            .collect();
        if got != x.actions {
            return Err(format!(
                "intent #{i} {}: actions\n  expected {:?}\n  got      {got:?}",
                x.id, x.actions
            ));
        }
        for a in got.iter().filter(|_| full) {
            let kind = format!(
                "action: {} {}{}",
                a.kind,
                if a.ok { "succeeded" } else { "failed" },
                if a.scheduled { " (scheduled)" } else { "" }
            );
            *self.stats.seen.entry(kind).or_default() += 1;
        }
        let resolved = got
            .iter()
            .filter(|a| a.ok && ["capture", "void", "expiry"].contains(&a.kind))
            .count();
        let sum = |kinds: &[&str]| -> i64 {
            got.iter()
                .filter(|a| a.ok && kinds.contains(&a.kind))
                .map(|a| a.amount)
                .sum()
        };
        // A capture releases the rest of the hold in the same step, with no action of its own.
        let released_by_capture = if sum(&["capture"]) > 0 {
            x.authorized - x.captured
        } else {
            0
        };
        if resolved > 1
            || sum(&["capture"]) != x.captured
            || sum(&["void", "expiry"]) + released_by_capture != x.released
            || sum(&["refund"]) != x.refunded
        {
            return Err(format!(
                "intent #{i} {}: {resolved} resolutions; actions do not add up: {got:?}",
                x.id
            ));
        }
        Ok(())
    }

    pub(super) async fn audit_refunds_and_clocks(&mut self) -> Result<(), String> {
        let listed = list_all(&self.api, "/v1/refunds").await?;
        let model = &self.model;
        if listed.len() != model.refunds.len() {
            return Err(format!(
                "{} refunds listed, the model has {}",
                listed.len(),
                model.refunds.len()
            ));
        }
        for r in &model.refunds {
            let Some(got) = listed.iter().find(|v| v["refund_id"] == r.id.as_str()) else {
                return Err(format!("refund {} is not listed", r.id));
            };
            let x = &model.intents[r.intent];
            let want = json!({
                "payment_intent_id": x.id,
                "amount": r.amount,
                "status": if r.ok { "succeeded" } else { "failed" },
            });
            let seen = json!({
                "payment_intent_id": got["payment_intent_id"],
                "amount": got["amount_money"]["amount"],
                "status": got["status"],
            });
            if want != seen {
                return Err(format!("refund {}: expected {want}, got {got}", r.id));
            }
        }
        for c in &model.clocks {
            let res = self.api.get(&format!("/v1/test-clocks/{}", c.id)).await;
            if res.json["data"]["frozen_time"] != rfc3339(c.frozen) {
                return Err(format!(
                    "test clock {}: expected {}, got {}",
                    c.id,
                    rfc3339(c.frozen),
                    res.text
                ));
            }
        }
        Ok(())
    }
}

/// `captured + released + capturable = authorized`, none negative, `refunded <= captured`, and
/// nothing capturable outside `requires_capture`.
pub(super) fn money_invariant(intent: &Value) -> Result<(), String> {
    let amount = |field: &str| intent[field]["amount"].as_i64().unwrap_or(-1);
    let authorized = amount("authorized_amount_money");
    let capturable = amount("capturable_amount_money");
    let captured = amount("captured_amount_money");
    let released = amount("released_amount_money");
    let refunded = amount("refunded_amount_money");
    if [authorized, capturable, captured, released, refunded]
        .iter()
        .any(|a| *a < 0)
    {
        return Err("a money field is negative or missing".into());
    }
    if captured + released + capturable != authorized {
        return Err(format!(
            "captured {captured} + released {released} + capturable {capturable} != authorized {authorized}"
        ));
    }
    if refunded > captured {
        return Err(format!("refunded {refunded} > captured {captured}"));
    }
    if intent["status"] != "requires_capture" && capturable != 0 {
        return Err(format!(
            "{capturable} capturable in status {}",
            intent["status"]
        ));
    }
    Ok(())
}
