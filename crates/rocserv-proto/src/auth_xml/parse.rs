//! Parsing the client's authentication POST bodies.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use zeroize::Zeroize;

use super::form::parse_form;
use super::{check_username, AuthParseError, ClientAuthMessage, ClientMessageKind};
use crate::secret::Secret;

/// Largest authentication body accepted, in bytes.
pub const MAX_AUTH_BODY_BYTES: usize = 64 * 1024;
/// Deepest element nesting accepted in a `config-auth` document.
pub const MAX_XML_DEPTH: usize = 16;
/// Largest `<opaque>` content kept, in bytes; larger ones are dropped (`None`).
pub const MAX_OPAQUE_BYTES: usize = 4096;

/// Parses one authentication POST body (or an empty GET body).
///
/// * empty body → [`ClientMessageKind::Init`];
/// * `application/x-www-form-urlencoded`, or a body not starting with `<` → the legacy
///   form (`AuthReply` if it carries a username or password, else `Init`);
/// * otherwise a `<config-auth type="...">` XML document. Unknown elements are ignored,
///   DTDs are refused, nesting and size are bounded.
pub fn parse_client_auth(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<ClientAuthMessage, AuthParseError> {
    if body.len() > MAX_AUTH_BODY_BYTES {
        return Err(AuthParseError::TooLarge);
    }
    let content = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let Some(first) = content.iter().find(|b| !b.is_ascii_whitespace()) else {
        return Ok(ClientAuthMessage::empty(ClientMessageKind::Init));
    };
    let is_form = content_type.is_some_and(|ct| {
        ct.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    if is_form || *first != b'<' {
        parse_form(content)
    } else {
        parse_xml(content)
    }
}

/// Fields captured from the XML document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Username,
    Password,
    SecondaryPassword,
    GroupSelect,
    GroupAccess,
    DeviceId,
    Version,
}

/// Which field (if any) the element at `path` (local names from the root) holds.
fn target_for(path: &[String]) -> Option<Target> {
    match path {
        [_, auth, field] if auth == "auth" => match field.as_str() {
            "username" => Some(Target::Username),
            "password" => Some(Target::Password),
            "secondary_password" => Some(Target::SecondaryPassword),
            _ => None,
        },
        [_, field] => match field.as_str() {
            "group-select" => Some(Target::GroupSelect),
            "group-access" => Some(Target::GroupAccess),
            "device-id" => Some(Target::DeviceId),
            "version" => Some(Target::Version),
            _ => None,
        },
        _ => None,
    }
}

fn is_opaque(path: &[String]) -> bool {
    matches!(path, [_, o] if o == "opaque")
}

fn malformed(e: impl std::fmt::Display) -> AuthParseError {
    AuthParseError::Malformed(e.to_string())
}

fn local_name(e: &BytesStart<'_>) -> Result<String, AuthParseError> {
    std::str::from_utf8(e.local_name().as_ref())
        .map(str::to_owned)
        .map_err(malformed)
}

fn root_kind(e: &BytesStart<'_>) -> Result<ClientMessageKind, AuthParseError> {
    if local_name(e)? != "config-auth" {
        return Err(AuthParseError::NotConfigAuth);
    }
    let ty = match e.try_get_attribute("type").map_err(malformed)? {
        Some(attr) => attr.unescape_value().map_err(malformed)?.into_owned(),
        None => String::new(),
    };
    Ok(match ty.as_str() {
        "init" => ClientMessageKind::Init,
        "auth-reply" => ClientMessageKind::AuthReply,
        "logout" => ClientMessageKind::Logout,
        _ => ClientMessageKind::Other(ty),
    })
}

/// Trimmed, `None` when empty.
fn non_empty(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn store(
    msg: &mut ClientAuthMessage,
    target: Target,
    mut text: String,
) -> Result<(), AuthParseError> {
    match target {
        Target::Username if msg.username.is_none() => msg.username = check_username(&text)?,
        Target::Password if msg.password.is_none() => {
            msg.password = Some(Secret::new(std::mem::take(&mut text)));
        }
        Target::SecondaryPassword if msg.secondary_password.is_none() => {
            msg.secondary_password = Some(Secret::new(std::mem::take(&mut text)));
        }
        Target::GroupSelect if msg.group_select.is_none() => msg.group_select = non_empty(&text),
        Target::GroupAccess if msg.group_access.is_none() => msg.group_access = non_empty(&text),
        Target::DeviceId if msg.device_id.is_none() => msg.device_id = non_empty(&text),
        Target::Version if msg.client_version.is_none() => {
            msg.client_version = non_empty(&text);
        }
        _ => {}
    }
    text.zeroize();
    Ok(())
}

/// Text being collected for one field: the field and the element depth it started at.
struct Capture {
    target: Target,
    depth: usize,
    text: String,
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.text.zeroize();
    }
}

fn parse_xml(body: &[u8]) -> Result<ClientAuthMessage, AuthParseError> {
    let mut reader = Reader::from_reader(body);
    reader.config_mut().check_end_names = true;
    let mut msg: Option<ClientAuthMessage> = None;
    let mut root_done = false;
    let mut stack: Vec<String> = Vec::new();
    let mut capture: Option<Capture> = None;
    let mut opaque_start: Option<usize> = None;

    loop {
        let before = usize::try_from(reader.buffer_position()).map_err(malformed)?;
        let event = reader.read_event().map_err(malformed)?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(event, Event::Empty(_));
                if root_done {
                    return Err(malformed("content after the root element"));
                }
                if stack.is_empty() {
                    msg = Some(ClientAuthMessage::empty(root_kind(e)?));
                }
                stack.push(local_name(e)?);
                if stack.len() > MAX_XML_DEPTH {
                    return Err(AuthParseError::TooDeep);
                }
                if is_empty {
                    if let Some(m) = msg.as_mut() {
                        if is_opaque(&stack) && m.opaque.is_none() {
                            m.opaque = Some(String::new());
                        }
                    }
                    stack.pop();
                    root_done = stack.is_empty();
                    continue;
                }
                if capture.is_none() {
                    if let Some(target) = target_for(&stack) {
                        capture = Some(Capture {
                            target,
                            depth: stack.len(),
                            text: String::new(),
                        });
                    }
                }
                if is_opaque(&stack) {
                    opaque_start =
                        Some(usize::try_from(reader.buffer_position()).map_err(malformed)?);
                }
            }
            Event::End(_) => {
                let Some(m) = msg.as_mut() else {
                    return Err(malformed("unexpected end tag"));
                };
                if capture.as_ref().is_some_and(|c| c.depth == stack.len()) {
                    if let Some(mut c) = capture.take() {
                        let text = std::mem::take(&mut c.text);
                        store(m, c.target, text)?;
                    }
                }
                if is_opaque(&stack) {
                    if let Some(start) = opaque_start.take() {
                        let inner = body.get(start..before).unwrap_or_default();
                        if m.opaque.is_none() && inner.len() <= MAX_OPAQUE_BYTES {
                            m.opaque = std::str::from_utf8(inner).ok().map(str::to_owned);
                        }
                    }
                }
                stack.pop();
                root_done = stack.is_empty();
            }
            Event::Text(t) => {
                if let Some(c) = capture.as_mut() {
                    c.text.push_str(&t.xml10_content().map_err(malformed)?);
                }
            }
            Event::CData(t) => {
                if let Some(c) = capture.as_mut() {
                    c.text.push_str(&t.xml10_content().map_err(malformed)?);
                }
            }
            Event::GeneralRef(r) => {
                if let Some(c) = capture.as_mut() {
                    let name = r.decode().map_err(malformed)?;
                    let entity = format!("&{name};");
                    match quick_xml::escape::unescape(&entity) {
                        Ok(resolved) => c.text.push_str(&resolved),
                        // Unknown entity: keep it literally, like a lenient HTML parser.
                        Err(_) => c.text.push_str(&entity),
                    }
                }
            }
            Event::DocType(_) => return Err(AuthParseError::DtdNotAllowed),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(malformed("unexpected end of document"));
    }
    msg.ok_or(AuthParseError::NotConfigAuth)
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
