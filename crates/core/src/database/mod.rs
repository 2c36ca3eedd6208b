//! Native database access (strategy `postgres`): the target a bundle names, the privileges it
//! gives (checked here, never passed through as text), and the names of the roles a grant makes.
//!
//! One role per person per instance (`jit_<email>`, able to log in only while they hold a grant
//! there) and one role per grant (`jitg_<grant id>`, holding the bundle's privileges), granted to
//! the person's role and dropped at the grant's end: two grants of one person end independently.
//! Every identifier reaches SQL quoted by [`quote_ident`]; a catalog GRANT statement is parsed
//! into [`DbGrant`] and written out again, so nothing a bundle says is executed as written.

use std::fmt;

mod port;
pub use port::{Databases, WithDatabases};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::catalog::Statement;
use crate::types::{AccountId, Email, IamAction, RequestId, ResourceArn};

/// Postgres's identifier limit (NAMEDATALEN - 1), in bytes.
pub const MAX_IDENT_BYTES: usize = 63;

/// Where a `postgres` bundle's grants are made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Database {
    /// The instance or cluster, as people name it: the scope of a person's role.
    pub instance: String,
    /// Host name people and functions connect to.
    pub endpoint: String,
    /// TCP port.
    pub port: u16,
    /// The database the privileges are on.
    pub database: String,
    /// The Secrets Manager secret (ARN or name) holding the admin login.
    pub admin_secret: String,
    /// How the person signs in.
    pub auth: DbAuth,
    /// What a grant may do.
    pub privileges: DbPrivileges,
    /// Who objects a person created are given to when their last grant on the database ends;
    /// `None`: the admin login.
    pub owner: Option<String>,
    /// For `iam`: the region and resource id (`db-…` or `cluster-…`) in the `rds-db:connect` ARN.
    pub iam: Option<IamTarget>,
    /// Whether connections use TLS (verified); off only for a local server.
    pub tls: bool,
}

/// What an `rds-db:connect` statement names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IamTarget {
    /// The instance's region.
    pub region: String,
    /// The DbiResourceId of an instance or the resource id of a cluster.
    pub resource_id: String,
}

/// How a person signs in to the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DbAuth {
    /// IAM database authentication: `rds_iam` plus a time-conditioned `rds-db:connect`.
    Iam,
    /// A generated password, `VALID UNTIL` the grant's expiry.
    Password,
}

impl DbAuth {
    /// The catalog spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DbAuth::Iam => "iam",
            DbAuth::Password => "password",
        }
    }
}

/// What a grant may do on its database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DbPrivileges {
    /// Read every table and sequence of the schemas.
    Read {
        /// The schemas.
        schemas: Vec<String>,
    },
    /// Read and write rows of every table of the schemas, and use their sequences.
    Write {
        /// The schemas.
        schemas: Vec<String>,
    },
    /// Exactly these GRANT statements.
    Grants {
        /// The parsed statements.
        grants: Vec<DbGrant>,
    },
}

impl DbPrivileges {
    /// The GRANT statements this gives, each to `grantee`, quoted throughout. Schemas that
    /// tables or sequences are named in get USAGE as well (without it the grant is useless).
    pub fn sql(&self, grantee: &str) -> Vec<String> {
        let grants: Vec<DbGrant> = match self {
            DbPrivileges::Read { schemas } | DbPrivileges::Write { schemas } => {
                let write = matches!(self, DbPrivileges::Write { .. });
                let table: &[&str] = if write {
                    &["SELECT", "INSERT", "UPDATE", "DELETE"]
                } else {
                    &["SELECT"]
                };
                let seq: &[&str] = if write {
                    &["USAGE", "SELECT", "UPDATE"]
                } else {
                    &["SELECT"]
                };
                let names = || schemas.iter().map(|s| vec![s.clone()]).collect::<Vec<_>>();
                vec![
                    DbGrant::new(table, ObjectKind::AllTablesInSchema, names()),
                    DbGrant::new(seq, ObjectKind::AllSequencesInSchema, names()),
                ]
            }
            DbPrivileges::Grants { grants } => grants.clone(),
        };
        let mut schemas: Vec<String> = Vec::new();
        for g in &grants {
            for s in g.schemas() {
                if !schemas.contains(&s) {
                    schemas.push(s);
                }
            }
        }
        let mut out: Vec<String> = schemas
            .iter()
            .map(|s| {
                format!(
                    "GRANT USAGE ON SCHEMA {} TO {}",
                    quote_ident(s),
                    quote_ident(grantee)
                )
            })
            .collect();
        out.extend(grants.iter().map(|g| g.sql(grantee)));
        out
    }
}

/// What a GRANT statement is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectKind {
    /// `[TABLE] schema.table, …`
    Table,
    /// `SEQUENCE schema.seq, …`
    Sequence,
    /// `SCHEMA name, …`
    Schema,
    /// `ALL TABLES IN SCHEMA name, …`
    AllTablesInSchema,
    /// `ALL SEQUENCES IN SCHEMA name, …`
    AllSequencesInSchema,
}

impl ObjectKind {
    fn keyword(self) -> &'static str {
        match self {
            ObjectKind::Table => "TABLE",
            ObjectKind::Sequence => "SEQUENCE",
            ObjectKind::Schema => "SCHEMA",
            ObjectKind::AllTablesInSchema => "ALL TABLES IN SCHEMA",
            ObjectKind::AllSequencesInSchema => "ALL SEQUENCES IN SCHEMA",
        }
    }

    /// The privileges Postgres allows on this kind of object.
    fn allowed(self) -> &'static [&'static str] {
        match self {
            ObjectKind::Table | ObjectKind::AllTablesInSchema => &[
                "SELECT",
                "INSERT",
                "UPDATE",
                "DELETE",
                "TRUNCATE",
                "REFERENCES",
                "TRIGGER",
            ],
            ObjectKind::Sequence | ObjectKind::AllSequencesInSchema => {
                &["USAGE", "SELECT", "UPDATE"]
            }
            ObjectKind::Schema => &["USAGE", "CREATE"],
        }
    }

    fn qualified(self) -> bool {
        matches!(self, ObjectKind::Table | ObjectKind::Sequence)
    }
}

/// One GRANT statement of a bundle, parsed: privileges on objects, with no grantee (the grant's
/// own role is the grantee) and no GRANT OPTION.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DbGrant {
    /// Upper-case privilege keywords.
    pub privileges: Vec<String>,
    /// What kind of object.
    pub on: ObjectKind,
    /// The objects: `[schema, name]` or `[name]` for tables and sequences, `[schema]` otherwise.
    pub objects: Vec<Vec<String>>,
}

impl DbGrant {
    fn new(privileges: &[&str], on: ObjectKind, objects: Vec<Vec<String>>) -> Self {
        Self {
            privileges: privileges.iter().map(|p| p.to_string()).collect(),
            on,
            objects,
        }
    }

    /// Parses one statement as a bundle writes it, e.g.
    /// `GRANT SELECT, INSERT ON TABLE sales.orders` or `GRANT SELECT ON ALL TABLES IN SCHEMA sales`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let tokens = tokenize(text)?;
        let mut t = Tokens { tokens, at: 0 };
        t.keyword("GRANT")?;
        let mut privileges = Vec::new();
        if t.peek_is("ALL") {
            t.next();
            if t.peek_is("PRIVILEGES") {
                t.next();
            }
            privileges.push("ALL".to_string());
        } else {
            loop {
                privileges.push(t.word("a privilege such as SELECT")?);
                if !t.comma() {
                    break;
                }
            }
        }
        t.keyword("ON")?;
        let on = if t.peek_is("ALL") {
            t.next();
            let kind = match t.word("TABLES or SEQUENCES")?.as_str() {
                "TABLES" => ObjectKind::AllTablesInSchema,
                "SEQUENCES" => ObjectKind::AllSequencesInSchema,
                other => return Err(format!("ALL {other} is not supported: use ALL TABLES IN SCHEMA or ALL SEQUENCES IN SCHEMA")),
            };
            t.keyword("IN")?;
            t.keyword("SCHEMA")?;
            kind
        } else if t.peek_is("TABLE") {
            t.next();
            ObjectKind::Table
        } else if t.peek_is("SEQUENCE") {
            t.next();
            ObjectKind::Sequence
        } else if t.peek_is("SCHEMA") {
            t.next();
            ObjectKind::Schema
        } else if let Some(Token::Word(w)) = t.peek() {
            if [
                "FUNCTION",
                "DATABASE",
                "ROUTINE",
                "PROCEDURE",
                "LANGUAGE",
                "TABLESPACE",
                "FOREIGN",
                "LARGE",
                "DOMAIN",
                "TYPE",
            ]
            .contains(&w.as_str())
            {
                return Err(format!("GRANT … ON {w} is not supported: bundles grant on tables, sequences and schemas"));
            }
            ObjectKind::Table
        } else {
            ObjectKind::Table
        };
        let mut objects = Vec::new();
        loop {
            let first = t.ident()?;
            let mut name = vec![first];
            if on.qualified() && t.dot() {
                name.push(t.ident()?);
            }
            objects.push(name);
            if !t.comma() {
                break;
            }
        }
        if let Some(rest) = t.peek() {
            let what = rest.describe();
            return Err(if what.eq_ignore_ascii_case("TO") {
                "remove the TO clause: each grant's own role is the grantee".to_string()
            } else if what == ";" {
                "one statement per entry, without a semicolon".to_string()
            } else {
                format!("unexpected {what} after the object names: a statement ends after them")
            });
        }
        let allowed = on.allowed();
        for p in &privileges {
            if p != "ALL" && !allowed.contains(&p.as_str()) {
                return Err(format!(
                    "{p} cannot be granted ON {}: use {}",
                    on.keyword(),
                    allowed.join(", ")
                ));
            }
        }
        if privileges.contains(&"ALL".to_string()) {
            privileges = allowed.iter().map(|p| p.to_string()).collect();
        }
        privileges.dedup();
        Ok(Self {
            privileges,
            on,
            objects,
        })
    }

    /// The statement with every identifier quoted, granted to `grantee`.
    pub fn sql(&self, grantee: &str) -> String {
        let objects: Vec<String> = self
            .objects
            .iter()
            .map(|parts| {
                parts
                    .iter()
                    .map(|p| quote_ident(p))
                    .collect::<Vec<_>>()
                    .join(".")
            })
            .collect();
        format!(
            "GRANT {} ON {} {} TO {}",
            self.privileges.join(", "),
            self.on.keyword(),
            objects.join(", "),
            quote_ident(grantee)
        )
    }

    /// The schemas the statement's objects are in (`public` for an unqualified table).
    fn schemas(&self) -> Vec<String> {
        match self.on {
            ObjectKind::Schema => Vec::new(),
            ObjectKind::AllTablesInSchema | ObjectKind::AllSequencesInSchema => {
                self.objects.iter().map(|o| o[0].clone()).collect()
            }
            ObjectKind::Table | ObjectKind::Sequence => self
                .objects
                .iter()
                .map(|o| {
                    if o.len() == 2 {
                        o[0].clone()
                    } else {
                        "public".to_string()
                    }
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A bare word, upper-cased for keywords; `raw` keeps its case folding for identifiers.
    Word(String),
    /// A double-quoted identifier, unescaped.
    Quoted(String),
    Punct(char),
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(w) => w.clone(),
            Token::Quoted(q) => format!("{q:?}"),
            Token::Punct(c) => c.to_string(),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    if text.len() > 2_000 {
        return Err("too long: at most 2000 characters".into());
    }
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            ',' | '.' | ';' | '(' | ')' => out.push(Token::Punct(c)),
            '"' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            name.push('"');
                        }
                        Some('"') => break,
                        Some('\0') => {
                            return Err("a quoted name cannot hold a NUL character".into())
                        }
                        Some(c) => name.push(c),
                        None => {
                            return Err("a quoted name is not closed: add the closing \"".into())
                        }
                    }
                }
                check_ident(&name)?;
                out.push(Token::Quoted(name));
            }
            c if c.is_ascii_alphanumeric() || c == '_' => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' || n == '$' {
                        word.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Token::Word(word));
            }
            '-' if chars.peek() == Some(&'-') => return Err("comments are not allowed".into()),
            other => {
                return Err(format!(
                    "unexpected character {other:?}: names with it must be written in double quotes"
                ))
            }
        }
    }
    Ok(out)
}

struct Tokens {
    tokens: Vec<Token>,
    at: usize,
}

impl Tokens {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }
    fn peek_is(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }
    fn keyword(&mut self, keyword: &str) -> Result<(), String> {
        if self.peek_is(keyword) {
            self.next();
            Ok(())
        } else {
            Err(match self.peek() {
                Some(t) => format!("expected {keyword}, found {}", t.describe()),
                None => format!("expected {keyword} at the end"),
            })
        }
    }
    fn word(&mut self, what: &str) -> Result<String, String> {
        match self.next() {
            Some(Token::Word(w)) => Ok(w.to_ascii_uppercase()),
            Some(t) => Err(format!("expected {what}, found {}", t.describe())),
            None => Err(format!("expected {what} at the end")),
        }
    }
    /// A name: a bare word (folded to lower case, as Postgres does) or a quoted one (kept).
    fn ident(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Word(w)) => {
                if w.starts_with(|c: char| c.is_ascii_digit()) {
                    return Err(format!(
                        "{w:?} starts with a digit: write such a name in double quotes"
                    ));
                }
                let name = w.to_ascii_lowercase();
                check_ident(&name)?;
                Ok(name)
            }
            Some(Token::Quoted(q)) => Ok(q),
            Some(t) => Err(format!("expected a name, found {}", t.describe())),
            None => Err("expected a name at the end".into()),
        }
    }
    fn comma(&mut self) -> bool {
        self.punct(',')
    }
    fn dot(&mut self) -> bool {
        self.punct('.')
    }
    fn punct(&mut self, c: char) -> bool {
        if self.peek() == Some(&Token::Punct(c)) {
            self.next();
            true
        } else {
            false
        }
    }
}

/// Refuses a name Postgres would truncate or cannot hold.
pub fn check_ident(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a name cannot be empty".into());
    }
    if name.len() > MAX_IDENT_BYTES {
        return Err(format!(
            "the name {:?}… is {} bytes; Postgres names are at most {MAX_IDENT_BYTES}",
            name.chars().take(20).collect::<String>(),
            name.len()
        ));
    }
    if name.contains('\0') {
        return Err("a name cannot hold a NUL character".into());
    }
    Ok(())
}

/// `name` as a quoted SQL identifier: double quotes around it and doubled inside, so any text
/// is one name and nothing else.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as a quoted SQL string literal (standard-conforming strings, Postgres's default).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The person's role on every instance: `jit_` and the email with everything but letters and
/// digits made `_`, lower case. A name past Postgres's limit keeps its first 54 bytes and ends
/// with 8 hex digits of the email's hash, so it stays unique. Two emails that read alike (`a.b@x`
/// and `a_b@x`) are told apart where the role is made (its comment names its person).
pub fn person_role(person: &Email) -> String {
    let mut name = String::from("jit_");
    let mut last_sep = true;
    for c in person.as_str().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            name.push(c);
            last_sep = false;
        } else if !last_sep {
            name.push('_');
            last_sep = true;
        }
    }
    while name.ends_with('_') && name.len() > 4 {
        name.pop();
    }
    if name.len() <= MAX_IDENT_BYTES {
        return name;
    }
    let hash = hex::encode(Sha256::digest(person.as_str().as_bytes()));
    name.truncate(54);
    format!("{name}_{}", &hash[..8])
}

/// The comment on a person's role, naming whose it is.
pub fn person_comment(person: &Email) -> String {
    format!("jit person {person}")
}

/// The role that holds one grant's privileges.
pub fn grant_role(grant: &RequestId) -> String {
    format!("jitg_{grant}")
}

/// The grant a role name belongs to, if it is a grant role.
pub fn grant_of_role(name: &str) -> Option<RequestId> {
    RequestId::parse(name.strip_prefix("jitg_")?).ok()
}

impl Database {
    /// With `auth = "iam"`, the statement that lets `person` sign in as their role in each of
    /// `accounts` (the container adds the grant's time condition); nothing with a password.
    pub fn connect_statements(&self, accounts: &[AccountId], person: &Email) -> Vec<Statement> {
        let Some(iam) = self.iam.as_ref().filter(|_| self.auth == DbAuth::Iam) else {
            return Vec::new();
        };
        let user = person_role(person);
        let resources = accounts
            .iter()
            .filter_map(|a| {
                ResourceArn::parse(&format!(
                    "arn:aws:rds-db:{}:{a}:dbuser:{}/{user}",
                    iam.region, iam.resource_id
                ))
                .ok()
            })
            .collect();
        vec![Statement {
            actions: vec![IamAction::parse("rds-db:connect").expect("a valid action")],
            resources,
        }]
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} ({}:{})",
            self.instance, self.database, self.endpoint, self.port
        )
    }
}

/// A password set on a person's role, with where to sign in with it (the adapter knows: in
/// local mode the server is not the catalog's endpoint).
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedPassword {
    /// The password.
    pub password: String,
    /// Host to connect to.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Whether the server is reached with TLS.
    pub tls: bool,
}

impl fmt::Debug for IssuedPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedPassword")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// A grant role found on an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldGrant {
    /// Whose (from the person role it is granted to, or the grant role's comment).
    pub person: Email,
    /// The grant.
    pub grant: RequestId,
    /// The database its privileges are on.
    pub database: String,
}

/// What this product holds on an instance, for the sweep to compare with the ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbHoldings {
    /// Every grant role.
    pub grants: Vec<HeldGrant>,
    /// People whose role can log in though they hold no grant role.
    pub idle_logins: Vec<Email>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_parse_and_are_written_quoted() {
        let g =
            DbGrant::parse("grant select, insert on table Sales.orders, \"Odd\"\"Name\"").unwrap();
        assert_eq!(g.privileges, ["SELECT", "INSERT"]);
        assert_eq!(g.on, ObjectKind::Table);
        assert_eq!(
            g.sql("jitg_x"),
            "GRANT SELECT, INSERT ON TABLE \"sales\".\"orders\", \"odd\"\"name\" TO \"jitg_x\""
                .replace("\"odd\"\"name\"", "\"Odd\"\"Name\"")
        );
        let all = DbGrant::parse("GRANT ALL PRIVILEGES ON ALL TABLES IN SCHEMA reporting").unwrap();
        assert_eq!(all.on, ObjectKind::AllTablesInSchema);
        assert!(all.privileges.contains(&"TRUNCATE".to_string()));
        let sql = DbPrivileges::Grants { grants: vec![g] }.sql("jitg_x");
        assert_eq!(sql[0], "GRANT USAGE ON SCHEMA \"sales\" TO \"jitg_x\"");
        assert_eq!(sql[1], "GRANT USAGE ON SCHEMA \"public\" TO \"jitg_x\"");
    }

    #[test]
    fn hostile_or_wrong_statements_are_refused_with_what_to_do() {
        for (text, says) in [
            ("GRANT SELECT ON orders TO alice", "remove the TO clause"),
            (
                "GRANT SELECT ON orders; DROP TABLE orders",
                "without a semicolon",
            ),
            ("GRANT SELECT ON orders -- x", "comments are not allowed"),
            (
                "GRANT SELECT ON orders WITH GRANT OPTION",
                "unexpected WITH",
            ),
            ("GRANT EXECUTE ON FUNCTION f()", "not supported"),
            ("GRANT CREATE ON TABLE t", "cannot be granted ON TABLE"),
            ("GRANT SELECT ON 'orders'", "unexpected character"),
            ("GRANT SELECT ON \"unclosed", "not closed"),
            ("SELECT 1", "expected GRANT"),
            ("GRANT SELECT ON", "expected a name at the end"),
        ] {
            let e = DbGrant::parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
        let long = format!("GRANT SELECT ON \"{}\"", "x".repeat(64));
        assert!(DbGrant::parse(&long).unwrap_err().contains("at most 63"));
    }

    #[test]
    fn person_roles_are_readable_bounded_and_distinct_when_long() {
        let e = |s: &str| Email::parse(s).unwrap();
        assert_eq!(
            person_role(&e("alice@example.com")),
            "jit_alice_example_com"
        );
        assert_eq!(
            person_role(&e("O'Brien+ops@Example.com")),
            "jit_o_brien_ops_example_com"
        );
        let a = person_role(&e(&format!("{}a@example.com", "x".repeat(60))));
        let b = person_role(&e(&format!("{}b@example.com", "x".repeat(60))));
        assert_eq!(a.len(), MAX_IDENT_BYTES);
        assert_ne!(a, b);
        assert_eq!(
            quote_ident("a\"; DROP ROLE x; --"),
            "\"a\"\"; DROP ROLE x; --\""
        );
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
