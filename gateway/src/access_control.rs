//! The access-control plugin: rules in order; a rule whose decision (`ifTrue` when its condition
//! holds, `ifFalse` when it does not) is ALLOW lets the request through at once, DENY answers
//! the rule's error; a rule without a decision for the outcome passes to the next.

use apigw_core::condition::Condition;
use apigw_core::config::AccessControlConfig;
use apigw_core::resources::AccessDecision;
use http::{HeaderName, HeaderValue, StatusCode};

use crate::plugin_parameters::{PluginParameters, RequestInputs, Values};

/// An access-control plugin, compiled.
#[derive(Debug)]
pub struct CompiledAccessControl {
    parameters: PluginParameters,
    rules: Vec<Rule>,
}

#[derive(Debug)]
struct Rule {
    name: String,
    condition: Condition,
    if_true: Option<AccessDecision>,
    if_false: Option<AccessDecision>,
    status: StatusCode,
    message: Option<String>,
    headers: Vec<(HeaderName, String)>,
    body: Option<String>,
}

/// A refusal, as the rule describes it (`${name}` already replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The status (default 403).
    pub status: StatusCode,
    /// `X-Ca-Error-Message`.
    pub message: String,
    /// Extra response headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body; `None` gives the gateway's JSON error body.
    pub body: Option<String>,
}

impl CompiledAccessControl {
    /// Compiles a config.
    pub fn compile(config: &AccessControlConfig) -> Result<Self, String> {
        let rules = config
            .rules
            .iter()
            .map(|rule| {
                let fail = |message: String| format!("rule {}: {message}", rule.name);
                let headers = rule
                    .response_headers
                    .iter()
                    .map(|(name, value)| {
                        Ok((HeaderName::try_from(name.as_str()).map_err(|e| fail(e.to_string()))?, value.clone()))
                    })
                    .collect::<Result<_, String>>()?;
                Ok(Rule {
                    name: rule.name.clone(),
                    condition: Condition::parse(&rule.condition).map_err(|e| fail(e.to_string()))?,
                    if_true: rule.if_true,
                    if_false: rule.if_false,
                    status: StatusCode::from_u16(rule.status_code.unwrap_or(403)).map_err(|e| fail(e.to_string()))?,
                    message: rule.error_message.clone(),
                    headers,
                    body: rule.response_body.clone(),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { parameters: PluginParameters::compile(&config.parameters)?, rules })
    }

    /// Whether its parameters read the request body.
    pub fn reads_body(&self) -> bool {
        self.parameters.reads_body()
    }

    /// Lets the request through, or says how to refuse it.
    pub fn check(&self, inputs: &RequestInputs<'_, '_>) -> Result<(), Box<Denial>> {
        let values = self.parameters.values(inputs);
        for rule in &self.rules {
            let holds = rule.condition.evaluate(&values);
            match if holds { rule.if_true } else { rule.if_false } {
                Some(AccessDecision::Allow) => return Ok(()),
                Some(AccessDecision::Deny) => return Err(Box::new(rule.denial(&values))),
                None => {}
            }
        }
        Ok(())
    }
}

impl Rule {
    fn denial(&self, values: &Values<'_, '_, '_>) -> Denial {
        let message = match &self.message {
            Some(message) => values.interpolate(message),
            None => format!("Access Denied by rule {}", self.name),
        };
        let headers = self
            .headers
            .iter()
            .filter_map(|(name, value)| Some((name.clone(), HeaderValue::try_from(values.interpolate(value)).ok()?)))
            .collect();
        Denial { status: self.status, message, headers, body: self.body.as_ref().map(|body| values.interpolate(body)) }
    }
}
