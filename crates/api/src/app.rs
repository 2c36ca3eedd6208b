//! What the router needs from the application service, as one trait implemented for every
//! [`Service`], so that handlers are generic over the adapters (memory, AWS) behind it.

use std::future::Future;

use chrono::{DateTime, Utc};
use jit_core::audit::AuditEvent;
use jit_core::catalog::Catalog;
use jit_core::lifecycle::Request;
use jit_core::link::LinkClaims;
use jit_core::policy::RequestInput;
use jit_core::ports::*;
use jit_core::prompt::{Offer, Prompt};
use jit_core::service::{DbCredentials, Ending, PromptAnswer, Service, ServiceError, Verdict};
use jit_core::types::*;

/// What the router needs from the service; implemented for every [`Service`].
pub trait Api: Send + Sync + 'static {
    /// The catalog in force.
    fn catalog(&self) -> &Catalog;
    /// Its version (content hash), computed once.
    fn catalog_version(&self) -> &str;
    /// Now.
    fn now(&self) -> DateTime<Utc>;
    /// See [`Service::submit`].
    fn submit(
        &self,
        caller: &Email,
        input: RequestInput,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send;
    /// See [`Service::preview`].
    fn preview(
        &self,
        caller: &Email,
        input: RequestInput,
    ) -> impl Future<Output = Result<(Request, Option<usize>), ServiceError>> + Send;
    /// See [`Service::get`].
    fn get(&self, id: &RequestId) -> impl Future<Output = Result<Request, ServiceError>> + Send;
    /// See [`Service::timeline`].
    fn timeline(
        &self,
        id: &RequestId,
    ) -> impl Future<Output = Result<Vec<AuditEvent>, ServiceError>> + Send;
    /// See [`Service::requests_of`].
    fn requests_of(
        &self,
        person: &Email,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Request>, ServiceError>> + Send;
    /// See [`Service::approvals_for`].
    fn approvals_for(
        &self,
        person: &Email,
    ) -> impl Future<Output = Result<Vec<Request>, ServiceError>> + Send;
    /// See [`Service::approve`].
    fn approve(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
        duration: Option<GrantDuration>,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send;
    /// See [`Service::deny`].
    fn deny(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send;
    /// See [`Service::cancel`].
    fn cancel(
        &self,
        caller: &Email,
        id: &RequestId,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send;
    /// See [`Service::release`].
    fn release(
        &self,
        caller: &Email,
        id: &RequestId,
    ) -> impl Future<Output = Result<Ending, ServiceError>> + Send;
    /// See [`Service::revoke`].
    fn revoke(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
    ) -> impl Future<Output = Result<Ending, ServiceError>> + Send;
    /// See [`Service::db_credentials`].
    fn db_credentials(
        &self,
        caller: &Email,
        id: &RequestId,
    ) -> impl Future<Output = Result<DbCredentials, ServiceError>> + Send;
    /// See [`Service::review`].
    fn review(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send;
    /// See [`Service::extend`].
    fn extend(
        &self,
        caller: &Email,
        id: &RequestId,
        by: GrantDuration,
        reason: &str,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send;
    /// See [`Service::extend_from`].
    fn extend_from(
        &self,
        caller: &Email,
        id: &RequestId,
        from: Option<DateTime<Utc>>,
        by: GrantDuration,
        reason: &str,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send;
    /// See [`Service::inspect_link`].
    fn inspect_link(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<(LinkClaims, Request), ServiceError>> + Send;
    /// See [`Service::decide_by_link`].
    fn decide_by_link(
        &self,
        token: &str,
        verdict: Verdict,
        message: &str,
        duration: Option<GrantDuration>,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send;
    /// See [`Service::inspect_prompt`].
    fn inspect_prompt(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<(Prompt, Offer), ServiceError>> + Send;
    /// See [`Service::answer_prompt`].
    fn answer_prompt(
        &self,
        token: &str,
        answer: PromptAnswer,
    ) -> impl Future<Output = Result<(Prompt, Option<Request>), ServiceError>> + Send;
    /// See [`Service::audit`].
    fn audit(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<AuditEvent>, ServiceError>> + Send;
    /// See [`Service::prompts`].
    fn prompts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Prompt>, ServiceError>> + Send;
    /// See [`Service::live_grants`].
    fn live_grants(&self) -> impl Future<Output = Result<Vec<Request>, ServiceError>> + Send;
    /// See [`Service::groups_of`].
    fn groups_of(
        &self,
        person: &Email,
    ) -> impl Future<Output = Result<Vec<GroupName>, ServiceError>> + Send;
    /// See [`Service::use_once`].
    fn use_once(
        &self,
        key: &str,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, ServiceError>> + Send;
    /// See [`Service::portal`].
    fn portal(&self) -> Option<&str>;
}

impl<S, G, Sc, M, D, C> Api for Service<S, G, Sc, M, D, C>
where
    S: RequestStore + 'static,
    G: Grantor + 'static,
    Sc: Scheduler + 'static,
    M: Mailer + 'static,
    D: Directory + 'static,
    C: Clock + 'static,
{
    fn catalog(&self) -> &Catalog {
        Service::catalog(self)
    }
    fn catalog_version(&self) -> &str {
        Service::catalog_version(self)
    }
    fn now(&self) -> DateTime<Utc> {
        Service::now(self)
    }
    fn submit(
        &self,
        caller: &Email,
        input: RequestInput,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send {
        Service::submit(self, caller, input)
    }
    fn preview(
        &self,
        caller: &Email,
        input: RequestInput,
    ) -> impl Future<Output = Result<(Request, Option<usize>), ServiceError>> + Send {
        Service::preview(self, caller, input)
    }
    fn get(&self, id: &RequestId) -> impl Future<Output = Result<Request, ServiceError>> + Send {
        Service::get(self, id)
    }
    fn timeline(
        &self,
        id: &RequestId,
    ) -> impl Future<Output = Result<Vec<AuditEvent>, ServiceError>> + Send {
        Service::timeline(self, id)
    }
    fn requests_of(
        &self,
        person: &Email,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Request>, ServiceError>> + Send {
        Service::requests_of(self, person, limit)
    }
    fn approvals_for(
        &self,
        person: &Email,
    ) -> impl Future<Output = Result<Vec<Request>, ServiceError>> + Send {
        Service::approvals_for(self, person)
    }
    fn approve(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
        duration: Option<GrantDuration>,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send {
        Service::approve(self, caller, id, message, duration)
    }
    fn deny(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send {
        Service::deny(self, caller, id, message)
    }
    fn cancel(
        &self,
        caller: &Email,
        id: &RequestId,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send {
        Service::cancel(self, caller, id)
    }
    fn release(
        &self,
        caller: &Email,
        id: &RequestId,
    ) -> impl Future<Output = Result<Ending, ServiceError>> + Send {
        Service::release(self, caller, id)
    }
    fn revoke(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
    ) -> impl Future<Output = Result<Ending, ServiceError>> + Send {
        Service::revoke(self, caller, id, message)
    }
    fn review(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send {
        Service::review(self, caller, id, message)
    }
    fn db_credentials(
        &self,
        caller: &Email,
        id: &RequestId,
    ) -> impl Future<Output = Result<DbCredentials, ServiceError>> + Send {
        Service::db_credentials(self, caller, id)
    }
    fn extend(
        &self,
        caller: &Email,
        id: &RequestId,
        by: GrantDuration,
        reason: &str,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send {
        Service::extend(self, caller, id, by, reason)
    }
    fn extend_from(
        &self,
        caller: &Email,
        id: &RequestId,
        from: Option<DateTime<Utc>>,
        by: GrantDuration,
        reason: &str,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send {
        Service::extend_from(self, caller, id, from, by, reason)
    }
    fn inspect_link(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<(LinkClaims, Request), ServiceError>> + Send {
        Service::inspect_link(self, token)
    }
    fn decide_by_link(
        &self,
        token: &str,
        verdict: Verdict,
        message: &str,
        duration: Option<GrantDuration>,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send {
        Service::decide_by_link(self, token, verdict, message, duration)
    }
    fn inspect_prompt(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<(Prompt, Offer), ServiceError>> + Send {
        Service::inspect_prompt(self, token)
    }
    fn answer_prompt(
        &self,
        token: &str,
        answer: PromptAnswer,
    ) -> impl Future<Output = Result<(Prompt, Option<Request>), ServiceError>> + Send {
        Service::answer_prompt(self, token, answer)
    }
    fn audit(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<AuditEvent>, ServiceError>> + Send {
        Service::audit(self, from, to)
    }
    fn prompts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Prompt>, ServiceError>> + Send {
        Service::prompts(self, from, to)
    }
    fn live_grants(&self) -> impl Future<Output = Result<Vec<Request>, ServiceError>> + Send {
        Service::live_grants(self)
    }
    fn groups_of(
        &self,
        person: &Email,
    ) -> impl Future<Output = Result<Vec<GroupName>, ServiceError>> + Send {
        Service::groups_of(self, person)
    }
    fn use_once(
        &self,
        key: &str,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, ServiceError>> + Send {
        Service::use_once(self, key, until)
    }
    fn portal(&self) -> Option<&str> {
        Service::portal(self)
    }
}
