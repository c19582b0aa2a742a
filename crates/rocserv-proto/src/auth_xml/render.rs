//! Rendering the server's `config-auth` documents.

use std::fmt::Write as _;

use super::{AuthForm, FormField};

const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
const SERVER_VERSION: &str = "<version who=\"sg\">0.1(1)</version>\n";

/// Escapes `s` for XML text and attribute values (`& < > " '`), and drops characters XML 1.0
/// cannot carry (control characters other than tab, CR and LF).
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn element(out: &mut String, name: &str, text: Option<&str>) {
    if let Some(text) = text {
        let _ = write!(out, "<{name}>{}</{name}>", xml_escape(text));
    }
}

/// Renders an `auth-request` document (protocol.md §2.2, ocserv-reference §2.3).
pub fn render_auth_request(form: &AuthForm) -> String {
    let mut out = String::with_capacity(512);
    out.push_str(XML_DECL);
    out.push_str(
        "<config-auth client=\"vpn\" type=\"auth-request\" aggregate-auth-version=\"2\">\n",
    );
    out.push_str(SERVER_VERSION);
    let _ = writeln!(out, "<auth id=\"{}\">", xml_escape(&form.auth_id));
    let mut texts = String::new();
    element(&mut texts, "title", form.title.as_deref());
    element(&mut texts, "banner", form.banner.as_deref());
    element(&mut texts, "message", form.message.as_deref());
    element(&mut texts, "error", form.error.as_deref());
    if !texts.is_empty() {
        out.push_str(&texts);
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "<form method=\"post\" action=\"{}\">",
        xml_escape(&form.action)
    );
    for field in &form.fields {
        let _ = match field {
            FormField::Text { name, label } => writeln!(
                out,
                "<input type=\"text\" name=\"{}\" label=\"{}\" />",
                xml_escape(name),
                xml_escape(label)
            ),
            FormField::Password { name, label } => writeln!(
                out,
                "<input type=\"password\" name=\"{}\" label=\"{}\" />",
                xml_escape(name),
                xml_escape(label)
            ),
            FormField::Hidden { name, value } => writeln!(
                out,
                "<input type=\"hidden\" name=\"{}\" value=\"{}\" />",
                xml_escape(name),
                xml_escape(value)
            ),
        };
    }
    if !form.groups.is_empty() {
        out.push_str("<select name=\"group_list\" label=\"Group:\">\n");
        for group in &form.groups {
            let selected = if form.selected_group.as_deref() == Some(group.value.as_str()) {
                " selected=\"true\""
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "<option value=\"{}\"{selected}>{}</option>",
                xml_escape(&group.value),
                xml_escape(&group.label)
            );
        }
        out.push_str("</select>\n");
    }
    out.push_str("</form></auth>\n</config-auth>\n");
    out
}

/// Renders the `complete` document that ends a successful authentication. The same cookie
/// value must also be sent as `Set-Cookie: webvpn=...` (protocol.md §2.6).
pub fn render_auth_complete(banner: Option<&str>, session_token: &str) -> String {
    let mut out = String::with_capacity(384);
    out.push_str(XML_DECL);
    out.push_str("<config-auth client=\"vpn\" type=\"complete\" aggregate-auth-version=\"2\">\n");
    out.push_str(SERVER_VERSION);
    element(&mut out, "session-token", Some(session_token));
    out.push_str("\n<auth id=\"success\">\n<title>SSL VPN Service</title>");
    element(&mut out, "banner", banner);
    out.push_str("</auth></config-auth>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::super::{parse_client_auth, ClientMessageKind, GroupOption};
    use super::*;

    #[test]
    fn escape_all_specials() {
        assert_eq!(
            xml_escape("a&b<c>d\"e'f\u{1}g\nh"),
            "a&amp;b&lt;c&gt;d&quot;e&apos;fg\nh"
        );
    }

    #[test]
    fn username_password_form_exact() {
        let form =
            AuthForm::username_password(Some("Please enter your username and password.".into()));
        assert_eq!(
            render_auth_request(&form),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<config-auth client=\"vpn\" type=\"auth-request\" aggregate-auth-version=\"2\">\n\
<version who=\"sg\">0.1(1)</version>\n\
<auth id=\"main\">\n\
<message>Please enter your username and password.</message>\n\
<form method=\"post\" action=\"/auth\">\n\
<input type=\"text\" name=\"username\" label=\"Username:\" />\n\
<input type=\"password\" name=\"password\" label=\"Password:\" />\n\
</form></auth>\n\
</config-auth>\n"
        );
    }

    #[test]
    fn form_with_everything_is_escaped() {
        let mut form = AuthForm::username_password(None);
        form.auth_id = "challenge".into();
        form.title = Some("T".into());
        form.banner = Some("Authorized <users> only & \"friends\"".into());
        form.error = Some("Login failed.".into());
        form.fields.push(FormField::Hidden {
            name: "state".into(),
            value: "a\"b<".into(),
        });
        form.groups = vec![
            GroupOption {
                value: "groupA".into(),
                label: "groupA".into(),
            },
            GroupOption {
                value: "groupB".into(),
                label: "Group B & friends".into(),
            },
        ];
        form.selected_group = Some("groupB".into());
        let xml = render_auth_request(&form);
        assert!(
            xml.contains("<auth id=\"challenge\">\n<title>T</title>"),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<banner>Authorized &lt;users&gt; only &amp; &quot;friends&quot;</banner>"
            ),
            "{xml}"
        );
        assert!(xml.contains("<error>Login failed.</error>"), "{xml}");
        assert!(
            xml.contains("<input type=\"hidden\" name=\"state\" value=\"a&quot;b&lt;\" />"),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<select name=\"group_list\" label=\"Group:\">\n\
<option value=\"groupA\">groupA</option>\n\
<option value=\"groupB\" selected=\"true\">Group B &amp; friends</option>\n\
</select>\n</form>"
            ),
            "{xml}"
        );
        // The document is well-formed: our own XML parser (which refuses malformed input)
        // accepts it once the root type is that of a client message.
        let as_client = xml.replace("type=\"auth-request\"", "type=\"auth-reply\"");
        let parsed = parse_client_auth(None, as_client.as_bytes()).unwrap();
        assert_eq!(parsed.kind, ClientMessageKind::AuthReply);
    }

    #[test]
    fn complete_document() {
        let xml = render_auth_complete(Some("Welcome to the test VPN"), "Zm9v+/==");
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<config-auth client=\"vpn\" type=\"complete\" aggregate-auth-version=\"2\">\n\
<version who=\"sg\">0.1(1)</version>\n\
<session-token>Zm9v+/==</session-token>\n\
<auth id=\"success\">\n\
<title>SSL VPN Service</title><banner>Welcome to the test VPN</banner></auth></config-auth>\n"
        );
        let no_banner = render_auth_complete(None, "t<");
        assert!(no_banner.contains("<session-token>t&lt;</session-token>"));
        assert!(!no_banner.contains("<banner>"));
    }
}
