//! The XML authentication exchange (protocol.md §2): auth transactions that may span several requests
//! and TLS connections (tied together by the `webvpncontext` cookie), rendering of the backend's
//! prompts as forms, and the success document with the session cookie.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rocserv_auth::pam::AccountCheckError;
use rocserv_auth::{Answers, AuthBackend, AuthConversation, FailureReason, Identity, Prompt, Step};
use rocserv_config::SelectGroup;
use rocserv_proto::auth_xml::{
    self, AuthForm, ClientAuthMessage, ClientMessageKind, FormField, GroupOption,
};
use rocserv_proto::http::Response;

use crate::certauth::CertIdentity;
use crate::server::Server;

/// Upper bound on concurrent unfinished logins, so that a flood cannot exhaust memory.
const MAX_TRANSACTIONS: usize = 8192;

pub const CONTEXT_COOKIE: &str = "webvpncontext";

/// An unfinished login.
struct Transaction {
    conversation: Option<Box<dyn AuthConversation>>,
    ctx: TxnContext,
    expires: Instant,
}

/// What a transaction carries besides the backend's conversation.
#[derive(Clone, Default)]
struct TxnContext {
    /// The group the client picked.
    group: Option<String>,
    /// With `auth = certificate` plus a password method: the verified certificate of the login,
    /// whose user name the password login must match.
    bound_cert: Option<CertIdentity>,
}

/// Unfinished logins, keyed by the random `webvpncontext` value.
pub struct Transactions {
    map: Mutex<HashMap<String, Transaction>>,
    lifetime: Duration,
}

impl Transactions {
    pub fn new(lifetime: Duration) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            lifetime,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Transaction>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a new transaction; returns its id, or None when too many are open.
    fn start(&self, backend: &dyn AuthBackend, ctx: TxnContext, now: Instant) -> Option<String> {
        let mut map = self.lock();
        if map.len() >= MAX_TRANSACTIONS {
            map.retain(|_, t| t.expires > now);
            if map.len() >= MAX_TRANSACTIONS {
                return None;
            }
        }
        let id =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>());
        map.insert(
            id.clone(),
            Transaction {
                conversation: Some(backend.start()),
                ctx,
                expires: now + self.lifetime,
            },
        );
        Some(id)
    }

    fn take(&self, id: &str, now: Instant) -> Option<(Box<dyn AuthConversation>, TxnContext)> {
        let mut map = self.lock();
        let t = map.get_mut(id)?;
        if t.expires <= now {
            map.remove(id);
            return None;
        }
        Some((t.conversation.take()?, t.ctx.clone()))
    }

    fn put_back(&self, id: &str, conv: Box<dyn AuthConversation>, ctx: TxnContext) {
        if let Some(t) = self.lock().get_mut(id) {
            t.conversation = Some(conv);
            t.ctx = ctx;
        }
    }

    fn finish(&self, id: &str) {
        self.lock().remove(id);
    }

    pub fn sweep(&self, now: Instant) {
        self.lock().retain(|_, t| t.expires > now);
    }
}

/// The result of one authentication request, for the connection handler.
pub enum AuthOutcome {
    /// Send this response and keep reading requests.
    Continue(Response),
    /// Authentication succeeded: send this response (it carries the cookie).
    Authenticated(Response),
    /// Send this response and close the connection.
    Close(Response),
}

/// What the connection knows when a login starts or continues.
#[derive(Clone)]
pub struct LoginStart<'a> {
    pub real_ip: std::net::IpAddr,
    /// The verified client certificate's identity, when one was presented.
    pub cert: Option<&'a CertIdentity>,
    /// The group chosen by the URL (`select-group-by-url`) or the client.
    pub group: Option<String>,
    /// The URL chose the group: no group list in the form.
    pub url_group: bool,
}

/// Per-connection memory of the transaction, for clients that do not echo cookies.
#[derive(Default)]
pub struct ConnAuthState {
    pub transaction: Option<String>,
}

fn set_context_cookie(resp: Response, id: &str, max_age: u64) -> Response {
    resp.header(
        "Set-Cookie",
        format!("{CONTEXT_COOKIE}={id}; Max-Age={max_age}; Secure; HttpOnly"),
    )
}

fn clear_context_cookie(resp: Response) -> Response {
    resp.header(
        "Set-Cookie",
        format!(
            "{CONTEXT_COOKIE}=; expires=Thu, 01 Jan 1970 22:00:00 GMT; path=/; Secure; HttpOnly"
        ),
    )
}

/// Why the `acct = pam` check did not let a user in.
#[derive(Debug)]
enum AccountRefusal {
    /// The account stack refused the user (a failed login: ban points).
    Refused(String),
    /// The check could not run (service file missing, ...): a server problem.
    Error(String),
}

/// `acct = pam`: `pam_acct_mgmt` for `username` (blocking).
fn account_verdict(
    service: &str,
    username: &str,
    ip: std::net::IpAddr,
) -> Result<(), AccountRefusal> {
    let host = ip.to_string();
    match rocserv_auth::pam::account_check(service, username, Some(&host)) {
        Ok(()) => Ok(()),
        Err(e @ AccountCheckError::Refused { .. }) => Err(AccountRefusal::Refused(e.to_string())),
        Err(e) => Err(AccountRefusal::Error(e.to_string())),
    }
}

/// Runs blocking work from synchronous code on the runtime: `block_in_place` on the daemon's
/// multi-threaded runtime, directly elsewhere (tests, no runtime).
fn in_place<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// The login form's group choices: a `default-select-group` pseudo entry (value empty: "my
/// default group"), the `select-group` entries, then the `auto-select-group` groups not listed
/// yet (value and label the group's name). Empty when there is no real group to choose.
fn group_list(
    default_label: Option<&str>,
    select_groups: &[SelectGroup],
    auto: Vec<String>,
) -> Vec<GroupOption> {
    let mut groups: Vec<GroupOption> = select_groups
        .iter()
        .map(|g| GroupOption {
            value: g.name.clone(),
            label: g.label.clone(),
        })
        .collect();
    for name in auto {
        if !groups.iter().any(|g| g.value == name) {
            groups.push(GroupOption {
                value: name.clone(),
                label: name,
            });
        }
    }
    if groups.is_empty() {
        return groups;
    }
    let default = default_label.map(|label| GroupOption {
        value: String::new(),
        label: label.to_owned(),
    });
    default.into_iter().chain(groups).collect()
}

impl Server {
    /// The `group_list` choices (see [`group_list`]); with `auto-select-group`, the password
    /// backend's groups. None when the URL already chose the group.
    fn group_options(&self, url_chose_group: bool) -> Vec<GroupOption> {
        if url_chose_group {
            return Vec::new();
        }
        let auto = match &self.plan.password {
            Some(backend) if self.cfg.auto_select_group => in_place(|| backend.all_groups()),
            _ => Vec::new(),
        };
        group_list(
            self.cfg.default_select_group.as_deref(),
            &self.cfg.select_groups,
            auto,
        )
    }

    /// Maps a group the client picked (value or, as AnyConnect sometimes sends, the label) to its name.
    fn resolve_group(&self, picked: Option<&str>) -> Option<String> {
        let picked = picked?.trim();
        if picked.is_empty() {
            return None;
        }
        self.cfg
            .select_groups
            .iter()
            .find(|g| g.name == picked || g.label == picked)
            .map(|g| g.name.clone())
            .or_else(|| Some(picked.to_owned()))
    }

    fn render_form(
        &self,
        prompt: &Prompt,
        group: Option<&str>,
        first: bool,
        url_group: bool,
    ) -> Response {
        let form = AuthForm {
            auth_id: "main".into(),
            title: None,
            banner: if first {
                self.cfg.pre_login_banner.clone()
            } else {
                None
            },
            message: prompt.message.clone(),
            error: prompt.error.clone(),
            fields: prompt
                .fields
                .iter()
                .map(|f| {
                    if f.echo {
                        FormField::Text {
                            name: f.name.clone(),
                            label: f.label.clone(),
                        }
                    } else {
                        FormField::Password {
                            name: f.name.clone(),
                            label: f.label.clone(),
                        }
                    }
                })
                .collect(),
            groups: self.group_options(url_group),
            selected_group: group.map(str::to_owned),
            action: "/auth".into(),
        };
        Response::xml(auth_xml::render_auth_request(&form))
    }

    /// Starts a login (`GET /`, or an `init` POST): with a certificate that suffices, the login is
    /// complete at once; otherwise the first form of a new transaction.
    pub fn auth_start(&self, conn: &mut ConnAuthState, start: LoginStart<'_>) -> AuthOutcome {
        let plan = &self.plan;
        if let Some(cert) = start.cert.filter(|_| plan.cert_sufficient) {
            let identity = Identity {
                username: cert.username.clone(),
                groups: Vec::new(),
            };
            // This path answers a GET synchronously (the caller is not async): the account
            // check, if any, runs in place on this worker (`block_in_place`).
            let verdict = self
                .plan
                .account_service
                .as_deref()
                .map_or(Ok(()), |service| {
                    in_place(|| account_verdict(service, &identity.username, start.real_ip))
                });
            if let Err(refusal) = verdict {
                return self.account_refused(&identity.username, start.real_ip, refusal);
            }
            return self.auth_success(identity, start.group, Some(cert), start.real_ip);
        }
        let cert_ok_for_password = plan.cert_and_password && start.cert.is_some();
        let Some(backend) = plan
            .password
            .as_ref()
            .filter(|_| plan.password_sufficient || cert_ok_for_password)
        else {
            let reason = if plan.uses_certificates() && start.cert.is_none() {
                "No certificate"
            } else {
                "Authentication failed"
            };
            tracing::warn!(ip = %start.real_ip, "authentication refused: {reason}");
            return AuthOutcome::Close(Response::unauthorized(reason));
        };
        let ctx = TxnContext {
            group: start.group.clone(),
            bound_cert: start
                .cert
                .filter(|_| plan.cert_and_password && !plan.password_sufficient)
                .cloned(),
        };
        let now = Instant::now();
        let Some(id) = self.auth_txns.start(backend.as_ref(), ctx, now) else {
            return AuthOutcome::Close(Response::error(503, "Service Unavailable"));
        };
        conn.transaction = Some(id.clone());
        let resp = self.render_form(
            &backend.initial_prompt(),
            start.group.as_deref(),
            true,
            start.url_group,
        );
        AuthOutcome::Continue(set_context_cookie(
            resp,
            &id,
            self.auth_txns.lifetime.as_secs(),
        ))
    }

    /// Handles a POST of the authentication exchange.
    pub async fn auth_post(
        self: &Arc<Self>,
        conn: &mut ConnAuthState,
        context_cookie: Option<&str>,
        session_cookie: Option<&str>,
        msg: ClientAuthMessage,
        start: LoginStart<'_>,
    ) -> AuthOutcome {
        let real_ip = start.real_ip;
        let picked = self
            .resolve_group(msg.group_select.as_deref())
            .or(start.group.clone());
        match msg.kind {
            ClientMessageKind::AuthReply => {}
            ClientMessageKind::Logout => {
                // Cisco clients post a logout document with their session cookie.
                if let Some(cookie) =
                    session_cookie.and_then(rocserv_proto::cookie::SessionCookie::parse)
                {
                    self.sessions.invalidate(&cookie.hash());
                    tracing::info!(ip = %real_ip, "session logged out by the client");
                }
                return AuthOutcome::Close(Response::xml(String::new()));
            }
            ClientMessageKind::Init | ClientMessageKind::Other(_) => {
                return self.auth_start(
                    conn,
                    LoginStart {
                        group: picked,
                        ..start
                    },
                );
            }
        }
        let now = Instant::now();
        // Find the transaction: the context cookie first, then this connection's own.
        let mut found = None;
        for id in [context_cookie.map(str::to_owned), conn.transaction.clone()]
            .into_iter()
            .flatten()
        {
            if let Some((c, g)) = self.auth_txns.take(&id, now) {
                found = Some((id, c, g));
                break;
            }
        }
        let (id, conversation, mut ctx) = match found {
            Some(f) => f,
            None => {
                // A reply without a live transaction (legacy clients, expired context): start one.
                match self.auth_start(
                    conn,
                    LoginStart {
                        group: picked.clone(),
                        ..start
                    },
                ) {
                    AuthOutcome::Continue(_) => {}
                    other => return other,
                }
                let Some((id, c, ctx)) = conn
                    .transaction
                    .clone()
                    .and_then(|id| self.auth_txns.take(&id, now).map(|(c, x)| (id, c, x)))
                else {
                    return AuthOutcome::Close(Response::error(503, "Service Unavailable"));
                };
                (id, c, ctx)
            }
        };
        conn.transaction = Some(id.clone());
        if picked.is_some() {
            ctx.group = picked;
        }
        let username = msg.username.clone();
        let answers = Answers {
            username: msg.username,
            password: msg.password,
            secondary_password: msg.secondary_password,
        };
        let mut conversation = conversation;
        let step = tokio::task::spawn_blocking(move || {
            let step = conversation.answer(answers);
            (conversation, step)
        })
        .await;
        let (mut conversation, step) = match step {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "authentication backend task failed");
                self.auth_txns.finish(&id);
                return AuthOutcome::Close(Response::unauthorized("Internal error"));
            }
        };
        match step {
            Step::Continue(prompt) => {
                if let Some(f) = conversation.take_failure() {
                    tracing::info!(ip = %real_ip, detail = %f.log_detail, "login failed, asking again");
                    self.score_failure(real_ip);
                } else if prompt.error.is_some() {
                    tracing::info!(
                        user = username.as_deref().unwrap_or("-"),
                        ip = %real_ip,
                        "login failed, asking again"
                    );
                    self.score_failure(real_ip);
                }
                let group = ctx.group.clone();
                self.auth_txns.put_back(&id, conversation, ctx);
                let resp = self.render_form(&prompt, group.as_deref(), false, start.url_group);
                AuthOutcome::Continue(set_context_cookie(
                    resp,
                    &id,
                    self.auth_txns.lifetime.as_secs(),
                ))
            }
            Step::Failure(f) => {
                self.auth_txns.finish(&id);
                conn.transaction = None;
                tracing::warn!(ip = %real_ip, detail = %f.log_detail, "authentication failed");
                if f.reason != FailureReason::BackendError {
                    self.score_failure(real_ip);
                }
                let reason = match f.reason {
                    FailureReason::BackendError => "Internal error",
                    _ => "Authentication failed",
                };
                AuthOutcome::Close(Response::unauthorized(reason))
            }
            Step::Success(identity) => {
                self.auth_txns.finish(&id);
                conn.transaction = None;
                if let Some(cert) = &ctx.bound_cert {
                    // Both a certificate and a password are required: they must name the same
                    // user (the regression of ocserv's auth bypass #694).
                    if cert.username != identity.username {
                        tracing::warn!(
                            ip = %real_ip, user = %identity.username, cert_user = %cert.username,
                            "authentication refused: the user name does not match the client certificate"
                        );
                        return AuthOutcome::Close(Response::unauthorized("Authentication failed"));
                    }
                }
                if let Some(service) = self.plan.account_service.clone() {
                    let username = identity.username.clone();
                    let verdict = tokio::task::spawn_blocking(move || {
                        account_verdict(&service, &username, real_ip)
                    })
                    .await
                    .unwrap_or_else(|e| {
                        Err(AccountRefusal::Error(format!(
                            "account check task failed: {e}"
                        )))
                    });
                    if let Err(refusal) = verdict {
                        return self.account_refused(&identity.username, real_ip, refusal);
                    }
                }
                let cert = ctx.bound_cert.clone();
                self.auth_success(identity, ctx.group, cert.as_ref(), real_ip)
            }
        }
    }

    /// The answer to a login the PAM account check did not accept.
    fn account_refused(
        &self,
        username: &str,
        ip: std::net::IpAddr,
        refusal: AccountRefusal,
    ) -> AuthOutcome {
        match refusal {
            AccountRefusal::Refused(reason) => {
                tracing::warn!(
                    user = %username, ip = %ip, %reason,
                    "authentication refused by the PAM account check"
                );
                self.score_failure(ip);
                AuthOutcome::Close(Response::unauthorized("Authentication failed"))
            }
            AccountRefusal::Error(reason) => {
                tracing::error!(
                    user = %username, ip = %ip, %reason,
                    "PAM account check failed; login refused"
                );
                AuthOutcome::Close(Response::unauthorized("Internal error"))
            }
        }
    }

    /// A failed login scores ban points for the client's address.
    fn score_failure(&self, ip: std::net::IpAddr) {
        if self.bans.failed_login(ip, Instant::now()) {
            tracing::warn!(ip = %ip, "address banned after repeated failed logins");
        }
    }

    fn auth_success(
        &self,
        identity: Identity,
        group: Option<String>,
        cert: Option<&CertIdentity>,
        real_ip: std::net::IpAddr,
    ) -> AuthOutcome {
        let mut groups = identity.groups;
        for g in cert.map(|c| c.groups.as_slice()).unwrap_or_default() {
            if !groups.contains(g) {
                groups.push(g.clone());
            }
        }
        let group = match group {
            Some(g) if groups.contains(&g) => g,
            Some(g) => {
                tracing::warn!(
                    user = %identity.username, ip = %real_ip, group = %g,
                    "authentication refused: user is not a member of the selected group"
                );
                return AuthOutcome::Close(Response::unauthorized("Authentication failed"));
            }
            None => groups.first().cloned().unwrap_or_default(),
        };
        let cookie = self.sessions.create(
            crate::sessions::NewSession {
                username: &identity.username,
                group: &group,
                cert_fingerprint: cert.map(|c| c.fingerprint),
            },
            rand::random(),
            Instant::now(),
        );
        tracing::info!(user = %identity.username, group = %group, ip = %real_ip, "user authenticated");
        let token = cookie.to_base64();
        let body = auth_xml::render_auth_complete(self.cfg.banner.as_deref(), &token);
        let resp = clear_context_cookie(Response::xml(body))
            .header("Connection", "Keep-Alive")
            .header("Set-Cookie", format!("webvpn={token}; Secure; HttpOnly"));
        AuthOutcome::Authenticated(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(value: &str, label: &str) -> GroupOption {
        GroupOption {
            value: value.to_owned(),
            label: label.to_owned(),
        }
    }

    fn select(name: &str, label: &str) -> SelectGroup {
        SelectGroup {
            name: name.to_owned(),
            label: label.to_owned(),
        }
    }

    #[test]
    fn auto_groups_follow_default_and_select_groups_without_duplicates() {
        let selected = [select("staff", "Staff network"), select("ops", "ops")];
        let auto = vec!["admins".to_owned(), "staff".to_owned(), "users".to_owned()];
        assert_eq!(
            group_list(Some("Default"), &selected, auto.clone()),
            [
                option("", "Default"),
                option("staff", "Staff network"),
                option("ops", "ops"),
                option("admins", "admins"),
                option("users", "users"),
            ]
        );
        assert_eq!(
            group_list(None, &[], auto),
            [
                option("admins", "admins"),
                option("staff", "staff"),
                option("users", "users"),
            ]
        );
    }

    #[test]
    fn no_real_group_means_no_list() {
        assert!(group_list(Some("Default"), &[], Vec::new()).is_empty());
        assert_eq!(
            group_list(Some("Default"), &[select("g", "G")], Vec::new()),
            [option("", "Default"), option("g", "G")]
        );
    }
}
