//! Form bodies and query strings as ordered (name, value) pairs: checkboxes repeat a name, and
//! a missing field reads as empty, so handlers validate values instead of failing to parse.

/// An `application/x-www-form-urlencoded` body or a query string.
#[derive(Debug, Clone, Default)]
pub struct FormData(pub Vec<(String, String)>);

impl FormData {
    pub fn parse(bytes: &[u8]) -> FormData {
        FormData(
            form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of a field, trimmed ("" when absent).
    pub fn get(&self, k: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim())
            .unwrap_or("")
    }

    /// A field's value, None when absent or blank.
    pub fn opt(&self, k: &str) -> Option<String> {
        Some(self.get(k))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// Every non-blank value of a repeated field (checkboxes).
    pub fn all(&self, k: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, v)| n == k && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    /// Every value of a repeated field in order, blanks included, so fields that repeat
    /// together (a row's date and title) pair up by position.
    pub fn values(&self, k: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    pub fn has(&self, k: &str, v: &str) -> bool {
        self.0.iter().any(|(n, x)| n == k && x == v)
    }

    /// Every value of a field that is either a set of checkboxes (the name repeated) or a
    /// text of comma- or whitespace-separated values (as API clients and older forms send).
    pub fn list(&self, k: &str) -> Vec<String> {
        let mut out: Vec<String> = vec![];
        for (_, v) in self.0.iter().filter(|(n, _)| n == k) {
            for x in v.split(|c: char| c == ',' || c.is_whitespace()) {
                if !x.is_empty() && !out.iter().any(|o| o == x) {
                    out.push(x.to_owned());
                }
            }
        }
        out
    }
}
