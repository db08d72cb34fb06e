//! `holdfast users`: dashboard users from the command line. Passwords come from standard input
//! (`--password-stdin`, one line) or are generated and printed once; they never appear in the
//! arguments, where `ps` and shell history would keep them.

use std::fmt::Write as _;
use std::io::Read as _;
use std::sync::Arc;

use anyhow::{Context, bail};
use holdfast_domain::user::User;
use holdfast_service::{Clock, Settings};
use serde_json::json;

use crate::config::UsersCommand;

/// Runs one `holdfast users` command and prints its answer.
pub async fn run(command: UsersCommand, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    match command {
        UsersCommand::Create {
            merchant,
            email,
            role,
            password_stdin,
            database,
        } => {
            let password = password_stdin.then(read_password).transpose()?;
            let app = crate::build(&database.database_url, clock, Settings::default()).await?;
            let created = app
                .create_user(&merchant, &email, role.role(), password)
                .await?;
            println!("{}", user_json(&created.user, created.password.as_deref()));
        }
        UsersCommand::List { merchant, database } => {
            let app = crate::build(&database.database_url, clock, Settings::default()).await?;
            if app.store.get_merchant(&merchant).await?.is_none() {
                bail!("no merchant {merchant}");
            }
            print!("{}", table(&app.list_users(&merchant).await?));
        }
        UsersCommand::Disable { email, database } => {
            let app = crate::build(&database.database_url, clock, Settings::default()).await?;
            let user = app.set_user_disabled_by_email(&email, true).await?;
            println!("{}", user_json(&user, None));
        }
        UsersCommand::ResetPassword {
            email,
            password_stdin,
            database,
        } => {
            let password = password_stdin.then(read_password).transpose()?;
            let app = crate::build(&database.database_url, clock, Settings::default()).await?;
            let reset = app.reset_password_by_email(&email, password).await?;
            println!("{}", user_json(&reset.user, reset.password.as_deref()));
        }
    }
    Ok(())
}

/// One line of standard input, without its line ending.
fn read_password() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut input)
        .context("reading the password from standard input")?;
    let line = input.lines().next().unwrap_or("").to_owned();
    if line.is_empty() {
        bail!("--password-stdin read an empty password");
    }
    Ok(line)
}

fn user_json(user: &User, password: Option<&str>) -> serde_json::Value {
    let mut out = json!({
        "user_id": user.id,
        "merchant_id": user.merchant_id,
        "email": user.email,
        "role": user.role.as_str(),
        "disabled": user.disabled,
    });
    if let Some(password) = password {
        out["password"] = json!(password);
    }
    out
}

fn table(users: &[User]) -> String {
    let mut rows = vec![[
        "USER".to_owned(),
        "EMAIL".to_owned(),
        "ROLE".to_owned(),
        "STATE".to_owned(),
        "LAST SIGN-IN".to_owned(),
    ]];
    for u in users {
        rows.push([
            u.id.clone(),
            u.email.clone(),
            u.role.as_str().to_owned(),
            if u.disabled { "disabled" } else { "active" }.to_owned(),
            u.last_login_at
                .map_or_else(|| "-".to_owned(), holdfast_web::format::rfc3339),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    let _ = writeln!(out, "{} user(s)", users.len());
    out
}
