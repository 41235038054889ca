//! Tokens -> the expression tree, by precedence: `or` < `and` < `not` < predicates.

use ipnet::IpNet;

use super::lexer::{Spanned, Token};
use super::like::LikePattern;
use super::{CompareOp, ConditionError, Expr, Operand};

/// Parses a whole condition.
pub fn parse(tokens: Vec<Spanned>, end_column: usize) -> Result<Expr, ConditionError> {
    let mut parser = Parser { tokens, position: 0, end_column };
    let expr = parser.or()?;
    match parser.peek() {
        None => Ok(expr),
        Some((_, column)) => Err(ConditionError::new(column, "and, or, or the end of the condition")),
    }
}

struct Parser {
    tokens: Vec<Spanned>,
    position: usize,
    end_column: usize,
}

impl Parser {
    fn peek(&self) -> Option<(&Token, usize)> {
        self.tokens.get(self.position).map(|(token, column)| (token, *column))
    }

    fn next(&mut self) -> Option<Spanned> {
        let token = self.tokens.get(self.position).cloned();
        self.position += usize::from(token.is_some());
        token
    }

    /// The column of the next token, or just past the end.
    fn column(&self) -> usize {
        self.peek().map_or(self.end_column, |(_, column)| column)
    }

    fn at_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some((Token::Word(found), _)) if found.eq_ignore_ascii_case(word))
    }

    fn expect_word(&mut self, word: &str) -> Result<(), ConditionError> {
        if self.at_word(word) {
            self.position += 1;
            Ok(())
        } else {
            Err(ConditionError::new(self.column(), word))
        }
    }

    fn or(&mut self) -> Result<Expr, ConditionError> {
        let mut left = self.and()?;
        while self.at_word("or") {
            self.position += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ConditionError> {
        let mut left = self.unary()?;
        while self.at_word("and") {
            self.position += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ConditionError> {
        if self.at_word("not") {
            self.position += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if matches!(self.peek(), Some((Token::Open, _))) {
            self.position += 1;
            let inner = self.or()?;
            return match self.next() {
                Some((Token::Close, _)) => Ok(inner),
                Some((_, column)) => Err(ConditionError::new(column, ")")),
                None => Err(ConditionError::new(self.end_column, ")")),
            };
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Expr, ConditionError> {
        let operand = self.operand()?;
        let column = self.column();
        match self.next() {
            Some((Token::Operator(operator), _)) => {
                let op = match operator {
                    "=" => CompareOp::Eq,
                    "<>" => CompareOp::Ne,
                    "<" => CompareOp::Lt,
                    "<=" => CompareOp::Le,
                    ">" => CompareOp::Gt,
                    _ => CompareOp::Ge,
                };
                Ok(Expr::Compare(operand, op, self.operand()?))
            }
            Some((Token::Word(word), _)) if word.eq_ignore_ascii_case("like") => Ok(Expr::Like {
                operand,
                pattern: LikePattern::new(&self.text("a quoted like pattern")?.0),
                negated: false,
            }),
            Some((Token::Word(word), _)) if word.eq_ignore_ascii_case("not") => {
                self.expect_word("like")?;
                Ok(Expr::Like {
                    operand,
                    pattern: LikePattern::new(&self.text("a quoted like pattern")?.0),
                    negated: true,
                })
            }
            Some((Token::Word(word), _)) if word.eq_ignore_ascii_case("in_cidr") => {
                let (cidr, column) = self.text("a quoted CIDR block such as '10.0.0.0/8'")?;
                let network = parse_network(&cidr).ok_or_else(|| {
                    ConditionError::new(
                        column,
                        format!("a CIDR block such as '10.0.0.0/8' or '2001:db8::/32', not {cidr:?}"),
                    )
                })?;
                Ok(Expr::InCidr { operand, network })
            }
            Some((Token::Word(word), _)) if word.eq_ignore_ascii_case("is") => {
                let negated = self.at_word("not");
                self.position += usize::from(negated);
                self.expect_word("null")?;
                Ok(Expr::IsNull { operand, negated })
            }
            _ => Err(ConditionError::new(
                column,
                "an operator (=, <>, !=, <, <=, >, >=, like, not like, in_cidr, is null)",
            )),
        }
    }

    fn operand(&mut self) -> Result<Operand, ConditionError> {
        let column = self.column();
        match self.next() {
            Some((Token::Param(name), _)) => Ok(Operand::Param(name)),
            Some((Token::Text(text), _)) => Ok(Operand::Text(text)),
            Some((Token::Number(number, text), _)) => Ok(Operand::Number(number, text)),
            Some((Token::Word(word), _)) if word.eq_ignore_ascii_case("random") => match (self.next(), self.next()) {
                (Some((Token::Open, _)), Some((Token::Close, _))) => Ok(Operand::Random),
                _ => Err(ConditionError::new(column + word.len(), "() after Random")),
            },
            _ => Err(ConditionError::new(column, "a value: $parameter, 'text', a number or Random()")),
        }
    }

    fn text(&mut self, what: &str) -> Result<(String, usize), ConditionError> {
        let column = self.column();
        match self.next() {
            Some((Token::Text(text), column)) => Ok((text, column)),
            _ => Err(ConditionError::new(column, what)),
        }
    }
}

/// A CIDR block, or a single address as its /32 or /128.
fn parse_network(text: &str) -> Option<IpNet> {
    text.parse().ok().or_else(|| text.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}
