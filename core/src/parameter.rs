//! Checking a request parameter's value against its declaration (type, pattern, enum, lengths,
//! range). Compiled once per config load; shared by translation (defaults) and the gateway.

use regex::Regex;

use crate::resources::{Parameter, ParameterType};

/// A parameter declaration with its pattern compiled.
#[derive(Clone, Debug)]
pub struct ParameterCheck {
    /// The declaration.
    pub declaration: Parameter,
    pattern: Option<Regex>,
}

/// Why a value was refused; the message names the parameter, for `X-Ca-Error-Message`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidParameter(pub String);

impl ParameterCheck {
    /// Compiles a declaration; fails when its pattern or its default is invalid.
    pub fn compile(declaration: &Parameter) -> Result<Self, InvalidParameter> {
        let pattern = declaration
            .pattern
            .as_deref()
            .map(|pattern| {
                Regex::new(pattern).map_err(|error| {
                    InvalidParameter(format!("parameter {}: invalid pattern: {error}", declaration.name))
                })
            })
            .transpose()?;
        let check = Self { declaration: declaration.clone(), pattern };
        if let Some(default) = &declaration.default {
            check
                .check(default)
                .map_err(|InvalidParameter(message)| InvalidParameter(format!("default: {message}")))?;
        }
        Ok(check)
    }

    /// The parameter's name as the client sends it.
    pub fn name(&self) -> &str {
        &self.declaration.name
    }

    /// Checks one value.
    pub fn check(&self, value: &str) -> Result<(), InvalidParameter> {
        let declaration = &self.declaration;
        let refuse = |why: String| Err(InvalidParameter(format!("Invalid parameter {}: {why}", declaration.name)));
        let number = match declaration.kind {
            ParameterType::String => None,
            ParameterType::Int => match value.parse::<i32>() {
                Ok(number) => Some(f64::from(number)),
                Err(_) => return refuse(format!("{value:?} is not an INT")),
            },
            ParameterType::Long => match value.parse::<i64>() {
                Ok(number) => Some(number as f64),
                Err(_) => return refuse(format!("{value:?} is not a LONG")),
            },
            ParameterType::Float | ParameterType::Double => match value.parse::<f64>() {
                Ok(number) if number.is_finite() => Some(number),
                _ => return refuse(format!("{value:?} is not a number")),
            },
            ParameterType::Boolean => {
                if value != "true" && value != "false" {
                    return refuse(format!("{value:?} is not true or false"));
                }
                None
            }
        };
        let length = value.chars().count();
        if let Some(min) = declaration.min_length
            && length < min as usize
        {
            return refuse(format!("shorter than {min} characters"));
        }
        if let Some(max) = declaration.max_length
            && length > max as usize
        {
            return refuse(format!("longer than {max} characters"));
        }
        if let Some(number) = number {
            if let Some(min) = declaration.minimum
                && number < min
            {
                return refuse(format!("less than {min}"));
            }
            if let Some(max) = declaration.maximum
                && number > max
            {
                return refuse(format!("greater than {max}"));
            }
        }
        if !declaration.allowed.is_empty() && !declaration.allowed.iter().any(|allowed| allowed == value) {
            return refuse(format!("must be one of {}", declaration.allowed.join(", ")));
        }
        if let Some(pattern) = &self.pattern
            && !pattern.is_match(value)
        {
            return refuse(format!("does not match {}", pattern.as_str()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::ParameterLocation;

    fn parameter(kind: ParameterType) -> Parameter {
        Parameter {
            name: "p".to_owned(),
            location: ParameterLocation::Query,
            kind,
            required: false,
            default: None,
            pattern: None,
            allowed: Vec::new(),
            min_length: None,
            max_length: None,
            minimum: None,
            maximum: None,
            description: None,
            backend: None,
        }
    }

    #[test]
    fn checks_types() {
        let cases = [
            (ParameterType::Int, "42", true),
            (ParameterType::Int, "4294967296", false),
            (ParameterType::Long, "4294967296", true),
            (ParameterType::Long, "4.2", false),
            (ParameterType::Double, "4.2", true),
            (ParameterType::Float, "NaN", false),
            (ParameterType::Boolean, "true", true),
            (ParameterType::Boolean, "yes", false),
            (ParameterType::String, "anything", true),
        ];
        for (kind, value, ok) in cases {
            let check = ParameterCheck::compile(&parameter(kind)).expect("compiles");
            assert_eq!(check.check(value).is_ok(), ok, "{kind:?} {value}");
        }
    }

    #[test]
    fn checks_lengths_ranges_enums_and_patterns_naming_the_parameter() {
        let mut declaration = parameter(ParameterType::Long);
        declaration.minimum = Some(1.0);
        declaration.maximum = Some(100.0);
        declaration.pattern = Some("^[0-9]+$".to_owned());
        let check = ParameterCheck::compile(&declaration).expect("compiles");
        assert!(check.check("50").is_ok());
        assert_eq!(check.check("0"), Err(InvalidParameter("Invalid parameter p: less than 1".to_owned())));
        assert!(check.check("101").is_err());
        assert!(check.check("+5").is_err(), "pattern");

        let mut declaration = parameter(ParameterType::String);
        declaration.min_length = Some(2);
        declaration.max_length = Some(3);
        declaration.allowed = vec!["ab".to_owned(), "abcd".to_owned()];
        let check = ParameterCheck::compile(&declaration).expect("compiles");
        assert!(check.check("ab").is_ok());
        assert!(check.check("a").is_err());
        assert!(check.check("abcd").is_err(), "too long although allowed");
        assert!(check.check("abc").unwrap_err().0.contains("must be one of ab, abcd"));
    }

    #[test]
    fn refuses_bad_patterns_and_defaults_at_compile_time() {
        let mut declaration = parameter(ParameterType::Int);
        declaration.pattern = Some("(".to_owned());
        assert!(ParameterCheck::compile(&declaration).is_err());
        let mut declaration = parameter(ParameterType::Int);
        declaration.default = Some("x".to_owned());
        assert!(ParameterCheck::compile(&declaration).is_err());
    }
}
