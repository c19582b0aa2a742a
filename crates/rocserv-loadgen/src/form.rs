//! The server's `config-auth` documents as the client reads them (protocol.md §2.2, §2.6):
//! a lenient tag scanner that extracts the form, the opaque block and the success marker.

/// One form input the client has to fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// `type=` (`text`, `password`, `hidden`, ...).
    pub kind: String,
    /// `name=`.
    pub name: String,
    /// `value=` (hidden inputs).
    pub value: String,
}

/// What a server document asks the client to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthDoc {
    /// `type="complete"` / `<auth id="success">`; the `<session-token>` when present.
    Complete {
        /// The session token (same value as the `webvpn` cookie).
        session_token: Option<String>,
    },
    /// A form to fill and POST to `action`.
    Form {
        /// The form's `action` (default `/`).
        action: String,
        /// The inputs that are sent back (submit/reset skipped).
        inputs: Vec<Input>,
        /// The `<opaque>` element, verbatim, to echo.
        opaque: Option<String>,
        /// The `<message>` / `<error>` text (for failure reports).
        message: String,
    },
}

/// A document that is neither a form nor a success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no <form> and no success in the server's auth document")]
pub struct NoForm;

/// One `<name attr="v" ...>` tag; `None` for closing tags, comments and declarations.
struct Tag<'a> {
    name: &'a str,
    attrs: &'a str,
}

impl Tag<'_> {
    fn attr(&self, key: &str) -> Option<String> {
        let mut rest = self.attrs;
        while let Some(eq) = rest.find('=') {
            let name = rest.get(..eq).unwrap_or_default().trim();
            let after = rest.get(eq + 1..).unwrap_or_default().trim_start();
            let quote = after.chars().next()?;
            if quote != '"' && quote != '\'' {
                return None;
            }
            let body = after.get(1..).unwrap_or_default();
            let end = body.find(quote)?;
            if name == key {
                return Some(unescape(body.get(..end).unwrap_or_default()));
            }
            rest = body.get(end + 1..).unwrap_or_default();
        }
        None
    }
}

/// Iterates the opening (and self-closing) tags of `doc` with their byte offsets.
fn tags(doc: &str) -> impl Iterator<Item = (usize, usize, Tag<'_>)> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || loop {
        let start = pos + doc.get(pos..)?.find('<')?;
        let end = start + doc.get(start..)?.find('>')?;
        pos = end + 1;
        let inner = doc.get(start + 1..end)?;
        let inner = inner.strip_suffix('/').unwrap_or(inner);
        if inner.starts_with(['/', '?', '!']) {
            continue;
        }
        let (name, attrs) = inner
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((inner, ""));
        return Some((start, end + 1, Tag { name, attrs }));
    })
}

/// Minimal entity decoding (the five XML entities).
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Text between `<name...>` and `</name>`, first occurrence.
fn element_text(doc: &str, name: &str) -> Option<String> {
    let (_, end, _) = tags(doc).find(|(_, _, t)| t.name == name)?;
    let rest = doc.get(end..)?;
    let close = rest.find(&format!("</{name}>"))?;
    Some(unescape(rest.get(..close)?.trim()))
}

/// Reads one server document.
pub fn parse_auth_doc(doc: &str) -> Result<AuthDoc, NoForm> {
    let success = tags(doc).any(|(_, _, t)| {
        (t.name == "config-auth" && t.attr("type").as_deref() == Some("complete"))
            || (t.name == "auth" && t.attr("id").as_deref() == Some("success"))
    });
    if success {
        return Ok(AuthDoc::Complete {
            session_token: element_text(doc, "session-token").filter(|t| !t.is_empty()),
        });
    }
    let mut action = None;
    let mut inputs = Vec::new();
    let mut opaque = None;
    for (start, _, tag) in tags(doc) {
        match tag.name {
            "form" => action = Some(tag.attr("action").unwrap_or_else(|| "/".to_owned())),
            "input" => {
                let (Some(kind), Some(name)) = (tag.attr("type"), tag.attr("name")) else {
                    continue;
                };
                if matches!(kind.as_str(), "submit" | "reset") {
                    continue;
                }
                let value = tag.attr("value").unwrap_or_default();
                inputs.push(Input { kind, name, value });
            }
            "opaque" if opaque.is_none() => {
                let close = "</opaque>";
                opaque = doc
                    .get(start..)
                    .and_then(|r| r.find(close).and_then(|e| r.get(..e + close.len())))
                    .map(str::to_owned);
            }
            _ => {}
        }
    }
    let action = action.ok_or(NoForm)?;
    let message = [element_text(doc, "error"), element_text(doc, "message")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" / ");
    Ok(AuthDoc::Form {
        action,
        inputs,
        opaque,
        message,
    })
}

/// Fills a form as openconnect's non-interactive CLI would with `--user` and
/// `--passwd-on-stdin`: text inputs get the user name, password inputs the password, hidden
/// inputs their value. `None` when the form contains nothing we can answer.
pub fn fill(inputs: &[Input], user: &str, password: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for i in inputs {
        let value = match i.kind.as_str() {
            "text" => user,
            "password" => password,
            "hidden" => i.value.as_str(),
            _ => continue,
        };
        out.push((i.name.clone(), value.to_owned()));
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OCSERV_FIRST: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<config-auth client=\"vpn\" type=\"auth-request\">\n<version who=\"sg\">0.1(1)</version>\n\
<auth id=\"main\">\n<banner>Authorized users only</banner><message>Please enter your username.</message>\n\
<form method=\"post\" action=\"/auth\">\n<input type=\"text\" name=\"username\" label=\"Username:\" />\n\
</form></auth>\n</config-auth>";

    const OCSERV_SUCCESS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<config-auth client=\"vpn\" type=\"complete\">\n<version who=\"sg\">0.1(1)</version>\n\
<auth id=\"success\">\n<title>SSL VPN Service</title><banner>Welcome</banner></auth></config-auth>";

    #[test]
    fn ocserv_first_form_is_a_username_form_posted_to_auth() {
        let doc = parse_auth_doc(OCSERV_FIRST);
        let Ok(AuthDoc::Form {
            action,
            inputs,
            opaque,
            message,
        }) = doc
        else {
            panic!("{doc:?}");
        };
        assert_eq!(action, "/auth");
        assert_eq!(opaque, None);
        assert_eq!(message, "Please enter your username.");
        assert_eq!(
            inputs,
            vec![Input {
                kind: "text".into(),
                name: "username".into(),
                value: String::new()
            }]
        );
        assert_eq!(
            fill(&inputs, "bob", "pw"),
            Some(vec![("username".into(), "bob".into())])
        );
    }

    #[test]
    fn success_document_is_complete_with_optional_token() {
        assert_eq!(
            parse_auth_doc(OCSERV_SUCCESS),
            Ok(AuthDoc::Complete {
                session_token: None
            })
        );
        let cisco = "<config-auth client=\"vpn\" type=\"complete\"><session-token>abc&amp;d\
                     </session-token><auth id=\"success\"/></config-auth>";
        assert_eq!(
            parse_auth_doc(cisco),
            Ok(AuthDoc::Complete {
                session_token: Some("abc&d".into())
            })
        );
    }

    #[test]
    fn password_hidden_select_and_opaque() {
        let doc = "<config-auth type=\"auth-request\"><opaque is-for=\"sg\"><x>1</x></opaque>\
                   <auth id=\"main\"><error>Login failed.</error><form>\
                   <input type='password' name='password' label='P'/>\
                   <input type=\"hidden\" name=\"tok\" value=\"a&lt;b\"/>\
                   <input type=\"submit\" name=\"go\"/><input name=\"noname\"/>\
                   <select name=\"group_list\"><option>g</option></select></form></auth></config-auth>";
        let Ok(AuthDoc::Form {
            action,
            inputs,
            opaque,
            message,
        }) = parse_auth_doc(doc)
        else {
            panic!("not a form");
        };
        assert_eq!(action, "/");
        assert_eq!(
            opaque.as_deref(),
            Some("<opaque is-for=\"sg\"><x>1</x></opaque>")
        );
        assert_eq!(message, "Login failed.");
        assert_eq!(
            fill(&inputs, "u", "secret"),
            Some(vec![
                ("password".into(), "secret".into()),
                ("tok".into(), "a<b".into())
            ])
        );
    }

    #[test]
    fn garbage_is_no_form_and_never_panics() {
        for doc in [
            "",
            "<",
            "<form",
            "<<>>",
            "<input type=\"x",
            "<a b=c>",
            "plain text",
        ] {
            assert_eq!(parse_auth_doc(doc), Err(NoForm), "{doc}");
        }
        assert_eq!(fill(&[], "u", "p"), None);
    }
}
