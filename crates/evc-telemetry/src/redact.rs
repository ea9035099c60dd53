//! Credentials out of URLs before they reach a log line or an error message.

/// Every URL in `text` with the password of its user info replaced by `***`
/// (`postgres://app:s3cret@db/x` → `postgres://app:***@db/x`); a comma-separated list of URLs
/// has each one redacted; text without credentials comes back unchanged.
///
/// Passwords may hold characters URLs forbid (`/`, `#`, `?`): the user info runs to the last
/// `@` of the URL, so an `@` in a path makes more text hidden, never less.
pub fn redact_url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let token_end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, ',' | '"' | '\'' | '<' | '>'))
            .unwrap_or(rest.len());
        let token = &rest[..token_end];
        match token.rfind('@') {
            Some(at) => {
                let userinfo = &token[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon]);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&token[at..]);
            }
            None => out.push_str(token),
        }
        rest = &rest[token_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/x?schema=y"),
            "postgres://app:***@db:5432/x?schema=y"
        );
        assert_eq!(
            redact_url("http://a:p@h1:8081,http://b:q@h2:8081"),
            "http://a:***@h1:8081,http://b:***@h2:8081"
        );
        assert_eq!(
            redact_url("cannot reach http://u:pa/ss#w@h:1/x: refused"),
            "cannot reach http://u:***@h:1/x: refused"
        );
        assert_eq!(redact_url("http://user@h/x"), "http://user@h/x");
        assert_eq!(
            redact_url("http://h:8081/subjects"),
            "http://h:8081/subjects"
        );
        assert_eq!(redact_url("no url here"), "no url here");
        assert_eq!(redact_url("sqlite://evc.db"), "sqlite://evc.db");
    }
}
