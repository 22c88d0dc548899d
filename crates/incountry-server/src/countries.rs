//! `GET /countries`: the countries list the SDKs route with.

use serde_json::{Value, json};

use crate::config::Countries;

/// `(code, name, region)` of the countries listed when any country is served.
const KNOWN: [(&str, &str, &str); 24] = [
    ("AE", "United Arab Emirates", "EMEA"),
    ("AU", "Australia", "APAC"),
    ("BR", "Brazil", "AMER"),
    ("CA", "Canada", "AMER"),
    ("CH", "Switzerland", "EMEA"),
    ("CN", "China", "APAC"),
    ("DE", "Germany", "EMEA"),
    ("ES", "Spain", "EMEA"),
    ("FR", "France", "EMEA"),
    ("GB", "United Kingdom", "EMEA"),
    ("HK", "Hong Kong", "APAC"),
    ("ID", "Indonesia", "APAC"),
    ("IN", "India", "APAC"),
    ("IT", "Italy", "EMEA"),
    ("JP", "Japan", "APAC"),
    ("KR", "South Korea", "APAC"),
    ("MX", "Mexico", "AMER"),
    ("NL", "Netherlands", "EMEA"),
    ("RU", "Russia", "EMEA"),
    ("SA", "Saudi Arabia", "EMEA"),
    ("SE", "Sweden", "EMEA"),
    ("SG", "Singapore", "APAC"),
    ("US", "United States", "AMER"),
    ("ZA", "South Africa", "EMEA"),
];

/// The body of `GET /countries` for the countries this server serves, all `direct`.
pub(crate) fn countries_body(countries: &Countries) -> Value {
    let entry = |code: &str, name: &str, region: &str| json!({"id": code, "name": name, "direct": true, "region": region});
    let list: Vec<Value> = match countries {
        Countries::Any => KNOWN
            .iter()
            .map(|(code, name, region)| entry(code, name, region))
            .collect(),
        Countries::Only(served) => served
            .iter()
            .map(|country| {
                let code = country.as_str().to_ascii_uppercase();
                match KNOWN.iter().find(|(c, _, _)| *c == code) {
                    Some((_, name, region)) => entry(&code, name, region),
                    None => entry(&code, &code, ""),
                }
            })
            .collect(),
    };
    json!({ "countries": list })
}
