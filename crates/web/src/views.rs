//! What the templates show, as plain strings: the page frame ([`Chrome`]) and the rows of the lists.
//!
//! Templates only lay out what is computed here, so every money amount, time and label is formatted
//! in one place (`format`), never in a template.

use holdfast_domain::Timestamp;
use holdfast_domain::event::{Event, EventObject};
use holdfast_domain::intent::{ActionType, PaymentIntent, Status};
use holdfast_domain::user::{Permission, Role};

use crate::auth::Signed;
use crate::format::{self, Band};

/// The part of the dashboard a page belongs to: the navigation marks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Holds,
    Orders,
    Events,
    Webhooks,
    TestClocks,
    Overview,
    ApiKeys,
    Users,
}

impl Section {
    fn path(self) -> &'static str {
        match self {
            Section::Holds => "/holds",
            Section::Orders => "/orders",
            Section::Events => "/events",
            Section::Webhooks => "/webhooks",
            Section::TestClocks => "/test-clocks",
            Section::Overview => "/overview",
            Section::ApiKeys => "/api-keys",
            Section::Users => "/users",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Section::Holds => "Holds",
            Section::Orders => "Orders",
            Section::Events => "Events",
            Section::Webhooks => "Webhooks",
            Section::TestClocks => "Test clocks",
            Section::Overview => "Overview",
            Section::ApiKeys => "API keys",
            Section::Users => "Users",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct NavItem {
    pub(crate) label: &'static str,
    pub(crate) href: String,
    pub(crate) current: bool,
}

/// The frame around every page: title, mode, who is signed in, the navigation and the tokens.
#[derive(Debug, Clone)]
pub(crate) struct Chrome {
    pub(crate) title: String,
    pub(crate) mode: &'static str,
    pub(crate) livemode: bool,
    /// The same section in the other mode.
    pub(crate) switch_href: String,
    pub(crate) switch_label: &'static str,
    pub(crate) email: String,
    pub(crate) role: &'static str,
    pub(crate) csrf: String,
    pub(crate) nav: Vec<NavItem>,
    /// This page's URL: live updates fetch it again.
    pub(crate) self_href: String,
    /// The live-update stream of this mode.
    pub(crate) stream_href: String,
    pub(crate) can_move_money: bool,
    pub(crate) can_resend: bool,
    pub(crate) can_use_clocks: bool,
    pub(crate) can_manage_webhooks: bool,
    /// A message to show at the top of the page after an action.
    pub(crate) notice: Option<String>,
}

impl Chrome {
    pub(crate) fn new(signed: &Signed, title: String, section: Section) -> Chrome {
        let mode = signed.mode();
        let other = if signed.livemode { "test" } else { "live" };
        let switch_section = if section == Section::TestClocks {
            Section::Holds
        } else {
            section
        };
        let sections = [
            Section::Holds,
            Section::Orders,
            Section::Events,
            Section::Webhooks,
            Section::TestClocks,
            Section::Overview,
            Section::ApiKeys,
            Section::Users,
        ];
        let role = signed.role();
        let nav = sections
            .into_iter()
            .filter(|s| match s {
                Section::TestClocks => !signed.livemode,
                Section::ApiKeys => role.allows(Permission::ManageApiKeys),
                Section::Users => role.allows(Permission::ManageUsers),
                _ => true,
            })
            .map(|s| NavItem {
                label: s.label(),
                href: format!("/dashboard/{mode}{}", s.path()),
                current: s == section,
            })
            .collect();
        Chrome {
            title,
            mode,
            livemode: signed.livemode,
            switch_href: format!("/dashboard/{other}{}", switch_section.path()),
            switch_label: if signed.livemode {
                "View test data"
            } else {
                "View live data"
            },
            email: signed.user.email.clone(),
            role: role.as_str(),
            csrf: signed.session.csrf_token.clone(),
            nav,
            self_href: signed.path.clone(),
            stream_href: format!("/dashboard/{mode}/stream"),
            can_move_money: role.allows(Permission::MoveMoney),
            can_resend: role.allows(Permission::ResendEvents),
            can_use_clocks: role.allows(Permission::UseTestClocks) && !signed.livemode,
            can_manage_webhooks: role.allows(Permission::ManageWebhooks),
            notice: None,
        }
    }

    pub(crate) fn with_notice(mut self, notice: Option<String>) -> Chrome {
        self.notice = notice;
        self
    }
}

/// A status as a badge: its words and the class that colours it.
#[derive(Debug, Clone)]
pub(crate) struct Badge {
    pub(crate) text: String,
    pub(crate) class: &'static str,
}

pub(crate) fn status_badge(status: Status) -> Badge {
    let class = match status {
        Status::RequiresCapture => "badge-hold",
        Status::Succeeded => "badge-ok",
        Status::Canceled => "badge-muted",
        Status::Expired => "badge-bad",
        Status::RequiresPaymentMethod | Status::RequiresAction => "badge-pending",
    };
    Badge {
        text: format::humanize(status.as_str()),
        class,
    }
}

/// One intent in a list.
#[derive(Debug, Clone)]
pub(crate) struct IntentRow {
    pub(crate) id: String,
    pub(crate) href: String,
    pub(crate) description: String,
    pub(crate) customer: String,
    pub(crate) reference: String,
    pub(crate) amount: String,
    pub(crate) capturable: String,
    pub(crate) status: Badge,
    pub(crate) deadline: String,
    pub(crate) deadline_iso: String,
    pub(crate) time_left: String,
    pub(crate) band_class: &'static str,
    pub(crate) band_label: &'static str,
    pub(crate) scheduled: String,
    pub(crate) on_clock: bool,
}

impl IntentRow {
    /// `now` is the intent's own time (its test clock's, or the wall clock's).
    pub(crate) fn new(signed: &Signed, intent: &PaymentIntent, now: Timestamp) -> IntentRow {
        let currency = intent.currency();
        let holding = intent.status == Status::RequiresCapture;
        let (deadline, deadline_iso, time_left, band) = match intent.authorization_expires_at {
            Some(at) if holding => {
                let left = at.seconds() - now.seconds();
                (
                    format::datetime(at),
                    format::rfc3339(at),
                    format::time_left(left),
                    Band::of(left),
                )
            }
            _ => (String::new(), String::new(), String::new(), Band::Later),
        };
        IntentRow {
            id: intent.id.clone(),
            href: signed.href(&format!("/payment-intents/{}", intent.id)),
            description: intent.description.clone().unwrap_or_default(),
            customer: intent.customer_id.clone().unwrap_or_default(),
            reference: intent.reference.clone().unwrap_or_default(),
            amount: format::money(intent.amount.amount, currency),
            capturable: if holding {
                format::money(intent.capturable, currency)
            } else {
                String::new()
            },
            status: status_badge(intent.status),
            deadline,
            deadline_iso,
            time_left,
            band_class: band.class(),
            band_label: band.label(),
            scheduled: scheduled_text(intent),
            on_clock: intent.test_clock_id.is_some(),
        }
    }
}

/// `Capture 98.00 USD at 2026-07-05 10:00:00 UTC`, or empty.
pub(crate) fn scheduled_text(intent: &PaymentIntent) -> String {
    let Some(schedule) = &intent.scheduled_action else {
        return String::new();
    };
    let what = format::humanize(schedule.kind.as_str());
    let amount = schedule
        .amount
        .map(|m| format!(" {}", format::money(m.amount, m.currency)))
        .unwrap_or_default();
    match schedule.at {
        Some(at) => format!("{what}{amount} at {}", format::datetime(at)),
        None => format!("{what}{amount}, once the hold is placed"),
    }
}

/// One event in a list.
#[derive(Debug, Clone)]
pub(crate) struct EventRow {
    pub(crate) id: String,
    pub(crate) href: String,
    pub(crate) kind: String,
    pub(crate) created: String,
    pub(crate) object: String,
    pub(crate) object_href: String,
    pub(crate) request_id: String,
}

impl EventRow {
    pub(crate) fn new(signed: &Signed, event: &Event) -> EventRow {
        let (object, object_href) = match &event.object {
            EventObject::PaymentIntent(intent) => (
                intent.id.clone(),
                signed.href(&format!("/payment-intents/{}", intent.id)),
            ),
            EventObject::Order { order, .. } => (
                order.id.clone(),
                signed.href(&format!("/orders/{}", order.id)),
            ),
            EventObject::Refund(refund) => (
                refund.id.clone(),
                signed.href(&format!("/payment-intents/{}", refund.payment_intent_id)),
            ),
            EventObject::CheckoutSession(session) => (
                session.id.clone(),
                match &session.payment_intent_id {
                    Some(pid) => signed.href(&format!("/payment-intents/{pid}")),
                    None => signed.href(&format!("/events/{}", event.id)),
                },
            ),
        };
        EventRow {
            id: event.id.clone(),
            href: signed.href(&format!("/events/{}", event.id)),
            kind: event.kind.as_str().to_owned(),
            created: format::datetime(event.created_at),
            object,
            object_href,
            request_id: event.request_id.clone().unwrap_or_default(),
        }
    }
}

/// Who took an action on an intent, in words: the dashboard user, the API, or Holdfast itself.
pub(crate) fn actor_text(
    kind: ActionType,
    actor: Option<&str>,
    request_id: Option<&str>,
    reference: Option<&str>,
) -> String {
    match (actor, request_id) {
        (Some(email), _) => email.to_owned(),
        (None, Some(_)) => "API".to_owned(),
        (None, None) if kind == ActionType::Expiry => "Deadline worker (expired)".to_owned(),
        (None, None) if reference == Some("scheduled") => "Scheduler".to_owned(),
        (None, None) => "Holdfast".to_owned(),
    }
}

/// Role names for a select, the current one marked.
pub(crate) fn role_options(current: Role) -> Vec<(&'static str, bool)> {
    Role::ALL
        .iter()
        .map(|r| (r.as_str(), *r == current))
        .collect()
}
