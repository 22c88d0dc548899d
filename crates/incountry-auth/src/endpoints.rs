//! OAuth token endpoints by auth region.

use std::collections::BTreeMap;

use crate::error::AuthError;

/// The region whose endpoint serves every region without its own.
pub const DEFAULT_AUTH_REGION: &str = "default";

/// The token endpoints of the InCountry platform: `apac`, `emea`, and `default` (= `emea`).
pub const DEFAULT_AUTH_ENDPOINTS: [(&str, &str); 3] = [
    ("apac", "https://auth-apac.incountry.com/oauth2/token"),
    ("emea", "https://auth-emea.incountry.com/oauth2/token"),
    (
        DEFAULT_AUTH_REGION,
        "https://auth-emea.incountry.com/oauth2/token",
    ),
];

/// Token endpoint URLs by auth region (lower-case), always with a `default` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthEndpoints {
    by_region: BTreeMap<String, String>,
}

impl Default for AuthEndpoints {
    fn default() -> Self {
        Self {
            by_region: DEFAULT_AUTH_ENDPOINTS
                .iter()
                .map(|(region, url)| ((*region).to_owned(), (*url).to_owned()))
                .collect(),
        }
    }
}

impl AuthEndpoints {
    /// Endpoints given by the user. Region names are lower-cased; a `default` entry is
    /// required; every URL must be an `http` or `https` URL with a host.
    pub fn new<I, K, V>(entries: I) -> Result<Self, AuthError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let mut by_region = BTreeMap::new();
        for (region, url) in entries {
            let region = region.as_ref().to_lowercase();
            let url = url.into();
            check_url(&region, &url)?;
            if by_region.insert(region.clone(), url).is_some() {
                return Err(AuthError::Config(format!(
                    "auth endpoints name region {region:?} twice (regions are compared lower-cased)"
                )));
            }
        }
        if !by_region.contains_key(DEFAULT_AUTH_REGION) {
            return Err(AuthError::Config(
                "auth endpoints must contain a \"default\" entry".to_owned(),
            ));
        }
        Ok(Self { by_region })
    }

    /// The endpoint of `region` (compared lower-cased), else the `default` one.
    pub fn endpoint_for(&self, region: &str) -> &str {
        self.by_region
            .get(&region.to_lowercase())
            .or_else(|| self.by_region.get(DEFAULT_AUTH_REGION))
            .map_or(DEFAULT_AUTH_ENDPOINTS[2].1, String::as_str)
    }

    /// The regions and their endpoints, in region order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.by_region
            .iter()
            .map(|(region, url)| (region.as_str(), url.as_str()))
    }
}

fn check_url(region: &str, value: &str) -> Result<(), AuthError> {
    let invalid = |reason: &str| {
        AuthError::Config(format!(
            "auth endpoint of region {region:?} ({value:?}) is not a valid http(s) URL: {reason}"
        ))
    };
    let url = url::Url::parse(value).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    Ok(())
}
