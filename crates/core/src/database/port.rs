//! The database port, and the grantor that sends `postgres` grants through it.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::{Database, DbHoldings, IssuedPassword};
use crate::catalog::Strategy;
use crate::plan::GrantSpec;
use crate::plan::PolicyDocument;
use crate::ports::{GrantError, Grantor, RolePolicies};
use crate::types::{Email, RequestId};

/// Makes and takes away database grants. Every call is idempotent and safe to run at once with
/// any other: a grant made twice is one grant, a grant taken away twice is gone.
/// [`GrantError::Retryable`] means the server could not be reached or was busy; nothing is
/// assumed to have happened.
pub trait Databases: Send + Sync {
    /// Gives `person` the bundle's privileges on `db` through grant `grant`'s own role, making
    /// their role on the instance on first use and letting it log in. A password already issued
    /// is made to last until `until` when that is later (an extension).
    fn grant(
        &self,
        person: &Email,
        db: &Database,
        grant: &RequestId,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), GrantError>> + Send;
    /// Takes grant `grant` away: revokes and drops its role, ends `person`'s sessions on the
    /// database and, when it was their last grant on the instance, stops their role logging in.
    fn revoke(
        &self,
        person: &Email,
        db: &Database,
        grant: &RequestId,
    ) -> impl Future<Output = Result<(), GrantError>> + Send;
    /// Sets a new password on `person`'s role, valid until `until`, and returns it. Refused
    /// (as [`GrantError::NoIdentity`]) when the person holds no grant on the instance.
    fn password(
        &self,
        person: &Email,
        db: &Database,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<IssuedPassword, GrantError>> + Send;
    /// What this product holds on `db`'s instance now: every grant role with its person and
    /// database, and the people whose role can log in while holding no grant.
    fn holdings(
        &self,
        db: &Database,
    ) -> impl Future<Output = Result<DbHoldings, GrantError>> + Send;
    /// Stops `person`'s role on `db`'s instance logging in, unless they hold a grant there.
    fn lock_out(
        &self,
        person: &Email,
        db: &Database,
    ) -> impl Future<Output = Result<(), GrantError>> + Send;
}

/// A grantor for every strategy: `postgres` grants go to the database (and, with IAM sign-in,
/// their `rds-db:connect` statement to the person's container through `inner`); the rest go to
/// `inner` unchanged. Without databases (`None`: local mode with no server), everything goes to
/// `inner`, which simulates database grants or refuses them.
#[derive(Debug, Clone)]
pub struct WithDatabases<G, P> {
    /// The AWS side.
    pub inner: G,
    /// The databases.
    pub databases: Option<P>,
}

impl<G: Grantor, P: Databases> Grantor for WithDatabases<G, P> {
    async fn apply(
        &self,
        person: &Email,
        strategy: &Strategy,
        grant: &GrantSpec,
    ) -> Result<(), GrantError> {
        let (Strategy::Postgres(db), Some(databases)) = (strategy, &self.databases) else {
            return self.inner.apply(person, strategy, grant).await;
        };
        // The database first: a grant whose IAM statement is in place but whose role is not
        // would let nobody in, and the order does not matter for the end. The database calls
        // are boxed so that every other grant's future stays the size it was.
        Box::pin(databases.grant(person, db, &grant.id, grant.expires_at)).await?;
        if !grant.statements.is_empty() {
            self.inner
                .apply(person, &Strategy::Container, grant)
                .await?;
        }
        Ok(())
    }

    async fn remove(
        &self,
        person: &Email,
        strategy: &Strategy,
        grant: &GrantSpec,
    ) -> Result<(), GrantError> {
        let (Strategy::Postgres(db), Some(databases)) = (strategy, &self.databases) else {
            return self.inner.remove(person, strategy, grant).await;
        };
        if !grant.statements.is_empty() {
            self.inner
                .remove(person, &Strategy::Container, grant)
                .await?;
        }
        Box::pin(databases.revoke(person, db, &grant.id)).await
    }

    async fn containers(&self) -> Result<Vec<Email>, GrantError> {
        self.inner.containers().await
    }
    async fn container_policy(&self, person: &Email) -> Result<Option<PolicyDocument>, GrantError> {
        self.inner.container_policy(person).await
    }
    async fn replace_container_policy(
        &self,
        person: &Email,
        seen: &PolicyDocument,
        next: &PolicyDocument,
    ) -> Result<bool, GrantError> {
        self.inner
            .replace_container_policy(person, seen, next)
            .await
    }
    async fn role_holders(&self) -> Result<Vec<Email>, GrantError> {
        self.inner.role_holders().await
    }
    async fn role_policies(&self, person: &Email) -> Result<Option<RolePolicies>, GrantError> {
        self.inner.role_policies(person).await
    }
    async fn replace_role_policies(
        &self,
        person: &Email,
        seen: &RolePolicies,
        next: &RolePolicies,
    ) -> Result<bool, GrantError> {
        self.inner.replace_role_policies(person, seen, next).await
    }
    async fn lapse_session_denies(&self, now: DateTime<Utc>) -> Result<usize, GrantError> {
        self.inner.lapse_session_denies(now).await
    }
    async fn db_password(
        &self,
        person: &Email,
        db: &Database,
        until: DateTime<Utc>,
    ) -> Result<IssuedPassword, GrantError> {
        match &self.databases {
            Some(d) => Box::pin(d.password(person, db, until)).await,
            None => self.inner.db_password(person, db, until).await,
        }
    }
    async fn db_holdings(&self, db: &Database) -> Result<DbHoldings, GrantError> {
        match &self.databases {
            Some(d) => Box::pin(d.holdings(db)).await,
            None => self.inner.db_holdings(db).await,
        }
    }
    async fn db_lock_out(&self, person: &Email, db: &Database) -> Result<(), GrantError> {
        match &self.databases {
            Some(d) => Box::pin(d.lock_out(person, db)).await,
            None => self.inner.db_lock_out(person, db).await,
        }
    }
}
