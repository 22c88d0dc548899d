#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The User-Agent and the rules for custom headers.

use incountry_transport::headers::{
    HeaderError, RESERVED_HEADERS, USER_AGENT, custom_header, custom_headers, user_agent,
};

#[test]
fn user_agent_names_the_rust_sdk_and_its_version() {
    assert_eq!(
        USER_AGENT,
        format!("SDK-Rust/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(user_agent(), USER_AGENT);
}

#[test]
fn valid_custom_headers_are_collected() {
    let map = custom_headers([
        ("X-Request-Id", "42"),
        ("x-trace", "a b"),
        ("X-Request-Id", "43"),
    ])
    .unwrap();
    assert_eq!(map.get_all("x-request-id").iter().count(), 2);
    assert_eq!(map["x-trace"], "a b");
}

#[test]
fn reserved_headers_cannot_be_overridden_in_any_case() {
    for name in RESERVED_HEADERS
        .iter()
        .flat_map(|name| [name.to_string(), name.to_uppercase()])
        .chain(["Authorization".to_owned(), "X-Env-Id".to_owned()])
    {
        let error = custom_header(&name, "value").unwrap_err();
        assert!(
            matches!(error, HeaderError::Reserved { .. }),
            "{name}: {error:?}"
        );
        assert!(error.to_string().contains(&name), "{error}");
    }
}

#[test]
fn empty_names_and_values_are_rejected() {
    assert_eq!(custom_header("", "v").unwrap_err(), HeaderError::EmptyName);
    assert_eq!(
        custom_header("x-a", "").unwrap_err(),
        HeaderError::EmptyValue {
            name: "x-a".to_owned()
        }
    );
}

#[test]
fn leading_or_trailing_spaces_are_rejected() {
    for name in [" x-a", "x-a ", "\tx-a"] {
        assert!(matches!(
            custom_header(name, "v").unwrap_err(),
            HeaderError::NameWhitespace { .. }
        ));
    }
    for value in [" v", "v ", "v\t"] {
        assert!(matches!(
            custom_header("x-a", value).unwrap_err(),
            HeaderError::ValueWhitespace { .. }
        ));
    }
}

#[test]
fn invalid_http_syntax_is_rejected_naming_the_header_but_not_the_value() {
    let error = custom_header("x a", "v").unwrap_err();
    assert_eq!(
        error,
        HeaderError::InvalidName {
            name: "x a".to_owned()
        }
    );
    let error = custom_header("x-a", "secret\r\nx-injected: 1").unwrap_err();
    assert_eq!(
        error,
        HeaderError::InvalidValue {
            name: "x-a".to_owned()
        }
    );
    assert!(!error.to_string().contains("secret"), "{error}");
}

#[test]
fn the_first_invalid_header_fails_the_set() {
    let error = custom_headers([("x-ok", "1"), ("User-Agent", "mine")]).unwrap_err();
    assert!(matches!(error, HeaderError::Reserved { ref name, .. } if name == "User-Agent"));
}
