//! Reading catalog files. Three passes, so that a person sees every mistake at once:
//! 1. TOML syntax (the first syntax error stops that file, as nothing after it can be trusted);
//! 2. a walk over the spanned document that reports every unknown field with its line;
//! 3. typed reading and validation of every value and cross-reference.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::str::FromStr;

use chrono::Duration;
use regex::Regex;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::model::*;
use crate::types::{
    AccountId, BundleName, ChatChannel, Email, FlowName, GrantDuration, GroupName, IamAction,
    InvalidValue, PermissionSetArn, ResourceArn, Risk,
};
use db::{read_database, RawDatabase, DATABASE_KEYS};

/// One mistake in a catalog file, located by file, line and field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogError {
    /// The file, as given to the parser (relative to the catalog directory when loaded from one).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// Where in the document, e.g. `bundle "api-production".risk`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.field, self.message
        )
    }
}

/// Every mistake found in a catalog, in file and line order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CatalogErrors(pub Vec<CatalogError>);

impl fmt::Display for CatalogErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Why a catalog directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The directory or a file in it could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// What could not be read.
        path: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The directory holds no catalog file.
    #[error("{0} holds no catalog files (*.toml other than directory.toml)")]
    Empty(String),
    /// The files were read but are not a valid catalog.
    #[error("{count} error(s) in the catalog:\n{0}", count = .0.0.len())]
    Invalid(CatalogErrors),
}

/// The file in a catalog directory that stands in for the Identity Store in local mode; it is
/// not part of the catalog.
pub const DIRECTORY_FILE: &str = "directory.toml";

/// Largest catalog file read, so a stray huge file cannot exhaust memory.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Loads every `*.toml` file (but `directory.toml`) in `dir`, in name order.
pub fn load_dir(dir: &Path) -> Result<Catalog, LoadError> {
    parse_files(&read_files(dir)?).map_err(LoadError::Invalid)
}

/// The catalog files in `dir` as `(name relative to dir, contents)`, in name order: what
/// [`parse_files`] reads and what a published version stores.
pub fn read_files(dir: &Path) -> Result<Vec<(String, String)>, LoadError> {
    let io = |path: &Path, source| LoadError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let path = entry.map_err(|e| io(dir, e))?.path();
        let is_toml = path.extension().is_some_and(|e| e == "toml");
        let is_directory = path.file_name().is_some_and(|n| n == DIRECTORY_FILE);
        if is_toml && !is_directory && path.is_file() {
            names.push(path);
        }
    }
    names.sort();
    if names.is_empty() {
        return Err(LoadError::Empty(dir.display().to_string()));
    }
    let mut files = Vec::new();
    for path in names {
        let size = std::fs::metadata(&path).map_err(|e| io(&path, e))?.len();
        if size > MAX_FILE_BYTES {
            let source = std::io::Error::other(format!(
                "file is {size} bytes; the limit is {MAX_FILE_BYTES}"
            ));
            return Err(io(&path, source));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        let shown = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        files.push((shown, text));
    }
    Ok(files)
}

/// Parses and validates a catalog made of `(file name, contents)` pairs.
pub fn parse_files(files: &[(String, String)]) -> Result<Catalog, CatalogErrors> {
    let mut errors = Vec::new();
    let mut raws = Vec::new();
    for (name, text) in files {
        let mut ctx = Ctx {
            file: name,
            src: text,
            errors: &mut errors,
        };
        if let Some(raw) = read_file(&mut ctx) {
            raws.push((name.as_str(), text.as_str(), raw));
        }
    }
    let catalog = build(&raws, &mut errors);
    if errors.is_empty() {
        Ok(catalog.expect("a catalog is built whenever no error was found"))
    } else {
        errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        Err(CatalogErrors(errors))
    }
}

/// Collects errors for one file and turns byte spans into line numbers.
struct Ctx<'a> {
    file: &'a str,
    src: &'a str,
    errors: &'a mut Vec<CatalogError>,
}

impl Ctx<'_> {
    fn line(&self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.src.len());
        self.src.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn error(&mut self, span: &Range<usize>, field: impl Into<String>, message: impl Into<String>) {
        let line = self.line(span);
        self.errors.push(CatalogError {
            file: self.file.to_string(),
            line,
            field: field.into(),
            message: message.into(),
        });
    }

    /// Parses a spanned string into a validated value, recording the error if it is invalid.
    fn value<T: FromStr<Err = InvalidValue>>(
        &mut self,
        raw: &Spanned<String>,
        field: &str,
    ) -> Option<T> {
        match raw.get_ref().parse() {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(&raw.span(), field, e.to_string());
                None
            }
        }
    }

    fn required<'r, T>(
        &mut self,
        value: &'r Option<T>,
        at: &Range<usize>,
        field: &str,
        hint: &str,
    ) -> Option<&'r T> {
        if value.is_none() {
            self.error(at, field, format!("missing: {hint}"));
        }
        value.as_ref()
    }

    fn text(&mut self, raw: &Option<Spanned<String>>, field: &str, max: usize) -> String {
        match raw {
            Some(t) if t.get_ref().chars().count() > max => {
                self.error(
                    &t.span(),
                    field,
                    format!("too long: at most {max} characters"),
                );
                String::new()
            }
            Some(t) => t.get_ref().clone(),
            None => String::new(),
        }
    }

    fn duration(&mut self, raw: &Option<Spanned<String>>, field: &str) -> Option<GrantDuration> {
        raw.as_ref().and_then(|d| self.value(d, field))
    }

    fn list<T: FromStr<Err = InvalidValue>>(
        &mut self,
        raw: &[Spanned<String>],
        field: &str,
        max: usize,
    ) -> Vec<T> {
        if raw.len() > max {
            self.error(
                &raw[max].span(),
                field,
                format!("too many entries: at most {max}"),
            );
        }
        let mut out = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for (i, item) in raw.iter().enumerate().take(max) {
            if seen.contains(&item.get_ref().as_str()) {
                self.error(
                    &item.span(),
                    format!("{field}[{i}]"),
                    format!("{:?} is listed twice", item.get_ref()),
                );
                continue;
            }
            seen.push(item.get_ref());
            if let Some(v) = self.value(item, &format!("{field}[{i}]")) {
                out.push(v);
            }
        }
        out
    }
}

mod db;

// ---- pass 2: unknown fields -------------------------------------------------------------------

const ROOT_KEYS: &[&str] = &["bundle", "flow", "settings", "risk_matrix"];
const BUNDLE_KEYS: &[&str] = &[
    "name",
    "description",
    "owner_team",
    "risk",
    "strategy",
    "permission_set",
    "accounts",
    "max_duration",
    "statements",
    "deprecated",
    "successor",
    "database",
];
const STATEMENT_KEYS: &[&str] = &["actions", "resources"];
const FLOW_KEYS: &[&str] = &[
    "name",
    "description",
    "requesters",
    "bundles",
    "default_duration",
    "max_duration",
    "justification",
    "ticket_pattern",
    "self_approval",
    "break_glass",
    "notify",
    "extendable",
    "approval",
    "approve_in_chat",
    "chat_channel",
];
const APPROVAL_KEYS: &[&str] = &[
    "between",
    "groups",
    "escalate_after",
    "escalate_to",
    "request_ttl",
];
const GROUP_KEYS: &[&str] = &["name", "require"];
const SETTINGS_KEYS: &[&str] = &[
    "platform_group",
    "admin_group",
    "escalate_after",
    "escalate_to",
    "request_ttl",
    "default_duration",
    "disabled_services",
];
const MATRIX_KEYS: &[&str] = &["low", "medium", "high", "critical"];

fn check_keys(ctx: &mut Ctx, table: &DeTable, allowed: &[&str], path: &str) {
    for key in table.keys() {
        let name = key.get_ref().as_ref();
        if !allowed.contains(&name) {
            let hint = match closest(name, allowed) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("expected one of: {}", allowed.join(", ")),
            };
            let field = if path.is_empty() {
                name.to_string()
            } else {
                format!("{path}.{name}")
            };
            ctx.error(
                &key.span(),
                field,
                format!("unknown field `{name}`; {hint}"),
            );
        }
    }
}

/// The allowed key nearest to a misspelt one, if any is close.
pub(crate) fn closest<'a>(name: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (edit_distance(name, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4))
        .min()
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Names an array entry by its `name` when it has one: `bundle "api-production"`.
fn entry_label(kind: &str, index: usize, table: &DeTable) -> String {
    match table.get("name").and_then(|v| v.get_ref().as_str()) {
        Some(name) => format!("{kind} {name:?}"),
        None => format!("{kind}[{index}]"),
    }
}

fn tables<'a, 'i>(value: Option<&'a Spanned<DeValue<'i>>>) -> Vec<&'a DeTable<'i>> {
    match value.map(|v| v.get_ref()) {
        Some(DeValue::Array(items)) => items
            .iter()
            .filter_map(|i| i.get_ref().as_table())
            .collect(),
        Some(DeValue::Table(t)) => vec![t],
        _ => Vec::new(),
    }
}

fn walk_unknown(ctx: &mut Ctx, root: &DeTable) {
    check_keys(ctx, root, ROOT_KEYS, "");
    for (i, bundle) in tables(root.get("bundle")).into_iter().enumerate() {
        let label = entry_label("bundle", i, bundle);
        check_keys(ctx, bundle, BUNDLE_KEYS, &label);
        for (j, st) in tables(bundle.get("statements")).into_iter().enumerate() {
            check_keys(ctx, st, STATEMENT_KEYS, &format!("{label}.statements[{j}]"));
        }
        for db in tables(bundle.get("database")) {
            check_keys(ctx, db, DATABASE_KEYS, &format!("{label}.database"));
        }
    }
    for (i, flow) in tables(root.get("flow")).into_iter().enumerate() {
        let label = entry_label("flow", i, flow);
        check_keys(ctx, flow, FLOW_KEYS, &label);
        for approval in tables(flow.get("approval")) {
            check_keys(ctx, approval, APPROVAL_KEYS, &format!("{label}.approval"));
            for (j, group) in tables(approval.get("groups")).into_iter().enumerate() {
                check_keys(
                    ctx,
                    group,
                    GROUP_KEYS,
                    &format!("{label}.approval.groups[{j}]"),
                );
            }
        }
    }
    for settings in tables(root.get("settings")) {
        check_keys(ctx, settings, SETTINGS_KEYS, "settings");
    }
    for matrix in tables(root.get("risk_matrix")) {
        check_keys(ctx, matrix, MATRIX_KEYS, "risk_matrix");
    }
}

// ---- pass 3: typed reading --------------------------------------------------------------------

type Strings = Spanned<Vec<Spanned<String>>>;
type RawMatrix = Spanned<BTreeMap<String, Strings>>;

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    bundle: Vec<Spanned<RawBundle>>,
    #[serde(default)]
    flow: Vec<Spanned<RawFlow>>,
    settings: Option<Spanned<RawSettings>>,
    risk_matrix: Option<RawMatrix>,
}

#[derive(Deserialize)]
struct RawBundle {
    name: Option<Spanned<String>>,
    description: Option<Spanned<String>>,
    owner_team: Option<Spanned<String>>,
    risk: Option<Spanned<String>>,
    strategy: Option<Spanned<String>>,
    permission_set: Option<Spanned<String>>,
    accounts: Option<Strings>,
    max_duration: Option<Spanned<String>>,
    statements: Option<Spanned<Vec<Spanned<RawStatement>>>>,
    deprecated: Option<Spanned<bool>>,
    successor: Option<Spanned<String>>,
    database: Option<Spanned<RawDatabase>>,
}

#[derive(Deserialize)]
struct RawStatement {
    actions: Option<Strings>,
    resources: Option<Strings>,
}

#[derive(Deserialize)]
struct RawFlow {
    name: Option<Spanned<String>>,
    description: Option<Spanned<String>>,
    requesters: Option<Strings>,
    bundles: Option<Strings>,
    default_duration: Option<Spanned<String>>,
    max_duration: Option<Spanned<String>>,
    justification: Option<Spanned<String>>,
    ticket_pattern: Option<Spanned<String>>,
    self_approval: Option<bool>,
    break_glass: Option<bool>,
    notify: Option<Strings>,
    extendable: Option<bool>,
    approval: Option<Spanned<RawApproval>>,
    approve_in_chat: Option<bool>,
    chat_channel: Option<Spanned<String>>,
}

/// `approval = "auto"` or `approval = { between = ..., groups = [...] }`.
enum RawApproval {
    Word(String),
    Table(RawApprovalTable),
}

impl<'de> Deserialize<'de> for RawApproval {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawApproval;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"auto\", \"matrix\" or a table with groups")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawApproval, E> {
                Ok(RawApproval::Word(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawApproval, A::Error> {
                RawApprovalTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawApproval::Table)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct RawApprovalTable {
    between: Option<Spanned<String>>,
    groups: Option<Spanned<Vec<Spanned<RawGroup>>>>,
    escalate_after: Option<Spanned<String>>,
    escalate_to: Option<Strings>,
    request_ttl: Option<Spanned<String>>,
}

#[derive(Deserialize)]
struct RawGroup {
    name: Option<Spanned<String>>,
    require: Option<Spanned<String>>,
}

#[derive(Deserialize)]
struct RawSettings {
    platform_group: Option<Spanned<String>>,
    admin_group: Option<Spanned<String>>,
    escalate_after: Option<Spanned<String>>,
    escalate_to: Option<Strings>,
    request_ttl: Option<Spanned<String>>,
    default_duration: Option<Spanned<String>>,
    disabled_services: Option<Strings>,
}

fn read_file(ctx: &mut Ctx) -> Option<RawFile> {
    let root = match DeTable::parse(ctx.src) {
        Ok(root) => root,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            ctx.error(
                &span,
                "syntax",
                format!("not valid TOML: {}", e.message().trim()),
            );
            return None;
        }
    };
    walk_unknown(ctx, root.get_ref());
    match RawFile::deserialize(toml::de::Deserializer::from(root)) {
        Ok(raw) => Some(raw),
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            ctx.error(
                &span,
                "type",
                format!(
                    "{} (check the value's type: strings are quoted, lists use [ ])",
                    e.message().trim()
                ),
            );
            None
        }
    }
}

/// What the first pass over all files found, before cross-references are checked.
struct Parts {
    bundles: BTreeMap<BundleName, (Bundle, Option<Spanned<String>>, usize)>,
    flows: BTreeMap<FlowName, (Flow, Vec<Spanned<String>>, usize)>,
}

fn build(files: &[(&str, &str, RawFile)], errors: &mut Vec<CatalogError>) -> Option<Catalog> {
    // Settings first: flows take their defaults from them.
    let mut settings = None;
    let mut matrix = None;
    for (file, src, raw) in files {
        let mut ctx = Ctx { file, src, errors };
        if let Some(s) = &raw.settings {
            if settings.is_some() {
                ctx.error(
                    &s.span(),
                    "settings",
                    "settings are defined in more than one file; keep one [settings] table",
                );
            }
            settings = Some(read_settings(&mut ctx, s.get_ref()));
        }
        if let Some(m) = &raw.risk_matrix {
            if matrix.is_some() {
                ctx.error(
                    &m.span(),
                    "risk_matrix",
                    "the risk matrix is defined in more than one file; keep one",
                );
            }
            matrix = Some(read_matrix(&mut ctx, m.get_ref()));
        }
    }
    let settings = settings.unwrap_or_else(default_settings);
    let matrix = matrix.unwrap_or_default();

    let mut parts = Parts {
        bundles: BTreeMap::new(),
        flows: BTreeMap::new(),
    };
    let mut places: BTreeMap<String, String> = BTreeMap::new();
    for (file_index, (file, src, raw)) in files.iter().enumerate() {
        let mut ctx = Ctx { file, src, errors };
        for b in &raw.bundle {
            if let Some(bundle) = read_bundle(&mut ctx, b) {
                let at = format!("{file}:{}", ctx.line(&b.span()));
                let key = format!("bundle {}", bundle.name);
                if let Some(first) = places.insert(key, at.clone()) {
                    ctx.error(
                        &b.span(),
                        format!("bundle {:?}", bundle.name.as_str()),
                        format!("duplicate name; first defined at {first}"),
                    );
                    continue;
                }
                parts.bundles.insert(
                    bundle.name.clone(),
                    (bundle, b.get_ref().successor.clone(), file_index),
                );
            }
        }
        for f in &raw.flow {
            if let Some((flow, bundle_refs)) = read_flow(&mut ctx, f, &settings) {
                let at = format!("{file}:{}", ctx.line(&f.span()));
                let key = format!("flow {}", flow.name);
                if let Some(first) = places.insert(key, at.clone()) {
                    ctx.error(
                        &f.span(),
                        format!("flow {:?}", flow.name.as_str()),
                        format!("duplicate name; first defined at {first}"),
                    );
                    continue;
                }
                parts
                    .flows
                    .insert(flow.name.clone(), (flow, bundle_refs, file_index));
            }
        }
    }

    // Cross-references: flows name existing bundles; successors exist and are not deprecated.
    let known: Vec<BundleName> = parts.bundles.keys().cloned().collect();
    let suggest = |name: &str| {
        let names: Vec<&str> = known.iter().map(|b| b.as_str()).collect();
        closest(name, &names)
            .map(|n| format!(" (did you mean {n:?}?)"))
            .unwrap_or_default()
    };
    for (flow, refs, file_index) in parts.flows.values() {
        let (file, src, _) = &files[*file_index];
        let mut ctx = Ctx { file, src, errors };
        for r in refs {
            if BundleName::parse(r.get_ref()).is_ok_and(|b| !parts.bundles.contains_key(&b)) {
                let msg = format!("unknown bundle {:?}{}", r.get_ref(), suggest(r.get_ref()));
                ctx.error(
                    &r.span(),
                    format!("flow {:?}.bundles", flow.name.as_str()),
                    msg,
                );
            }
        }
    }
    let deprecated: Vec<BundleName> = parts
        .bundles
        .values()
        .filter(|(b, _, _)| b.deprecated.is_some())
        .map(|(b, _, _)| b.name.clone())
        .collect();
    for (bundle, successor, file_index) in parts.bundles.values_mut() {
        let (file, src, _) = &files[*file_index];
        let mut ctx = Ctx { file, src, errors };
        let Some(raw) = successor else { continue };
        let field = format!("bundle {:?}.successor", bundle.name.as_str());
        let Some(name) = ctx.value::<BundleName>(raw, &field) else {
            continue;
        };
        if name == bundle.name {
            ctx.error(&raw.span(), field, "a bundle cannot succeed itself");
        } else if !known.contains(&name) {
            ctx.error(
                &raw.span(),
                field,
                format!(
                    "unknown bundle {:?}{}",
                    name.as_str(),
                    suggest(name.as_str())
                ),
            );
        } else if deprecated.contains(&name) {
            ctx.error(
                &raw.span(),
                field,
                format!("{name:?} is deprecated too; name a bundle people can still request"),
            );
        } else if let Some(d) = bundle.deprecated.as_mut() {
            d.successor = Some(name);
        } else {
            ctx.error(
                &raw.span(),
                field,
                "successor is only for deprecated bundles; add `deprecated = true` or remove it",
            );
        }
    }

    if !errors.is_empty() {
        return None;
    }
    Some(Catalog {
        bundles: parts
            .bundles
            .into_iter()
            .map(|(k, (b, _, _))| (k, b))
            .collect(),
        flows: parts
            .flows
            .into_iter()
            .map(|(k, (f, _, _))| (k, f))
            .collect(),
        settings,
        matrix,
    })
}

fn default_settings() -> Settings {
    let platform = GroupName::parse("platform-team").expect("valid built-in group name");
    Settings {
        platform_group: platform.clone(),
        admin_group: platform.clone(),
        escalate_to: vec![platform],
        escalate_after: Duration::hours(1),
        request_ttl: Duration::hours(24),
        default_duration: GrantDuration::hours(1),
        disabled_services: Vec::new(),
    }
}

/// A flow's escalation chain: its own, or the catalog's default.
fn escalation(
    settings: &Settings,
    raw: &Option<Strings>,
    ctx: &mut Ctx,
    field: &str,
) -> Vec<GroupName> {
    match raw {
        Some(list) => ctx.list(list.get_ref(), field, 5),
        None => settings.escalate_to.clone(),
    }
}

fn read_settings(ctx: &mut Ctx, raw: &RawSettings) -> Settings {
    let mut s = default_settings();
    if let Some(g) = raw
        .platform_group
        .as_ref()
        .and_then(|g| ctx.value(g, "settings.platform_group"))
    {
        s.platform_group = g;
        s.admin_group = s.platform_group.clone();
        s.escalate_to = vec![s.platform_group.clone()];
    }
    if let Some(list) = &raw.escalate_to {
        s.escalate_to = ctx.list(list.get_ref(), "settings.escalate_to", 5);
    }
    if let Some(g) = raw
        .admin_group
        .as_ref()
        .and_then(|g| ctx.value(g, "settings.admin_group"))
    {
        s.admin_group = g;
    }
    if let Some(d) = bounded(
        ctx,
        &raw.escalate_after,
        "settings.escalate_after",
        (300, 7 * 86_400),
    ) {
        s.escalate_after = d;
    }
    if let Some(d) = bounded(
        ctx,
        &raw.request_ttl,
        "settings.request_ttl",
        (300, 14 * 86_400),
    ) {
        s.request_ttl = d;
    }
    if let Some(d) = ctx.duration(&raw.default_duration, "settings.default_duration") {
        s.default_duration = d;
    }
    if let Some(list) = &raw.disabled_services {
        for (i, svc) in list.get_ref().iter().enumerate() {
            let name = svc.get_ref();
            if name.is_empty()
                || name.len() > 40
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                let msg = format!("{name:?} is not an IAM service prefix; write it as in actions, e.g. \"iam\" or \"s3\"");
                ctx.error(&svc.span(), format!("settings.disabled_services[{i}]"), msg);
            } else {
                s.disabled_services.push(name.clone());
            }
        }
    }
    s
}

/// A duration that must lie within `(min, max)` seconds, as a chrono duration.
fn bounded(
    ctx: &mut Ctx,
    raw: &Option<Spanned<String>>,
    field: &str,
    (min, max): (i64, i64),
) -> Option<Duration> {
    let d = ctx.duration(raw, field)?;
    if d.as_secs() < min || d.as_secs() > max {
        let span = raw.as_ref().map(|r| r.span()).unwrap_or(0..0);
        let show =
            |secs| GrantDuration::from_secs(secs).map_or(format!("{secs}s"), |g| g.to_string());
        ctx.error(
            &span,
            field,
            format!(
                "{d} is out of range: use between {} and {}",
                show(min),
                show(max)
            ),
        );
        return None;
    }
    Some(d.as_chrono())
}

fn read_matrix(ctx: &mut Ctx, raw: &BTreeMap<String, Strings>) -> RiskMatrix {
    let mut matrix = RiskMatrix::default();
    for (row, risk) in Risk::ALL.iter().enumerate() {
        let Some(cells) = raw.get(risk.as_str()) else {
            continue;
        };
        let field = format!("risk_matrix.{risk}");
        if cells.get_ref().len() != 4 {
            let msg = "give 4 cells: up to 1 day, up to 1 week, up to 2 weeks, longer";
            ctx.error(&cells.span(), field, msg);
            continue;
        }
        for (col, cell) in cells.get_ref().iter().enumerate() {
            match cell.get_ref().as_str() {
                "auto" => matrix.rows[row][col] = MatrixCell::Auto,
                "auto-owner" => matrix.rows[row][col] = MatrixCell::AutoOwner,
                "owner" => matrix.rows[row][col] = MatrixCell::Owner,
                "platform" => matrix.rows[row][col] = MatrixCell::Platform,
                other => {
                    let msg =
                        format!("unknown cell {other:?}: use auto, auto-owner, owner or platform");
                    ctx.error(&cell.span(), format!("{field}[{col}]"), msg);
                }
            }
        }
    }
    matrix
}

fn read_bundle(ctx: &mut Ctx, spanned: &Spanned<RawBundle>) -> Option<Bundle> {
    let at = spanned.span();
    let raw = spanned.get_ref();
    let label = match &raw.name {
        Some(n) => format!("bundle {:?}", n.get_ref()),
        None => format!("bundle at line {}", ctx.line(&at)),
    };
    let f = |field: &str| format!("{label}.{field}");
    let before = ctx.errors.len();

    let name = ctx
        .required(&raw.name, &at, &f("name"), "every bundle needs a name")
        .and_then(|n| ctx.value::<BundleName>(n, &f("name")));
    let description = ctx.text(&raw.description, &f("description"), 500);
    let owner_team = ctx
        .required(
            &raw.owner_team,
            &at,
            &f("owner_team"),
            "name the Identity Store group that owns the bundle",
        )
        .and_then(|g| ctx.value::<GroupName>(g, &f("owner_team")));
    let risk = ctx
        .required(
            &raw.risk,
            &at,
            &f("risk"),
            "set risk to low, medium, high or critical",
        )
        .and_then(|r| ctx.value::<Risk>(r, &f("risk")));
    let accounts = match ctx.required(
        &raw.accounts,
        &at,
        &f("accounts"),
        "list the account ids a grant may target",
    ) {
        Some(list) if list.get_ref().is_empty() => {
            ctx.error(&list.span(), f("accounts"), "list at least one account id");
            Vec::new()
        }
        Some(list) => ctx.list::<AccountId>(list.get_ref(), &f("accounts"), 100),
        None => Vec::new(),
    };
    let max_duration = ctx.duration(&raw.max_duration, &f("max_duration"));
    let permission_set = raw
        .permission_set
        .as_ref()
        .and_then(|p| ctx.value::<PermissionSetArn>(p, &f("permission_set")));
    let strategy = match raw
        .strategy
        .as_ref()
        .map(|s| (s.get_ref().as_str(), s.span()))
    {
        None | Some(("container", _)) => Some(Strategy::Container),
        Some(("iam-role", _)) => Some(Strategy::IamRole),
        Some(("postgres", _)) => read_database(ctx, raw.database.as_ref(), &at, &label)
            .map(|db| Strategy::Postgres(Box::new(db))),
        Some(("assignment", span)) => match permission_set.clone() {
            Some(permission_set) => Some(Strategy::Assignment { permission_set }),
            None if raw.permission_set.is_none() => {
                ctx.error(
                    &span,
                    f("permission_set"),
                    "missing: the assignment strategy needs the permission set ARN to assign",
                );
                None
            }
            None => None,
        },
        Some((other, span)) => {
            ctx.error(
                &span,
                f("strategy"),
                format!(
                    "unknown strategy {other:?}: use container, assignment, iam-role or postgres"
                ),
            );
            None
        }
    };
    if let (Some(p), Some(s)) = (&raw.permission_set, &strategy) {
        if !matches!(s, Strategy::Assignment { .. }) {
            ctx.error(
                &p.span(),
                f("permission_set"),
                "permission_set is only used by strategy = \"assignment\"; remove it",
            );
        }
    }

    let postgres = raw
        .strategy
        .as_ref()
        .is_some_and(|s| s.get_ref() == "postgres");
    if let (false, Some(d)) = (postgres, &raw.database) {
        ctx.error(&d.span(), f("database"), "a database table is only used by strategy = \"postgres\"; remove it or set the strategy");
    }
    if postgres && accounts.len() > 1 {
        ctx.error(
            &at,
            f("accounts"),
            "a postgres bundle names the one account its database is in",
        );
    }
    if let (true, Some(st)) = (postgres, &raw.statements) {
        ctx.error(&st.span(), f("statements"), "a postgres bundle grants database privileges ([bundle.database]), not IAM statements; remove statements");
    }
    let mut statements = Vec::new();
    let needs_statements = !matches!(strategy, Some(Strategy::Assignment { .. })) && !postgres;
    match &raw.statements {
        None if needs_statements => ctx.error(
            &at,
            f("statements"),
            "missing: list the permissions the bundle grants",
        ),
        None => {}
        Some(list) if list.get_ref().is_empty() && needs_statements => {
            ctx.error(&list.span(), f("statements"), "list at least one statement")
        }
        Some(list) => {
            if list.get_ref().len() > 50 {
                ctx.error(
                    &list.span(),
                    f("statements"),
                    "too many statements: at most 50 per bundle",
                );
            }
            for (i, st) in list.get_ref().iter().enumerate().take(50) {
                let sf = f(&format!("statements[{i}]"));
                let raw_st = st.get_ref();
                let actions = match &raw_st.actions {
                    Some(a) if !a.get_ref().is_empty() => {
                        ctx.list::<IamAction>(a.get_ref(), &format!("{sf}.actions"), 100)
                    }
                    other => {
                        let span = other.as_ref().map(|a| a.span()).unwrap_or(st.span());
                        ctx.error(
                            &span,
                            format!("{sf}.actions"),
                            "a statement needs at least one action, e.g. \"s3:GetObject\"",
                        );
                        Vec::new()
                    }
                };
                let resources = match &raw_st.resources {
                    Some(r) if !r.get_ref().is_empty() => {
                        ctx.list::<ResourceArn>(r.get_ref(), &format!("{sf}.resources"), 100)
                    }
                    other => {
                        let span = other.as_ref().map(|r| r.span()).unwrap_or(st.span());
                        ctx.error(
                            &span,
                            format!("{sf}.resources"),
                            "a statement needs at least one resource ARN (or \"*\")",
                        );
                        Vec::new()
                    }
                };
                statements.push(Statement { actions, resources });
            }
        }
    }
    let deprecated = raw
        .deprecated
        .as_ref()
        .is_some_and(|d| *d.get_ref())
        .then_some(Deprecation { successor: None });

    if ctx.errors.len() > before {
        return None;
    }
    Some(Bundle {
        name: name?,
        description,
        owner_team: owner_team?,
        risk: risk?,
        strategy: strategy?,
        accounts,
        max_duration,
        statements,
        deprecated,
    })
}

/// The longest a break-glass grant may last.
pub const BREAK_GLASS_MAX_SECS: i64 = 12 * 3_600;

fn read_flow(
    ctx: &mut Ctx,
    spanned: &Spanned<RawFlow>,
    settings: &Settings,
) -> Option<(Flow, Vec<Spanned<String>>)> {
    let at = spanned.span();
    let raw = spanned.get_ref();
    let label = match &raw.name {
        Some(n) => format!("flow {:?}", n.get_ref()),
        None => format!("flow at line {}", ctx.line(&at)),
    };
    let f = |field: &str| format!("{label}.{field}");
    let before = ctx.errors.len();

    let name = ctx
        .required(&raw.name, &at, &f("name"), "every flow needs a name")
        .and_then(|n| ctx.value::<FlowName>(n, &f("name")));
    let description = ctx.text(&raw.description, &f("description"), 500);
    let mut everyone = false;
    let requesters = match ctx.required(
        &raw.requesters,
        &at,
        &f("requesters"),
        "list the groups that may use this flow (or [\"*\"])",
    ) {
        Some(list) if list.get_ref().is_empty() => {
            ctx.error(&list.span(), f("requesters"), "the requester list is empty: nobody could use this flow; list groups or [\"*\"] for everyone");
            Vec::new()
        }
        Some(list) if list.get_ref().iter().any(|r| r.get_ref() == "*") => {
            everyone = true;
            if list.get_ref().len() > 1 {
                ctx.error(
                    &list.span(),
                    f("requesters"),
                    "\"*\" already admits everyone; list it alone",
                );
            }
            Vec::new()
        }
        Some(list) => ctx.list::<GroupName>(list.get_ref(), &f("requesters"), 50),
        None => Vec::new(),
    };
    let bundle_refs = match ctx.required(
        &raw.bundles,
        &at,
        &f("bundles"),
        "list the bundles this flow offers",
    ) {
        Some(list) if list.get_ref().is_empty() => {
            ctx.error(&list.span(), f("bundles"), "list at least one bundle");
            Vec::new()
        }
        Some(list) => list.get_ref().clone(),
        None => Vec::new(),
    };
    let bundles = ctx.list::<BundleName>(&bundle_refs, &f("bundles"), 200);
    let break_glass = raw.break_glass.unwrap_or(false);

    let fallback_max = if break_glass {
        GrantDuration::hours(1)
    } else {
        GrantDuration::hours(8)
    };
    let max_duration = ctx
        .duration(&raw.max_duration, &f("max_duration"))
        .unwrap_or(fallback_max);
    if break_glass && max_duration.as_secs() > BREAK_GLASS_MAX_SECS {
        let span = raw
            .max_duration
            .as_ref()
            .map(|d| d.span())
            .unwrap_or(at.clone());
        ctx.error(
            &span,
            f("max_duration"),
            format!("break-glass grants last at most 12h, not {max_duration}"),
        );
    }
    let default_duration = match ctx.duration(&raw.default_duration, &f("default_duration")) {
        Some(d) if d > max_duration => {
            let span = raw
                .default_duration
                .as_ref()
                .map(|d| d.span())
                .unwrap_or(at.clone());
            let msg = format!("default_duration {d} is longer than max_duration {max_duration}; lower it or raise the maximum");
            ctx.error(&span, f("default_duration"), msg);
            d
        }
        Some(d) => d,
        None => settings.default_duration.min(max_duration),
    };
    let justification = match raw
        .justification
        .as_ref()
        .map(|j| (j.get_ref().as_str(), j.span()))
    {
        None | Some(("required", _)) => Justification::Required,
        Some(("optional", _)) => Justification::Optional,
        Some((other, span)) => {
            ctx.error(
                &span,
                f("justification"),
                format!("unknown value {other:?}: use \"required\" or \"optional\""),
            );
            Justification::Required
        }
    };
    let ticket_pattern = raw.ticket_pattern.as_ref().and_then(|p| {
        let source = p.get_ref();
        if source.len() > 200 {
            ctx.error(
                &p.span(),
                f("ticket_pattern"),
                "too long: at most 200 characters",
            );
            return None;
        }
        // Anchored so that "ABC-1" in the pattern cannot be satisfied by "see ABC-1 or anything".
        match Regex::new(&format!("^(?:{source})$")) {
            Ok(regex) => Some(TicketPattern {
                source: source.clone(),
                regex,
            }),
            Err(e) => {
                let first = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("invalid")
                    .trim()
                    .to_string();
                ctx.error(
                    &p.span(),
                    f("ticket_pattern"),
                    format!("not a valid regular expression: {first}"),
                );
                None
            }
        }
    });
    let chat_channel = raw
        .chat_channel
        .as_ref()
        .and_then(|c| ctx.value::<ChatChannel>(c, &f("chat_channel")));
    let notify = match &raw.notify {
        Some(list) => list
            .get_ref()
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let field = f(&format!("notify[{i}]"));
                if n.get_ref().contains('@') {
                    ctx.value::<Email>(n, &field).map(NotifyTarget::Person)
                } else {
                    ctx.value::<GroupName>(n, &field).map(NotifyTarget::Group)
                }
            })
            .collect(),
        None => Vec::new(),
    };
    if break_glass
        && notify.is_empty()
        && raw.notify.as_ref().is_none_or(|n| n.get_ref().is_empty())
    {
        ctx.error(
            &at,
            f("notify"),
            "a break-glass flow must notify someone: list groups or emails in notify",
        );
    }

    let mut escalate_after = settings.escalate_after;
    let mut request_ttl = settings.request_ttl;
    let mut escalate_to = settings.escalate_to.clone();
    let approval = match raw.approval.as_ref() {
        _ if break_glass
            && raw
                .approval
                .as_ref()
                .is_some_and(|a| !matches!(a.get_ref(), RawApproval::Word(w) if w == "auto")) =>
        {
            let span = raw
                .approval
                .as_ref()
                .map(|a| a.span())
                .unwrap_or(at.clone());
            ctx.error(
                &span,
                f("approval"),
                "break-glass flows are granted at once and reviewed afterwards; remove approval",
            );
            Approval::Auto
        }
        _ if break_glass => Approval::Auto,
        None => Approval::Matrix,
        Some(a) => {
            match a.get_ref() {
                RawApproval::Word(w) if w == "auto" => Approval::Auto,
                RawApproval::Word(w) if w == "matrix" => Approval::Matrix,
                RawApproval::Word(w) => {
                    ctx.error(&a.span(), f("approval"), format!("unknown approval {w:?}: use \"auto\", \"matrix\" or a table with groups"));
                    Approval::Auto
                }
                RawApproval::Table(t) => {
                    let af = |field: &str| f(&format!("approval.{field}"));
                    let between = require(ctx, &t.between, &af("between"), Require::All);
                    let mut groups: Vec<(GroupName, Require)> = Vec::new();
                    match &t.groups {
                        Some(list) if !list.get_ref().is_empty() => {
                            for (i, g) in list.get_ref().iter().enumerate().take(20) {
                                let gf = af(&format!("groups[{i}]"));
                                let name = ctx
                                    .required(
                                        &g.get_ref().name,
                                        &g.span(),
                                        &format!("{gf}.name"),
                                        "name the approver group",
                                    )
                                    .and_then(|n| ctx.value::<GroupName>(n, &format!("{gf}.name")));
                                let req = require(
                                    ctx,
                                    &g.get_ref().require,
                                    &format!("{gf}.require"),
                                    Require::Any,
                                );
                                if let Some(name) = name {
                                    if groups.iter().any(|(n, _)| *n == name) {
                                        ctx.error(
                                            &g.span(),
                                            gf,
                                            format!("group {name:?} is listed twice"),
                                        );
                                    } else {
                                        groups.push((name, req));
                                    }
                                }
                            }
                        }
                        other => {
                            let span = other.as_ref().map(|g| g.span()).unwrap_or(a.span());
                            ctx.error(
                                &span,
                                af("groups"),
                                "list at least one approver group, or write approval = \"auto\"",
                            );
                        }
                    }
                    if let Some(d) = bounded(
                        ctx,
                        &t.escalate_after,
                        &af("escalate_after"),
                        (300, 7 * 86_400),
                    ) {
                        escalate_after = d;
                    }
                    if let Some(d) =
                        bounded(ctx, &t.request_ttl, &af("request_ttl"), (300, 14 * 86_400))
                    {
                        request_ttl = d;
                    }
                    escalate_to = escalation(settings, &t.escalate_to, ctx, &af("escalate_to"));
                    Approval::Groups(ApprovalGroups { between, groups })
                }
            }
        }
    };

    if ctx.errors.len() > before {
        return None;
    }
    let flow = Flow {
        name: name?,
        description,
        requesters,
        everyone,
        bundles,
        default_duration,
        max_duration,
        justification,
        ticket_pattern,
        self_approval: raw.self_approval.unwrap_or(false),
        break_glass,
        notify,
        extendable: raw.extendable.unwrap_or(!break_glass),
        approval,
        escalate_after,
        escalate_to,
        request_ttl,
        approve_in_chat: raw.approve_in_chat,
        chat_channel,
    };
    Some((flow, bundle_refs))
}

fn require(ctx: &mut Ctx, raw: &Option<Spanned<String>>, field: &str, default: Require) -> Require {
    match raw.as_ref().map(|r| (r.get_ref().as_str(), r.span())) {
        None => default,
        Some(("any", _)) => Require::Any,
        Some(("all", _)) => Require::All,
        Some((other, span)) => {
            ctx.error(
                &span,
                field,
                format!("unknown value {other:?}: use \"any\" or \"all\""),
            );
            default
        }
    }
}
