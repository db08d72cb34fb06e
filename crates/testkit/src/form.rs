//! `application/x-www-form-urlencoded`, decoded (the stub's requests; Stripe's bodies).

/// Decodes `a=1&b%5Bc%5D=2` into pairs, in order. `+` is a space.
pub fn decode_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decodes `%XX` escapes and `+`; malformed escapes stay as they are.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_nested_keys_and_escapes() {
        assert_eq!(
            decode_form("amount=100&metadata%5Bk%5D=a%20b+c&expand[0]=latest_charge&x=%zz"),
            vec![
                ("amount".to_owned(), "100".to_owned()),
                ("metadata[k]".to_owned(), "a b c".to_owned()),
                ("expand[0]".to_owned(), "latest_charge".to_owned()),
                ("x".to_owned(), "%zz".to_owned()),
            ]
        );
        assert_eq!(percent_decode("%41%"), "A%");
    }
}
