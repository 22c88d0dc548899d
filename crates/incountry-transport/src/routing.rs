//! Which host serves a country, which token audience it needs, and the record URLs.
//!
//! Three cases, as in the official SDKs:
//!
//! 1. `endpoint` set, no `endpoint_mask`: host = audience = endpoint; region `default`.
//! 2. `endpoint` and `endpoint_mask` set: host = endpoint; audience = endpoint when it equals
//!    `https://{cc}{mask}`, else `"{endpoint} https://{cc}{mask}"`; region `default`.
//! 3. no `endpoint`: the countries list decides. A `direct` country is served by its own
//!    point of presence `https://{cc}{mask}` (audience the same, region from the list); any
//!    other country, listed or not, goes through `https://us{mask}` with audience
//!    `"https://us{mask} https://{cc}{mask}"` and region `default`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, Request, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use crate::body::Body;
use crate::clock::{Clock, SystemClock};
use crate::error::TransportError;
use crate::headers::user_agent;
use crate::response::{DEFAULT_BODY_LIMIT, error_for_status, read_json};
use crate::transport::{RequestInfo, Transport};

/// The default endpoint mask: a country's host is `https://{cc}-mt-01.api.incountry.io`.
pub const DEFAULT_ENDPOINT_MASK: &str = "-mt-01.api.incountry.io";

/// The default list of countries and their points of presence.
pub const DEFAULT_COUNTRIES_ENDPOINT: &str = "https://portal-backend.incountry.com/countries";

/// The country whose point of presence serves the countries without their own.
pub const DEFAULT_COUNTRY: &str = "us";

/// The auth region of routes that do not name one.
pub const DEFAULT_REGION: &str = "default";

/// How long the countries list is kept before it is fetched again: 300 s.
pub const DEFAULT_COUNTRIES_TTL: Duration = Duration::from_secs(300);

/// Where the requests for one country go, and the token they need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The base URL of the API host, e.g. `https://se-mt-01.api.incountry.io`.
    pub host: String,
    /// The token audience: one URL, or two separated by one space.
    pub audience: String,
    /// The auth region (lower-case), which picks the token endpoint; `default` when unknown.
    pub region: String,
}

impl Route {
    /// The URL of `path` under this host's records of `country`; see [`records_url`].
    pub fn records_url(&self, country: &str, path: &[&str]) -> String {
        records_url(&self.host, country, path)
    }

    /// The URL of `path` at this host's root (e.g. `["healthcheck"]`); see [`host_url`].
    pub fn host_url(&self, path: &[&str]) -> String {
        host_url(&self.host, path)
    }
}

/// One entry of the countries list.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Country {
    /// The country code, lower-cased.
    pub id: String,
    /// The display name, when the list gives one.
    pub name: Option<String>,
    /// Whether the country has its own point of presence (a "midpop").
    pub direct: bool,
    /// The auth region, lower-cased; empty when the list gives none.
    pub region: String,
}

/// Characters left as they are in a path segment: RFC 3986 unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `host` without trailing `/`, then `/v2/storage/records/{country}`, then each segment of
/// `path` after a `/`, percent-encoded.
///
/// ```
/// use incountry_transport::routing::records_url;
///
/// assert_eq!(
///     records_url("https://se-mt-01.api.incountry.io/", "se", &["abc", "attachments"]),
///     "https://se-mt-01.api.incountry.io/v2/storage/records/se/abc/attachments"
/// );
/// ```
pub fn records_url(host: &str, country: &str, path: &[&str]) -> String {
    let mut url = host.trim_end_matches('/').to_owned();
    url.push_str("/v2/storage/records/");
    url.extend(utf8_percent_encode(country, SEGMENT));
    push_segments(&mut url, path);
    url
}

/// `host` without trailing `/`, then each segment of `path` after a `/`, percent-encoded.
pub fn host_url(host: &str, path: &[&str]) -> String {
    let mut url = host.trim_end_matches('/').to_owned();
    push_segments(&mut url, path);
    url
}

fn push_segments(url: &mut String, path: &[&str]) {
    for segment in path {
        url.push('/');
        url.extend(utf8_percent_encode(segment, SEGMENT));
    }
}

/// `https://{country}{mask}`.
fn pop_url(country: &str, mask: &str) -> String {
    format!("https://{country}{mask}")
}

/// The country code lower-cased, or an error unless it is two ASCII letters.
fn normalize_country(country: &str) -> Result<String, TransportError> {
    if country.len() == 2 && country.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(country.to_ascii_lowercase())
    } else {
        Err(TransportError::InvalidCountry {
            country: country.to_owned(),
        })
    }
}

fn check_url(what: &str, value: &str) -> Result<(), TransportError> {
    let invalid = |reason: &str| TransportError::Config {
        message: format!("{what} {value:?} is not a valid http(s) URL: {reason}"),
        source: None,
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

/// Builds a [`Router`].
#[derive(Debug)]
pub struct RouterBuilder {
    transport: Arc<dyn Transport>,
    endpoint: Option<String>,
    endpoint_mask: Option<String>,
    countries_endpoint: String,
    countries_ttl: Duration,
    clock: Arc<dyn Clock>,
}

impl RouterBuilder {
    /// A fixed API host for every country (and the audience, unless a mask is set too).
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// The mask of country hosts, e.g. `-mt-01.api.incountry.io` (the default).
    pub fn endpoint_mask(mut self, mask: impl Into<String>) -> Self {
        self.endpoint_mask = Some(mask.into());
        self
    }

    /// Where to fetch the countries list (default [`DEFAULT_COUNTRIES_ENDPOINT`]).
    pub fn countries_endpoint(mut self, url: impl Into<String>) -> Self {
        self.countries_endpoint = url.into();
        self
    }

    /// How long the countries list is kept (default [`DEFAULT_COUNTRIES_TTL`]).
    pub fn countries_ttl(mut self, ttl: Duration) -> Self {
        self.countries_ttl = ttl;
        self
    }

    /// The clock that ages the countries list (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the URLs and builds the router; nothing is fetched yet.
    pub fn build(self) -> Result<Router, TransportError> {
        if let Some(endpoint) = &self.endpoint {
            check_url("endpoint", endpoint)?;
        }
        check_url("countries endpoint", &self.countries_endpoint)?;
        Ok(Router {
            transport: self.transport,
            endpoint: self.endpoint,
            endpoint_mask: self.endpoint_mask,
            countries_endpoint: self.countries_endpoint,
            countries_ttl: self.countries_ttl,
            clock: self.clock,
            cache: tokio::sync::Mutex::new(None),
        })
    }
}

/// Resolves the [`Route`] of a country, fetching and caching the countries list when needed.
#[derive(Debug)]
pub struct Router {
    transport: Arc<dyn Transport>,
    endpoint: Option<String>,
    endpoint_mask: Option<String>,
    countries_endpoint: String,
    countries_ttl: Duration,
    clock: Arc<dyn Clock>,
    cache: tokio::sync::Mutex<Option<(Instant, Arc<[Country]>)>>,
}

impl Router {
    /// A builder with the defaults; the countries list is fetched through `transport`.
    pub fn builder(transport: Arc<dyn Transport>) -> RouterBuilder {
        RouterBuilder {
            transport,
            endpoint: None,
            endpoint_mask: None,
            countries_endpoint: DEFAULT_COUNTRIES_ENDPOINT.to_owned(),
            countries_ttl: DEFAULT_COUNTRIES_TTL,
            clock: Arc::new(SystemClock),
        }
    }

    /// The route of `country` (two ASCII letters, any case).
    ///
    /// Without a configured endpoint this may fetch the countries list (one `GET`, no auth),
    /// unless a copy younger than the TTL is cached.
    pub async fn route(&self, country: &str) -> Result<Route, TransportError> {
        let cc = normalize_country(country)?;
        let mask = self
            .endpoint_mask
            .as_deref()
            .unwrap_or(DEFAULT_ENDPOINT_MASK);
        let country_host = pop_url(&cc, mask);
        match (&self.endpoint, &self.endpoint_mask) {
            (Some(endpoint), None) => Ok(Route {
                host: endpoint.clone(),
                audience: endpoint.clone(),
                region: DEFAULT_REGION.to_owned(),
            }),
            (Some(endpoint), Some(_)) => Ok(Route {
                host: endpoint.clone(),
                audience: if *endpoint == country_host {
                    endpoint.clone()
                } else {
                    format!("{endpoint} {country_host}")
                },
                region: DEFAULT_REGION.to_owned(),
            }),
            (None, _) => {
                let countries = self.countries().await?;
                match countries.iter().find(|c| c.id == cc) {
                    Some(listed) if listed.direct => Ok(Route {
                        host: country_host.clone(),
                        audience: country_host,
                        region: listed.region.clone(),
                    }),
                    _ => {
                        let host = pop_url(DEFAULT_COUNTRY, mask);
                        Ok(Route {
                            audience: format!("{host} {country_host}"),
                            host,
                            region: DEFAULT_REGION.to_owned(),
                        })
                    }
                }
            }
        }
    }

    /// The countries list, from the cache when it is younger than the TTL.
    ///
    /// Concurrent callers wait for one fetch and share its result.
    pub async fn countries(&self) -> Result<Arc<[Country]>, TransportError> {
        let mut cache = self.cache.lock().await;
        if let Some((fetched_at, countries)) = cache.as_ref() {
            if self.clock.now().saturating_duration_since(*fetched_at) < self.countries_ttl {
                return Ok(Arc::clone(countries));
            }
        }
        let countries = self.fetch_countries().await?;
        *cache = Some((self.clock.now(), Arc::clone(&countries)));
        Ok(countries)
    }

    /// Fetches the countries list now, whatever the age of the cached copy, and caches it.
    pub async fn refresh_countries(&self) -> Result<Arc<[Country]>, TransportError> {
        let mut cache = self.cache.lock().await;
        let countries = self.fetch_countries().await?;
        *cache = Some((self.clock.now(), Arc::clone(&countries)));
        Ok(countries)
    }

    async fn fetch_countries(&self) -> Result<Arc<[Country]>, TransportError> {
        let invalid = |reason: String| TransportError::Config {
            message: format!(
                "countries endpoint {:?} is not a valid URL: {reason}",
                self.countries_endpoint
            ),
            source: None,
        };
        let request = Request::builder()
            .method(Method::GET)
            .uri(self.countries_endpoint.as_str())
            .header(header::USER_AGENT, user_agent())
            .header(header::ACCEPT, "application/json")
            .body(Body::empty())
            .map_err(|error| invalid(error.to_string()))?;
        let info = RequestInfo::of(&request);
        tracing::debug!(url = %info.url, "fetching the countries list");
        let response = self.transport.send(request).await?;
        let response = error_for_status(&info, response).await?;
        let list: CountriesList = read_json(&info, response, DEFAULT_BODY_LIMIT).await?;
        Ok(list
            .countries
            .into_iter()
            .map(|raw| Country {
                id: raw.id.to_lowercase(),
                name: raw
                    .name
                    .as_ref()
                    .and_then(|n| n.as_str())
                    .map(str::to_owned),
                direct: raw.direct == Some(serde_json::Value::Bool(true)),
                region: raw.region.unwrap_or_default().to_lowercase(),
            })
            .collect())
    }
}

#[derive(Deserialize)]
struct CountriesList {
    countries: Vec<RawCountry>,
}

#[derive(Deserialize)]
struct RawCountry {
    id: String,
    #[serde(default)]
    name: Option<serde_json::Value>,
    #[serde(default)]
    direct: Option<serde_json::Value>,
    #[serde(default)]
    region: Option<String>,
}
