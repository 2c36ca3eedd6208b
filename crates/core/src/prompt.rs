//! Permission on demand: from a CloudTrail access-denied event by a person signed in through
//! Identity Center, work out what they were denied (the IAM action and, where the event says,
//! the resource) and which bundles would allow it. Pure: the service does the I/O.

use std::sync::LazyLock;

use chrono::{DateTime, Duration, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::{Bundle, Catalog};
use crate::types::{AccountId, BundleName, Email, FlowName, GrantDuration, RequestId};

/// One prompt per person and action in this window.
pub const QUIET_PERIOD: Duration = Duration::hours(1);
/// A prompt nobody answers in this long becomes abandoned-expired.
pub const ANSWER_WITHIN: Duration = Duration::hours(24);
/// The longest event detail read (CloudTrail caps events at 256 KB; a denial is far smaller).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// The role-name prefix Identity Center gives the roles it creates in member accounts.
pub const SSO_ROLE_PREFIX: &str = "AWSReservedSSO_";

/// What a person was denied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessDenied {
    /// The person (the Identity Center user name, which is their email in this product).
    pub person: Email,
    /// The account the call was made in.
    pub account: AccountId,
    /// The IAM action, e.g. `s3:GetObject`.
    pub action: String,
    /// The resource ARN, when the event names one.
    pub resource: Option<String>,
    /// CloudTrail's event id (for the record).
    pub event_id: String,
    /// When the call was made.
    pub at: DateTime<Utc>,
}

/// Why an event is not prompted for. Not errors: the rule may deliver events the pattern could
/// not exclude, and these are logged and dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ignored {
    /// Not a CloudTrail API call record.
    #[error("not a CloudTrail API call: {0}")]
    NotCloudTrail(String),
    /// The call was not denied for lack of permission.
    #[error("error code {0:?} is not an access denial")]
    NotDenied(String),
    /// The caller is not a person signed in through Identity Center.
    #[error("the caller is not an Identity Center session: {0}")]
    NotIdentityCenter(String),
    /// The session name is not an email address.
    #[error(
        "session name {0:?} is not an email address; Identity Center user names must be emails"
    )]
    NotAnEmail(String),
    /// The event lacks a field it needs.
    #[error("the event has no {0}")]
    Missing(&'static str),
    /// The event is too large to be a denial record.
    #[error("the event is {0} bytes; at most {MAX_EVENT_BYTES} are read")]
    TooLarge(usize),
}

/// Whether a CloudTrail `errorCode` is an access denial.
pub fn is_denial(code: &str) -> bool {
    code.starts_with("AccessDenied")
        || code.starts_with("UnauthorizedOperation")
        || code.starts_with("Client.UnauthorizedOperation")
}

/// Event sources whose IAM service prefix is not the first label of the host.
const SERVICE_EXCEPTIONS: &[(&str, &str)] = &[
    ("monitoring", "cloudwatch"),
    ("tagging", "tag"),
    ("streams.dynamodb", "dynamodb"),
    ("rdsdata", "rds-data"),
    ("runtime.sagemaker", "sagemaker"),
    ("models.lex", "lex"),
    ("runtime.lex", "lex"),
    ("email", "ses"),
    ("elasticloadbalancing", "elasticloadbalancing"),
    ("sso-directory", "sso-directory"),
];

/// S3 event names that IAM authorizes under another action.
const S3_ACTIONS: &[(&str, &str)] = &[
    ("ListObjects", "ListBucket"),
    ("ListObjectsV2", "ListBucket"),
    ("HeadBucket", "ListBucket"),
    ("ListObjectVersions", "ListBucketVersions"),
    ("HeadObject", "GetObject"),
    ("ListBuckets", "ListAllMyBuckets"),
    ("DeleteObjects", "DeleteObject"),
    ("CopyObject", "PutObject"),
    ("CreateMultipartUpload", "PutObject"),
    ("UploadPart", "PutObject"),
    ("UploadPartCopy", "PutObject"),
    ("CompleteMultipartUpload", "PutObject"),
    ("ListMultipartUploads", "ListBucketMultipartUploads"),
    ("ListParts", "ListMultipartUploadParts"),
];

static VERSION_SUFFIX: LazyLock<Regex> = LazyLock::new(|| {
    // Lambda (`GetFunction20150331v2`) and CloudFront (`GetDistribution2020_05_31`) put the API
    // version in the event name; the IAM action has none.
    Regex::new(r"^([A-Za-z]+?)(?:\d{8}(?:v\d+)?|\d{4}_\d{2}_\d{2})$").expect("pattern compiles")
});
static MESSAGE_ACTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"perform: ([a-z0-9-]+:[A-Za-z0-9]+)").expect("pattern compiles"));
static MESSAGE_RESOURCE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"on resource:? "?(arn:[^\s"]+)"#).expect("pattern compiles"));

/// The IAM service prefix of a CloudTrail event source (`s3.amazonaws.com` → `s3`).
pub fn service_of(event_source: &str) -> Option<String> {
    let host = event_source.strip_suffix(".amazonaws.com")?;
    if host.is_empty() {
        return None;
    }
    let mapped = SERVICE_EXCEPTIONS
        .iter()
        .find(|(h, _)| *h == host)
        .map(|(_, p)| p.to_string());
    Some(mapped.unwrap_or_else(|| host.split('.').next().unwrap_or(host).to_string()))
}

/// The IAM action CloudTrail's `eventSource` and `eventName` stand for: the service prefix, with
/// the known exceptions mapped, and the event name with version suffixes removed and S3's
/// renamed operations mapped.
pub fn iam_action(event_source: &str, event_name: &str) -> Option<String> {
    let service = service_of(event_source)?;
    if event_name.is_empty()
        || !event_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return None;
    }
    let name = VERSION_SUFFIX
        .captures(event_name)
        .map_or(event_name, |c| c.get(1).map_or(event_name, |m| m.as_str()));
    let name = if service == "s3" {
        S3_ACTIONS
            .iter()
            .find(|(e, _)| *e == name)
            .map_or(name, |(_, a)| a)
    } else {
        name
    };
    Some(format!("{service}:{name}"))
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// The resource a denied call was about, where the event says: the ARN in the error message,
/// else the `resources` list, else what the request parameters of S3, IAM, DynamoDB and EC2
/// calls name.
fn resource_of(detail: &Value, service: &str, account: &str) -> Option<String> {
    if let Some(m) = text(detail, "/errorMessage").and_then(|m| MESSAGE_RESOURCE.captures(m)) {
        return Some(m[1].trim_end_matches(['.', ',']).to_string());
    }
    if let Some(arn) = text(detail, "/resources/0/ARN") {
        return Some(arn.to_string());
    }
    let p = detail.get("requestParameters")?;
    let region = text(detail, "/awsRegion").unwrap_or("*");
    match service {
        "s3" => {
            let bucket = text(p, "/bucketName")?;
            Some(match text(p, "/key") {
                Some(key) => format!("arn:aws:s3:::{bucket}/{key}"),
                None => format!("arn:aws:s3:::{bucket}"),
            })
        }
        "iam" => [
            ("userName", "user"),
            ("roleName", "role"),
            ("groupName", "group"),
        ]
        .iter()
        .find_map(|(field, kind)| {
            text(p, &format!("/{field}")).map(|n| format!("arn:aws:iam::{account}:{kind}/{n}"))
        })
        .or_else(|| text(p, "/policyArn").map(str::to_string)),
        "dynamodb" => {
            text(p, "/tableName").map(|t| format!("arn:aws:dynamodb:{region}:{account}:table/{t}"))
        }
        "ec2" => text(p, "/instancesSet/items/0/instanceId")
            .or_else(|| text(p, "/instanceId"))
            .map(|i| format!("arn:aws:ec2:{region}:{account}:instance/{i}")),
        _ => None,
    }
}

/// Reads an EventBridge event carrying a CloudTrail record (the whole event, or its `detail`).
pub fn parse_event(event: &Value) -> Result<AccessDenied, Ignored> {
    let size = serde_json::to_vec(event).map_or(0, |v| v.len());
    if size > MAX_EVENT_BYTES {
        return Err(Ignored::TooLarge(size));
    }
    let detail = event.get("detail").unwrap_or(event);
    // Only AWS can send events whose source starts with "aws." (PutEvents refuses them), so a
    // forged denial naming someone else cannot come from an account's own code.
    if let Some(source) = event.get("source").and_then(Value::as_str) {
        if !source.starts_with("aws.") {
            return Err(Ignored::NotCloudTrail(format!(
                "source {source:?} is not an AWS service"
            )));
        }
    }
    if detail.get("eventSource").is_none() {
        return Err(Ignored::NotCloudTrail(
            "no eventSource; expected an \"AWS API Call via CloudTrail\" event".into(),
        ));
    }
    let code = text(detail, "/errorCode").unwrap_or("");
    if !is_denial(code) {
        return Err(Ignored::NotDenied(code.to_string()));
    }
    let identity = detail
        .get("userIdentity")
        .ok_or(Ignored::Missing("userIdentity"))?;
    let kind = text(identity, "/type").unwrap_or("");
    let issuer = text(identity, "/sessionContext/sessionIssuer/userName").unwrap_or("");
    if kind != "AssumedRole" || !issuer.starts_with(SSO_ROLE_PREFIX) {
        return Err(Ignored::NotIdentityCenter(format!(
            "{kind} through {}",
            if issuer.is_empty() { "no role" } else { issuer }
        )));
    }
    let arn = text(identity, "/arn").ok_or(Ignored::Missing("userIdentity.arn"))?;
    let session = arn
        .rsplit_once('/')
        .map(|(_, s)| s)
        .ok_or(Ignored::Missing("session name in userIdentity.arn"))?;
    let person = Email::parse(session).map_err(|_| Ignored::NotAnEmail(session.to_string()))?;
    let account = text(detail, "/recipientAccountId")
        .or_else(|| text(identity, "/accountId"))
        .and_then(|a| AccountId::parse(a).ok())
        .ok_or(Ignored::Missing("recipientAccountId"))?;
    if let Some(from) = event.get("account").and_then(Value::as_str) {
        if from != account.as_str() {
            return Err(Ignored::NotCloudTrail(format!(
                "the event came from account {from} but names account {account}"
            )));
        }
    }
    let source = text(detail, "/eventSource").unwrap_or("");
    let name = text(detail, "/eventName").ok_or(Ignored::Missing("eventName"))?;
    let derived = iam_action(source, name).ok_or(Ignored::Missing("a known eventSource"))?;
    // IAM's own message names the action it evaluated, which beats any derivation.
    let action = text(detail, "/errorMessage")
        .and_then(|m| MESSAGE_ACTION.captures(m))
        .map_or(derived, |c| c[1].to_string());
    let service = action.split(':').next().unwrap_or("").to_string();
    // A resource name too long to be real is left out: the bundles are matched on the action.
    let resource = resource_of(detail, &service, account.as_str()).filter(|r| r.len() <= 2048);
    let at = text(detail, "/eventTime")
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or(Ignored::Missing("eventTime"))?;
    Ok(AccessDenied {
        person,
        account,
        action,
        resource,
        event_id: text(detail, "/eventID")
            .unwrap_or("")
            .chars()
            .take(64)
            .collect(),
        at,
    })
}

/// IAM's wildcard match: `*` any run, `?` one character.
pub fn glob(pattern: &str, value: &str, case_insensitive: bool) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = if case_insensitive {
        (
            pattern.to_ascii_lowercase().chars().collect(),
            value.to_ascii_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), value.chars().collect())
    };
    // Iterative match with backtracking to the last '*': linear in practice, no recursion.
    let (mut i, mut j) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while j < v.len() {
        if i < p.len() && (p[i] == '?' || p[i] == v[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// Whether `bundle` allows `action` (on `resource`, when known) in `account`.
pub fn bundle_allows(bundle: &Bundle, denied: &AccessDenied) -> bool {
    bundle.accounts.contains(&denied.account)
        && bundle.statements.iter().any(|s| {
            s.actions
                .iter()
                .any(|a| glob(a.as_str(), &denied.action, true))
                && denied
                    .resource
                    .as_ref()
                    .is_none_or(|r| s.resources.iter().any(|p| glob(p.as_str(), r, false)))
        })
}

/// The bundles that would allow what was denied, deprecated ones left out, in name order.
pub fn matching_bundles<'a>(catalog: &'a Catalog, denied: &AccessDenied) -> Vec<&'a Bundle> {
    catalog
        .bundles
        .values()
        .filter(|b| b.deprecated.is_none() && bundle_allows(b, denied))
        .collect()
}

/// Where a prompt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PromptStatus {
    /// Sent; waiting for the person.
    Prompted,
    /// The person asked for a bundle from it.
    Requested,
    /// The person said they do not need it.
    Abandoned,
    /// Nobody answered within [`ANSWER_WITHIN`].
    AbandonedExpired,
    /// The service is disabled; the person was told so (nothing to answer).
    Disabled,
}

impl PromptStatus {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            PromptStatus::Prompted => "prompted",
            PromptStatus::Requested => "requested",
            PromptStatus::Abandoned => "abandoned",
            PromptStatus::AbandonedExpired => "abandoned-expired",
            PromptStatus::Disabled => "disabled",
        }
    }
}

/// A bundle offered in a prompt, with how a request for it would go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// The bundle.
    pub bundle: BundleName,
    /// The flow a request would use.
    pub flow: FlowName,
    /// The duration prefilled (the flow's default).
    pub duration: GrantDuration,
    /// Granted at once without approval.
    pub auto: bool,
    /// The person is an approver whose own approval counts: the request is approved as made.
    pub self_approve: bool,
    /// The flow asks for a ticket reference (the form asks for it).
    pub needs_ticket: bool,
    /// Who decides, in words ("auto", "api-team", ...).
    pub approvers: String,
}

/// One access-denied prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    /// Unique id (the same shape as a request id).
    pub id: RequestId,
    /// What was denied.
    pub denied: AccessDenied,
    /// The bundles offered.
    pub offers: Vec<Offer>,
    /// Set when the service is disabled in the catalog.
    pub disabled_service: Option<String>,
    /// Where it stands.
    pub status: PromptStatus,
    /// The request made from it.
    pub request_id: Option<RequestId>,
    /// When it was sent.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version.
    pub version: u64,
}

impl Prompt {
    /// When an unanswered prompt becomes abandoned-expired.
    pub fn answer_by(&self) -> DateTime<Utc> {
        self.created_at + ANSWER_WITHIN
    }

    /// The reason prefilled on the request form.
    pub fn reason(&self) -> String {
        format!(
            "Access denied for {}{} in account {} at {}",
            self.denied.action,
            self.denied
                .resource
                .as_ref()
                .map(|r| format!(" on {r}"))
                .unwrap_or_default(),
            self.denied.account,
            self.denied.at.format("%Y-%m-%d %H:%M UTC"),
        )
    }

    /// The key that allows one prompt per person and action per quiet period.
    pub fn quiet_key(&self) -> String {
        format!("{}#{}", self.denied.person, self.denied.action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_come_from_the_event_source_with_exceptions() {
        let cases = [
            ("s3.amazonaws.com", "GetObject", "s3:GetObject"),
            ("s3.amazonaws.com", "ListObjectsV2", "s3:ListBucket"),
            ("s3.amazonaws.com", "HeadObject", "s3:GetObject"),
            ("ec2.amazonaws.com", "RunInstances", "ec2:RunInstances"),
            ("iam.amazonaws.com", "CreateUser", "iam:CreateUser"),
            ("dynamodb.amazonaws.com", "GetItem", "dynamodb:GetItem"),
            (
                "monitoring.amazonaws.com",
                "PutMetricData",
                "cloudwatch:PutMetricData",
            ),
            (
                "lambda.amazonaws.com",
                "GetFunction20150331v2",
                "lambda:GetFunction",
            ),
            (
                "lambda.amazonaws.com",
                "ListFunctions20150331",
                "lambda:ListFunctions",
            ),
            (
                "cloudfront.amazonaws.com",
                "GetDistribution2020_05_31",
                "cloudfront:GetDistribution",
            ),
            ("tagging.amazonaws.com", "GetResources", "tag:GetResources"),
            (
                "streams.dynamodb.amazonaws.com",
                "GetRecords",
                "dynamodb:GetRecords",
            ),
            ("kms.amazonaws.com", "Decrypt", "kms:Decrypt"),
        ];
        for (source, name, want) in cases {
            assert_eq!(
                iam_action(source, name).as_deref(),
                Some(want),
                "{source} {name}"
            );
        }
        assert_eq!(iam_action("example.com", "GetObject"), None);
        assert_eq!(iam_action("s3.amazonaws.com", "Get Object; drop"), None);
    }

    #[test]
    fn globs_follow_iam() {
        assert!(glob("s3:Get*", "s3:GetObject", true));
        assert!(glob("S3:get*", "s3:GetObject", true));
        assert!(!glob("s3:Get*", "s3:PutObject", true));
        assert!(glob(
            "arn:aws:s3:::b/uploads/*",
            "arn:aws:s3:::b/uploads/a/b.txt",
            false
        ));
        assert!(!glob(
            "arn:aws:s3:::b/uploads/*",
            "arn:aws:s3:::b/other",
            false
        ));
        assert!(glob("arn:aws:s3:::b?", "arn:aws:s3:::b1", false));
        assert!(glob("*", "anything", false));
        assert!(!glob("arn:aws:s3:::B", "arn:aws:s3:::b", false));
        assert!(glob("a*b*c", "aXXbYYc", false));
        assert!(!glob("a*b*c", "aXXbYY", false));
    }
}
