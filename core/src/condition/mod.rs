//! The condition language of routing plugins, access control and error mapping (SQL-like, as in
//! Alibaba's plugins): `$CaAppId = 4534463 or $clientVersion < '2.0.5'`. docs/conditions.md is
//! the user's reference. Conditions are compiled once per config load; evaluating one allocates
//! nothing.

mod lexer;
mod like;
mod parser;

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::net::IpAddr;

use ipnet::IpNet;

pub use like::LikePattern;

/// Why a condition does not parse: where, and what was expected there.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: expected {expected}")]
pub struct ConditionError {
    /// The column (1-based, in characters).
    pub column: usize,
    /// What the parser expected there.
    pub expected: String,
}

impl ConditionError {
    fn new(column: usize, expected: impl Into<String>) -> Self {
        Self { column, expected: expected.into() }
    }
}

/// Where parameter values come from when a condition is evaluated.
pub trait Parameters {
    /// The value of `$name`; `None` is null (absent).
    fn get(&self, name: &str) -> Option<&str>;
}

impl<S: BuildHasher> Parameters for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<&str> {
        HashMap::get(self, name).map(String::as_str)
    }
}

impl Parameters for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        BTreeMap::get(self, name).map(String::as_str)
    }
}

/// A compiled condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    expr: Expr,
}

/// The expression tree.
#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare(Operand, CompareOp, Operand),
    Like { operand: Operand, pattern: LikePattern, negated: bool },
    InCidr { operand: Operand, network: IpNet },
    IsNull { operand: Operand, negated: bool },
}

/// A value in a condition.
#[derive(Clone, Debug, PartialEq)]
enum Operand {
    Param(String),
    Text(String),
    /// A number literal and its text as written (used when compared as a string).
    Number(f64, String),
    Random,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A value being compared: text (from a parameter or a quoted literal) or a number.
#[derive(Clone, Copy)]
enum Value<'a> {
    Text(&'a str),
    Number(f64, &'a str),
    Random(f64),
}

impl<'a> Value<'a> {
    fn number(self) -> Option<f64> {
        match self {
            Value::Number(number, _) | Value::Random(number) => Some(number),
            Value::Text(text) => text.trim().parse::<f64>().ok().filter(|number| number.is_finite()),
        }
    }

    fn text(self) -> Option<&'a str> {
        match self {
            Value::Text(text) | Value::Number(_, text) => Some(text),
            Value::Random(_) => None,
        }
    }
}

impl Condition {
    /// Compiles `source`; the error names the column and what was expected there.
    pub fn parse(source: &str) -> Result<Self, ConditionError> {
        let tokens = lexer::tokens(source)?;
        if tokens.is_empty() {
            return Err(ConditionError::new(1, "a condition"));
        }
        let expr = parser::parse(tokens, source.chars().count() + 1)?;
        Ok(Self { expr })
    }

    /// The `$names` the condition reads, in order of appearance (repeats included).
    pub fn parameters(&self) -> Vec<&str> {
        let mut names = Vec::new();
        collect(&self.expr, &mut names);
        names
    }

    /// Whether the condition holds for these parameter values.
    pub fn evaluate(&self, parameters: &dyn Parameters) -> bool {
        evaluate(&self.expr, parameters)
    }
}

fn collect<'a>(expr: &'a Expr, names: &mut Vec<&'a str>) {
    let operand = |operand: &'a Operand, names: &mut Vec<&'a str>| {
        if let Operand::Param(name) = operand {
            names.push(name);
        }
    };
    match expr {
        Expr::Or(left, right) | Expr::And(left, right) => {
            collect(left, names);
            collect(right, names);
        }
        Expr::Not(inner) => collect(inner, names),
        Expr::Compare(left, _, right) => {
            operand(left, names);
            operand(right, names);
        }
        Expr::Like { operand: value, .. }
        | Expr::InCidr { operand: value, .. }
        | Expr::IsNull { operand: value, .. } => operand(value, names),
    }
}

fn value<'a>(operand: &'a Operand, parameters: &'a dyn Parameters) -> Option<Value<'a>> {
    match operand {
        Operand::Param(name) => parameters.get(name).map(Value::Text),
        Operand::Text(text) => Some(Value::Text(text)),
        Operand::Number(number, text) => Some(Value::Number(*number, text)),
        Operand::Random => Some(Value::Random(fastrand::f64())),
    }
}

fn evaluate(expr: &Expr, parameters: &dyn Parameters) -> bool {
    match expr {
        Expr::Or(left, right) => evaluate(left, parameters) || evaluate(right, parameters),
        Expr::And(left, right) => evaluate(left, parameters) && evaluate(right, parameters),
        Expr::Not(inner) => !evaluate(inner, parameters),
        Expr::Compare(left, op, right) => {
            let (Some(left), Some(right)) = (value(left, parameters), value(right, parameters)) else {
                return false; // any comparison with null is false
            };
            let ordering = match (left.number(), right.number()) {
                (Some(left), Some(right)) => left.partial_cmp(&right),
                _ => match (left.text(), right.text()) {
                    (Some(left), Some(right)) => Some(left.cmp(right)),
                    _ => None,
                },
            };
            let Some(ordering) = ordering else { return false };
            match op {
                CompareOp::Eq => ordering.is_eq(),
                CompareOp::Ne => ordering.is_ne(),
                CompareOp::Lt => ordering.is_lt(),
                CompareOp::Le => ordering.is_le(),
                CompareOp::Gt => ordering.is_gt(),
                CompareOp::Ge => ordering.is_ge(),
            }
        }
        Expr::Like { operand, pattern, negated } => match value(operand, parameters).and_then(Value::text) {
            Some(text) => pattern.matches(text) != *negated,
            None => false,
        },
        Expr::InCidr { operand, network } => value(operand, parameters)
            .and_then(Value::text)
            .and_then(|text| text.trim().parse::<IpAddr>().ok())
            .is_some_and(|address| network.contains(&address)),
        Expr::IsNull { operand, negated } => value(operand, parameters).is_none() != *negated,
    }
}

#[cfg(test)]
mod tests;
