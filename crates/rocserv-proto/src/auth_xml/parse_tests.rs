use super::*;

/// The init document openconnect 9.01-3 POSTs first (protocol.md §1.5).
const OC_INIT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<config-auth client="vpn" type="init" aggregate-auth-version="2"><version who="vpn">v9.01-3</version><device-id>linux-64</device-id><capabilities><auth-method>single-sign-on-v2</auth-method><auth-method>single-sign-on-external-browser</auth-method></capabilities><group-access>https://vpn.test:4443/</group-access></config-auth>"#;

/// The auth-reply of protocol.md §2.3 (wrapped there; one line on the wire).
const OC_REPLY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<config-auth client="vpn" type="auth-reply" aggregate-auth-version="2"><version who="vpn">v9.01-3</version><device-id>linux-64</device-id><capabilities><auth-method>single-sign-on-v2</auth-method><auth-method>single-sign-on-external-browser</auth-method></capabilities><auth><username>bob</username></auth><group-select>groupA</group-select></config-auth>"#;

const XML_CT: Option<&str> = Some("application/xml; charset=utf-8");

fn pw(m: &ClientAuthMessage) -> Option<&str> {
    m.password.as_ref().map(Secret::expose)
}

#[test]
fn openconnect_init() {
    let m = parse_client_auth(XML_CT, OC_INIT.as_bytes()).unwrap();
    assert_eq!(m.kind, ClientMessageKind::Init);
    assert_eq!(m.client_version.as_deref(), Some("v9.01-3"));
    assert_eq!(m.device_id.as_deref(), Some("linux-64"));
    assert_eq!(m.group_access.as_deref(), Some("https://vpn.test:4443/"));
    assert_eq!(m.username, None);
    assert!(m.password.is_none());
    assert_eq!(m.group_select, None);
    assert_eq!(m.opaque, None);
}

#[test]
fn openconnect_auth_reply() {
    let m = parse_client_auth(XML_CT, OC_REPLY.as_bytes()).unwrap();
    assert_eq!(m.kind, ClientMessageKind::AuthReply);
    assert_eq!(m.username.as_deref(), Some("bob"));
    assert_eq!(m.group_select.as_deref(), Some("groupA"));
    assert!(m.password.is_none());
}

#[test]
fn wrapped_reply_with_whitespace_and_password() {
    let doc = r#"
<?xml version="1.0" encoding="UTF-8"?>
<config-auth client="vpn" type="auth-reply" aggregate-auth-version="2">
 <version who="vpn">v9.01-3</version><device-id>linux-64</device-id>
 <auth><username> bob </username><password> p&amp;w&lt;&gt;&quot;&apos;&#x41;&#66; </password>
 <secondary_password>755224</secondary_password></auth>
 <group-select>groupA</group-select>
</config-auth>
"#;
    let m = parse_client_auth(XML_CT, doc.as_bytes()).unwrap();
    assert_eq!(m.username.as_deref(), Some("bob"));
    // Passwords are taken verbatim (no trimming), entities resolved.
    assert_eq!(pw(&m), Some(" p&w<>\"'AB "));
    assert_eq!(
        m.secondary_password.as_ref().map(Secret::expose),
        Some("755224")
    );
}

#[test]
fn opaque_is_kept_verbatim() {
    let doc = r#"<config-auth client="vpn" type="auth-reply"><opaque is-for="sg"><tunnel-group>a&amp;b</tunnel-group><config-hash>1</config-hash></opaque><auth><password>x</password></auth></config-auth>"#;
    let m = parse_client_auth(None, doc.as_bytes()).unwrap();
    assert_eq!(
        m.opaque.as_deref(),
        Some("<tunnel-group>a&amp;b</tunnel-group><config-hash>1</config-hash>")
    );
    assert_eq!(pw(&m), Some("x"));
}

#[test]
fn large_opaque_is_dropped() {
    let doc = format!(
        "<config-auth type=\"auth-reply\"><opaque>{}</opaque></config-auth>",
        "a".repeat(MAX_OPAQUE_BYTES + 1)
    );
    let m = parse_client_auth(None, doc.as_bytes()).unwrap();
    assert_eq!(m.opaque, None);
}

#[test]
fn logout_and_other_kinds() {
    let m = parse_client_auth(
        None,
        br#"<config-auth client="vpn" type="logout"><session-token>x</session-token></config-auth>"#,
    )
    .unwrap();
    assert_eq!(m.kind, ClientMessageKind::Logout);
    let m = parse_client_auth(None, br#"<config-auth type="weird"/>"#).unwrap();
    assert_eq!(m.kind, ClientMessageKind::Other("weird".into()));
    let m = parse_client_auth(None, br#"<config-auth/>"#).unwrap();
    assert_eq!(m.kind, ClientMessageKind::Other(String::new()));
}

#[test]
fn unknown_elements_and_misplaced_fields_are_ignored() {
    let doc = br#"<config-auth type="auth-reply"><foo><username>evil</username></foo><username>top</username><auth><bar/><username>real</username></auth><capabilities><auth-method>x</auth-method></capabilities></config-auth>"#;
    let m = parse_client_auth(None, doc).unwrap();
    assert_eq!(m.username.as_deref(), Some("real"));
}

#[test]
fn cdata_and_comments() {
    let doc = br#"<config-auth type="auth-reply"><!-- c --><auth><password><![CDATA[a<b]]></password></auth></config-auth>"#;
    let m = parse_client_auth(None, doc).unwrap();
    assert_eq!(pw(&m), Some("a<b"));
}

#[test]
fn unknown_entity_is_kept_literally() {
    let doc = br#"<config-auth type="auth-reply"><auth><username>a&nbsp;b</username></auth></config-auth>"#;
    let m = parse_client_auth(None, doc).unwrap();
    assert_eq!(m.username.as_deref(), Some("a&nbsp;b"));
}

#[test]
fn dtd_is_refused() {
    let doc = br#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><config-auth type="init"><auth><username>&e;</username></auth></config-auth>"#;
    assert_eq!(
        parse_client_auth(None, doc),
        Err(AuthParseError::DtdNotAllowed)
    );
}

#[test]
fn wrong_root() {
    assert_eq!(
        parse_client_auth(None, b"<auth><username>a</username></auth>"),
        Err(AuthParseError::NotConfigAuth)
    );
    assert_eq!(
        parse_client_auth(None, b"<?xml version=\"1.0\"?><!-- only -->"),
        Err(AuthParseError::NotConfigAuth)
    );
}

#[test]
fn depth_is_bounded() {
    let mut doc = String::from("<config-auth type=\"init\">");
    for _ in 0..MAX_XML_DEPTH {
        doc.push_str("<a>");
    }
    assert_eq!(
        parse_client_auth(None, doc.as_bytes()),
        Err(AuthParseError::TooDeep)
    );
}

#[test]
fn size_is_bounded() {
    let doc = vec![b' '; MAX_AUTH_BODY_BYTES + 1];
    assert_eq!(parse_client_auth(None, &doc), Err(AuthParseError::TooLarge));
}

#[test]
fn malformed_xml() {
    for doc in [
        &b"<config-auth type=\"init\"><auth></config-auth>"[..],
        b"<config-auth type=\"init\">",
        b"<config-auth type=\"init\"></config-auth><second/>",
        b"<config-auth type=\"init\"><auth><username>a</username></auth",
        b"<config-auth type='init'><a></b></config-auth>",
    ] {
        let r = parse_client_auth(None, doc);
        assert!(
            matches!(r, Err(AuthParseError::Malformed(_))),
            "{:?} -> {r:?}",
            String::from_utf8_lossy(doc)
        );
    }
}

#[test]
fn bad_username_in_xml() {
    let doc = format!(
        "<config-auth type=\"auth-reply\"><auth><username>{}</username></auth></config-auth>",
        "u".repeat(64)
    );
    assert_eq!(
        parse_client_auth(None, doc.as_bytes()),
        Err(AuthParseError::BadUsername)
    );
    let doc =
        b"<config-auth type=\"auth-reply\"><auth><username>a&#9;b</username></auth></config-auth>";
    assert_eq!(
        parse_client_auth(None, doc),
        Err(AuthParseError::BadUsername)
    );
}

#[test]
fn empty_body_is_init() {
    for body in [&b""[..], b"  \r\n", b"\xEF\xBB\xBF"] {
        let m = parse_client_auth(Some("application/x-www-form-urlencoded"), body).unwrap();
        assert_eq!(m, ClientAuthMessage::empty(ClientMessageKind::Init));
    }
}

#[test]
fn legacy_form_dispatch() {
    let m =
        parse_client_auth(Some("application/x-www-form-urlencoded"), b"username=alice").unwrap();
    assert_eq!(m.kind, ClientMessageKind::AuthReply);
    assert_eq!(m.username.as_deref(), Some("alice"));
    // Not starting with '<' is treated as a form even without a content type.
    let m = parse_client_auth(None, b"password=secret123").unwrap();
    assert_eq!(pw(&m), Some("secret123"));
    // Content type wins over sniffing.
    let m = parse_client_auth(
        Some("Application/X-WWW-Form-Urlencoded; charset=x"),
        b"<x>=1",
    )
    .unwrap();
    assert_eq!(m.kind, ClientMessageKind::Init);
}

#[test]
fn bom_is_skipped() {
    let mut doc = b"\xEF\xBB\xBF".to_vec();
    doc.extend_from_slice(OC_REPLY.as_bytes());
    let m = parse_client_auth(XML_CT, &doc).unwrap();
    assert_eq!(m.username.as_deref(), Some("bob"));
}

#[test]
fn debug_does_not_leak_password() {
    let doc = br#"<config-auth type="auth-reply"><auth><username>u</username><password>SUPERSECRET</password></auth></config-auth>"#;
    let m = parse_client_auth(None, doc).unwrap();
    assert!(!format!("{m:?}").contains("SUPERSECRET"));
}

proptest::proptest! {
    #[test]
    fn arbitrary_bodies_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
                                    form in proptest::bool::ANY) {
        let ct = form.then_some("application/x-www-form-urlencoded");
        let _ = parse_client_auth(ct, &body);
    }

    #[test]
    fn xmlish_bodies_never_panic(body in "<config-auth type=\"(init|auth-reply)\">(<[a-z/]{1,8}>|[a-z&;#0-9]{0,6}|<!\\[CDATA\\[x\\]\\]>){0,20}(</config-auth>)?") {
        let _ = parse_client_auth(None, body.as_bytes());
    }
}
