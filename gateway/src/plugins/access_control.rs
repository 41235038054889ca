//! The access-control plugin: rules in order; a rule whose decision (`ifTrue` when its condition
//! holds, `ifFalse` when it does not) is ALLOW lets the request through at once, DENY answers
//! the rule's error; a rule without a decision for the outcome passes to the next.

use apigw_core::condition::Condition;
use apigw_core::config::AccessControlConfig;
use apigw_core::resources::AccessDecision;
use http::{HeaderName, HeaderValue, StatusCode};

use crate::error::Denial;
use crate::plugins::parameters::{PluginParameters, RequestInputs, Values};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::parameters::test_inputs;

    fn compile(rules: serde_json::Value) -> CompiledAccessControl {
        let config = serde_json::json!({"plugin": "test", "parameters": {"role": "Header:x-role", "day": "Query:day"}, "rules": rules});
        CompiledAccessControl::compile(&serde_json::from_value(config).expect("a config")).expect("it compiles")
    }

    #[test]
    fn the_first_rule_with_a_decision_decides() {
        let control = compile(serde_json::json!([
            {"name": "admins", "condition": "$role = 'admin'", "ifTrue": "ALLOW"},
            {"name": "weekdays", "condition": "$day = 'sunday'", "ifTrue": "DENY", "statusCode": 429,
             "errorMessage": "closed on ${day}", "responseHeaders": {"retry-after": "3600"}}
        ]));
        assert!(test_inputs::with("/?day=sunday", &[("x-role", "admin")], |inputs| control.check(inputs)).is_ok());
        assert!(test_inputs::with("/?day=monday", &[], |inputs| control.check(inputs)).is_ok(), "no rule decides");
        let denial =
            test_inputs::with("/?day=sunday", &[("x-role", "guest")], |inputs| control.check(inputs)).unwrap_err();
        assert_eq!((denial.status.as_u16(), denial.message.as_str()), (429, "closed on sunday"));
        assert_eq!(denial.headers[0].0, "retry-after");
    }

    #[test]
    fn a_denial_without_a_message_names_its_rule_and_bad_rules_are_refused() {
        let control = compile(serde_json::json!([{"name": "nobody", "condition": "$role = 'x'", "ifFalse": "DENY"}]));
        let denial = test_inputs::with("/", &[], |inputs| control.check(inputs)).unwrap_err();
        assert_eq!((denial.status.as_u16(), denial.message.as_str()), (403, "Access Denied by rule nobody"));
        let config =
            serde_json::json!({"plugin": "bad", "parameters": {}, "rules": [{"name": "r", "condition": "$a ="}]});
        let error = CompiledAccessControl::compile(&serde_json::from_value(config).unwrap()).unwrap_err();
        assert!(error.starts_with("rule r:"), "{error}");
    }
}
