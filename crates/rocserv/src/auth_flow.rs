//! The XML authentication exchange (protocol.md §2): auth transactions that may span several requests
//! and TLS connections (tied together by the `webvpncontext` cookie), rendering of the backend's
//! prompts as forms, and the success document with the session cookie.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rocserv_auth::{Answers, AuthBackend, AuthConversation, FailureReason, Identity, Prompt, Step};
use rocserv_proto::auth_xml::{
    self, AuthForm, ClientAuthMessage, ClientMessageKind, FormField, GroupOption,
};
use rocserv_proto::http::Response;

use crate::server::Server;

/// Upper bound on concurrent unfinished logins, so that a flood cannot exhaust memory.
const MAX_TRANSACTIONS: usize = 8192;

pub const CONTEXT_COOKIE: &str = "webvpncontext";

/// An unfinished login.
struct Transaction {
    conversation: Option<Box<dyn AuthConversation>>,
    group: Option<String>,
    expires: Instant,
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
    fn start(
        &self,
        backend: &dyn AuthBackend,
        group: Option<String>,
        now: Instant,
    ) -> Option<String> {
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
                group,
                expires: now + self.lifetime,
            },
        );
        Some(id)
    }

    fn take(&self, id: &str, now: Instant) -> Option<(Box<dyn AuthConversation>, Option<String>)> {
        let mut map = self.lock();
        let t = map.get_mut(id)?;
        if t.expires <= now {
            map.remove(id);
            return None;
        }
        Some((t.conversation.take()?, t.group.clone()))
    }

    fn put_back(&self, id: &str, conv: Box<dyn AuthConversation>, group: Option<String>) {
        if let Some(t) = self.lock().get_mut(id) {
            t.conversation = Some(conv);
            t.group = group;
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

impl Server {
    fn group_options(&self) -> Vec<GroupOption> {
        self.cfg
            .select_groups
            .iter()
            .map(|g| GroupOption {
                value: g.name.clone(),
                label: g.label.clone(),
            })
            .collect()
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

    fn render_form(&self, prompt: &Prompt, group: Option<&str>, first: bool) -> Response {
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
            groups: self.group_options(),
            selected_group: group.map(str::to_owned),
            action: "/auth".into(),
        };
        Response::xml(auth_xml::render_auth_request(&form))
    }

    /// Answers `GET /` (and the other form URLs): the first form of a new transaction.
    pub fn auth_start(&self, conn: &mut ConnAuthState, group: Option<String>) -> AuthOutcome {
        let now = Instant::now();
        let Some(id) = self.auth_txns.start(self.auth.as_ref(), group.clone(), now) else {
            return AuthOutcome::Close(Response::error(503, "Service Unavailable"));
        };
        conn.transaction = Some(id.clone());
        let resp = self.render_form(&self.auth.initial_prompt(), group.as_deref(), true);
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
        real_ip: std::net::IpAddr,
    ) -> AuthOutcome {
        let picked = self.resolve_group(msg.group_select.as_deref());
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
                return self.auth_start(conn, picked);
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
        let (id, conversation, group) = match found {
            Some(f) => f,
            None => {
                // A reply without a live transaction (legacy clients, expired context): start one.
                let Some(id) = self
                    .auth_txns
                    .start(self.auth.as_ref(), picked.clone(), now)
                else {
                    return AuthOutcome::Close(Response::error(503, "Service Unavailable"));
                };
                match self.auth_txns.take(&id, now) {
                    Some((c, g)) => (id, c, g),
                    None => return AuthOutcome::Close(Response::error(503, "Service Unavailable")),
                }
            }
        };
        conn.transaction = Some(id.clone());
        let group = picked.or(group);
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
        let (conversation, step) = match step {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "authentication backend task failed");
                self.auth_txns.finish(&id);
                return AuthOutcome::Close(Response::unauthorized("Internal error"));
            }
        };
        match step {
            Step::Continue(prompt) => {
                if prompt.error.is_some() {
                    tracing::info!(
                        user = username.as_deref().unwrap_or("-"),
                        ip = %real_ip,
                        "login failed, asking again"
                    );
                }
                self.auth_txns.put_back(&id, conversation, group.clone());
                let resp = self.render_form(&prompt, group.as_deref(), false);
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
                let reason = match f.reason {
                    FailureReason::BackendError => "Internal error",
                    _ => "Authentication failed",
                };
                AuthOutcome::Close(Response::unauthorized(reason))
            }
            Step::Success(identity) => {
                self.auth_txns.finish(&id);
                conn.transaction = None;
                self.auth_success(identity, group, real_ip)
            }
        }
    }

    fn auth_success(
        &self,
        identity: Identity,
        group: Option<String>,
        real_ip: std::net::IpAddr,
    ) -> AuthOutcome {
        let group = match group {
            Some(g) if identity.groups.contains(&g) => g,
            Some(g) => {
                tracing::warn!(
                    user = %identity.username, ip = %real_ip, group = %g,
                    "authentication refused: user is not a member of the selected group"
                );
                return AuthOutcome::Close(Response::unauthorized("Authentication failed"));
            }
            None => identity.groups.first().cloned().unwrap_or_default(),
        };
        let cookie = self.sessions.create(
            crate::sessions::NewSession {
                username: &identity.username,
                group: &group,
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
