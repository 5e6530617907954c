//! The API's gateway responses: what API Gateway answers for the requests it refuses itself.

use std::collections::BTreeMap;

use serde_yaml_ng::Value;

use super::{invalid, scalar_text, Template, TemplateError};

/// The gateway responses of the template's API (`OrdersApi`'s `GatewayResponses`): how API
/// Gateway answers the requests it refuses itself (a throttle, a failed request model, a
/// Lambda it could not invoke). `orders local` answers with them, and the tests render each
/// one to check it is the JSON the API promises.
///
/// API Gateway's rules, as documented
/// (<https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html>):
/// a response type the API does not define falls back to `DEFAULT_4XX` or `DEFAULT_5XX`
/// (by its default status), which keep the type's status unless they set one; and a
/// template is "simple variable substitution", not processed by VTL
/// (<https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-gateway-responses.responseTemplates.html>),
/// so nothing can escape a value: `$context.error.messageString` is the message in quotes,
/// the other variables are substituted as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayResponses {
    responses: BTreeMap<String, GatewayResponse>,
}

/// One gateway response as the template defines it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayResponse {
    /// `StatusCode`, if set.
    pub status_code: Option<u16>,
    /// Static response headers (`'value'` in the template), by name.
    pub headers: BTreeMap<String, String>,
    /// The `application/json` body template, if any.
    pub template: Option<String>,
}

/// The values API Gateway substitutes into a gateway response body.
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorContext<'a> {
    /// `$context.error.message` (the type's own message when empty).
    pub message: &'a str,
    /// `$context.error.validationErrorString`.
    pub validation_error: &'a str,
    /// `$context.requestId`.
    pub request_id: &'a str,
}

/// A gateway response as a client receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedResponse {
    /// The HTTP status.
    pub status: u16,
    /// Its headers (static values only).
    pub headers: BTreeMap<String, String>,
    /// Its body.
    pub body: String,
}

/// The variables a gateway response template may use here; any other `$...` is refused by
/// [`GatewayResponses::unknown_variables`], so nothing renders half-substituted.
pub const TEMPLATE_VARIABLES: [&str; 5] = [
    "$context.error.messageString",
    "$context.error.message",
    "$context.error.validationErrorString",
    "$context.error.responseType",
    "$context.requestId",
];

/// A response type's default status and the message API Gateway gives it. The status of
/// `INTEGRATION_FAILURE` is documented as 504, but a Lambda proxy integration that fails
/// (a throttled invoke among others) is answered 500: LocalStack measured it against AWS
/// and reproduces it (<https://github.com/localstack/localstack/pull/11183>), and it is the
/// "500 Internal server error" users report for throttled functions.
pub fn response_type_defaults(kind: &str) -> (u16, &'static str) {
    match kind {
        "THROTTLED" => (429, "Too Many Requests"),
        "QUOTA_EXCEEDED" => (429, "Limit Exceeded"),
        "BAD_REQUEST_BODY" => (400, "Invalid request body"),
        "BAD_REQUEST_PARAMETERS" => (400, "Invalid request parameters"),
        "MISSING_AUTHENTICATION_TOKEN" => (403, "Missing Authentication Token"),
        "INVALID_API_KEY" | "ACCESS_DENIED" => (403, "Forbidden"),
        "REQUEST_TOO_LARGE" => (413, "Request Too Large"),
        "UNSUPPORTED_MEDIA_TYPE" => (415, "Unsupported Media Type"),
        "INTEGRATION_FAILURE" => (500, "Internal server error"),
        "INTEGRATION_TIMEOUT" => (504, "Endpoint request timed out"),
        "DEFAULT_4XX" => (400, "Bad Request"),
        _ => (500, "Internal server error"),
    }
}

impl GatewayResponses {
    /// Reads `OrdersApi`'s `GatewayResponses` (SAM's form: `StatusCode`,
    /// `ResponseParameters.Headers`, `ResponseTemplates`).
    pub fn from_template(template: &Template) -> Result<Self, TemplateError> {
        let Some(Value::Mapping(map)) = template
            .properties("OrdersApi")
            .and_then(|api| api.get("GatewayResponses"))
        else {
            return Ok(Self::default());
        };
        let mut responses = BTreeMap::new();
        for (kind, spec) in map {
            let kind = kind
                .as_str()
                .ok_or_else(|| invalid("a gateway response type is not a string"))?;
            let status_code = match spec.get("StatusCode").and_then(scalar_text) {
                None => None,
                Some(text) => Some(text.parse().map_err(|_| {
                    invalid(format!("{kind}: StatusCode {text:?} is not a status"))
                })?),
            };
            let mut headers = BTreeMap::new();
            if let Some(Value::Mapping(h)) = spec
                .get("ResponseParameters")
                .and_then(|p| p.get("Headers"))
            {
                for (name, value) in h {
                    let (Some(name), Some(value)) = (name.as_str(), value.as_str()) else {
                        continue;
                    };
                    // Static values are quoted ('application/json'); mappings from the
                    // request (method.request.header.x) cannot be rendered here.
                    if let Some(text) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\''))
                    {
                        headers.insert(name.to_owned(), text.to_owned());
                    }
                }
            }
            let template = spec
                .get("ResponseTemplates")
                .and_then(|t| t.get("application/json"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            responses.insert(
                kind.to_owned(),
                GatewayResponse {
                    status_code,
                    headers,
                    template,
                },
            );
        }
        Ok(Self { responses })
    }

    /// These responses less `kind` (API Gateway then answers it through its fallback).
    pub fn without(mut self, kind: &str) -> Self {
        self.responses.remove(kind);
        self
    }

    /// The response types the template defines.
    pub fn types(&self) -> impl Iterator<Item = (&str, &GatewayResponse)> {
        self.responses.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// `$` words of each template that are not in [`TEMPLATE_VARIABLES`], by type.
    pub fn unknown_variables(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (kind, response) in &self.responses {
            let Some(template) = &response.template else {
                continue;
            };
            let mut rest = template.as_str();
            while let Some(at) = rest.find('$') {
                let word: String = rest[at..]
                    .chars()
                    .enumerate()
                    .take_while(|(i, c)| *i == 0 || c.is_ascii_alphanumeric() || *c == '.')
                    .map(|(_, c)| c)
                    .collect();
                if !TEMPLATE_VARIABLES.contains(&word.as_str()) {
                    out.push((kind.clone(), word.clone()));
                }
                rest = &rest[at + word.len().max(1)..];
            }
        }
        out
    }

    /// What a client receives when API Gateway answers with `kind`: the type's own
    /// response, else `DEFAULT_4XX`/`DEFAULT_5XX`, else API Gateway's built-in
    /// `{"message": ...}`.
    pub fn render(&self, kind: &str, context: &ErrorContext<'_>) -> RenderedResponse {
        let (default_status, default_message) = response_type_defaults(kind);
        let fallback = if default_status < 500 {
            "DEFAULT_4XX"
        } else {
            "DEFAULT_5XX"
        };
        let own = self.responses.get(kind);
        let family = self.responses.get(fallback);
        // "Changing the status code of this fallback gateway response changes the status
        // codes of all other 5XX [4XX] responses" that do not set their own.
        let status = own
            .and_then(|r| r.status_code)
            .or_else(|| family.and_then(|f| f.status_code))
            .unwrap_or(default_status);
        let chosen = own.or(family);
        let headers = chosen.map(|r| r.headers.clone()).unwrap_or_default();
        let message = if context.message.is_empty() {
            default_message
        } else {
            context.message
        };
        let body = match chosen.and_then(|r| r.template.as_deref()) {
            Some(template) => substitute(template, kind, message, context),
            None => format!("{{\"message\":\"{message}\"}}"),
        };
        RenderedResponse {
            status,
            headers,
            body,
        }
    }
}

/// API Gateway's simple variable substitution (longest names first: `messageString`
/// before `message`).
fn substitute(template: &str, kind: &str, message: &str, context: &ErrorContext<'_>) -> String {
    template
        .replace("$context.error.messageString", &format!("\"{message}\""))
        .replace("$context.error.message", message)
        .replace(
            "$context.error.validationErrorString",
            context.validation_error,
        )
        .replace("$context.error.responseType", kind)
        .replace("$context.requestId", context.request_id)
}
