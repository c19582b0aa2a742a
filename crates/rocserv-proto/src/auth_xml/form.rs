//! The legacy (non-XML) urlencoded form flow, protocol.md §2.8.

use super::{check_username, AuthParseError, ClientAuthMessage, ClientMessageKind};
use crate::secret::Secret;

/// Parses `username=..&password=..&group_list=..`. `group%5flist` decodes to `group_list`
/// like any other percent-escape. First occurrence of a name wins.
pub(super) fn parse_form(body: &[u8]) -> Result<ClientAuthMessage, AuthParseError> {
    let mut msg = ClientAuthMessage::empty(ClientMessageKind::Init);
    let mut username: Option<String> = None;
    for (name, value) in form_urlencoded::parse(body) {
        match name.as_ref() {
            "username" if username.is_none() => username = Some(value.into_owned()),
            "password" if msg.password.is_none() => {
                msg.password = Some(Secret::new(value.into_owned()));
            }
            "secondary_password" if msg.secondary_password.is_none() => {
                msg.secondary_password = Some(Secret::new(value.into_owned()));
            }
            "group_list" if msg.group_select.is_none() => {
                let group = value.trim();
                if !group.is_empty() {
                    msg.group_select = Some(group.to_owned());
                }
            }
            _ => {}
        }
    }
    msg.username = match username {
        Some(u) => check_username(&u)?,
        None => None,
    };
    if msg.username.is_some() || msg.password.is_some() || msg.secondary_password.is_some() {
        msg.kind = ClientMessageKind::AuthReply;
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_only() {
        let m = parse_form(b"username=alice").unwrap();
        assert_eq!(m.kind, ClientMessageKind::AuthReply);
        assert_eq!(m.username.as_deref(), Some("alice"));
        assert!(m.password.is_none());
    }

    #[test]
    fn password_only_round() {
        let m = parse_form(b"password=secret123").unwrap();
        assert_eq!(m.kind, ClientMessageKind::AuthReply);
        assert_eq!(m.password.as_ref().map(Secret::expose), Some("secret123"));
        assert!(m.username.is_none());
    }

    #[test]
    fn full_form_with_escapes() {
        let m = parse_form(
            b"username=bob%40corp&password=p%26ss+word%3D&group%5flist=Group+B&secondary_password=755224",
        )
        .unwrap();
        assert_eq!(m.username.as_deref(), Some("bob@corp"));
        assert_eq!(m.password.as_ref().map(Secret::expose), Some("p&ss word="));
        assert_eq!(
            m.secondary_password.as_ref().map(Secret::expose),
            Some("755224")
        );
        assert_eq!(m.group_select.as_deref(), Some("Group B"));
    }

    #[test]
    fn group_list_plain_name() {
        let m = parse_form(b"group_list=groupA").unwrap();
        assert_eq!(m.kind, ClientMessageKind::Init);
        assert_eq!(m.group_select.as_deref(), Some("groupA"));
    }

    #[test]
    fn first_occurrence_wins() {
        let m = parse_form(b"username=a&username=b").unwrap();
        assert_eq!(m.username.as_deref(), Some("a"));
    }

    #[test]
    fn bad_usernames() {
        assert_eq!(
            parse_form(b"username=a%0Ab").unwrap_err(),
            AuthParseError::BadUsername
        );
        let long = format!("username={}", "x".repeat(64));
        assert_eq!(
            parse_form(long.as_bytes()).unwrap_err(),
            AuthParseError::BadUsername
        );
        let ok = format!("username={}", "x".repeat(63));
        assert!(parse_form(ok.as_bytes()).is_ok());
    }

    #[test]
    fn garbage_is_harmless() {
        let m = parse_form(b"%%%&&==&\xff\xfe").unwrap();
        assert_eq!(m.kind, ClientMessageKind::Init);
    }
}
