//! Database grants (`postgres` bundles): their end comes before the ledger says so, their
//! passwords are issued on demand, and the sweep keeps each instance to the live grants.

use super::*;
use crate::database::{Database, DbAuth};

/// A database password, issued to the requester of an active grant.
#[derive(Clone, PartialEq, Eq)]
pub struct DbCredentials {
    /// The grant.
    pub request: Request,
    /// The database.
    pub database: Database,
    /// The person's database role.
    pub user: String,
    /// The password; it works until `valid_until` and until the next one is issued.
    pub password: String,
    /// Host to sign in at.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Whether the server is reached with TLS.
    pub tls: bool,
    /// When the password stops working (the latest expiry of the person's grants there).
    pub valid_until: DateTime<Utc>,
}

impl std::fmt::Debug for DbCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password: this may reach a log.
        f.debug_struct("DbCredentials")
            .field("request", &self.request.id)
            .field("user", &self.user)
            .field("valid_until", &self.valid_until)
            .finish_non_exhaustive()
    }
}

impl<S, G, Sc, M, D, C> Service<S, G, Sc, M, D, C>
where
    S: RequestStore,
    G: Grantor,
    Sc: Scheduler,
    M: Mailer,
    D: Directory,
    C: Clock,
{
    /// For a database grant that holds access now: takes the access away before the ledger
    /// says the grant ended, so it never says ended while the access remains. A failure is
    /// kept on the request (`removal-pending`, with the reason) and returned as retryable.
    /// Whether it took access away (false: not a database grant holding access now).
    pub(super) async fn remove_database_first(&self, req: &Request) -> Result<bool, ServiceError> {
        let Some(bundle) = self.catalog.bundle(&req.bundle) else {
            return Ok(false);
        };
        if bundle.strategy.database().is_none()
            || req.status != Status::Active
            || req.starts_at.is_none_or(|s| s > self.now())
        {
            return Ok(false);
        }
        match self
            .ports
            .grantor
            .remove(&req.requester, &bundle.strategy, &spec(req, bundle))
            .await
        {
            Ok(()) => Ok(true),
            Err(e) => {
                Box::pin(self.removal_pending(req, &e)).await;
                Err(match grant_error(e) {
                    ServiceError::Retryable(m) => ServiceError::Retryable(format!(
                        "{m}; the grant stays active until its database access is taken away, which is retried"
                    )),
                    other => other,
                })
            }
        }
    }

    /// Records on `req` that taking its access away failed for now, with why.
    pub(super) async fn removal_pending(&self, req: &Request, e: &(dyn std::fmt::Display + Sync)) {
        let reason = format!(
            "removing the database access failed and is retried: {}",
            crate::text::one_line(&e.to_string())
        );
        let reason: String = reason.chars().take(500).collect();
        warn!(request_id = %req.id, reason = %reason, "removal pending");
        if let Err(e) = self
            .transition_from(&req.id, Some(req.clone()), |_| {
                Ok(Command::RemovalPending {
                    reason: reason.clone(),
                })
            })
            .await
        {
            warn!(request_id = %req.id, error = %e, "removal pending but not recorded");
        }
    }

    /// Issues a new password for the requester of an active `postgres` grant with
    /// `auth = "password"`: valid until the latest expiry of their grants on that instance.
    /// Only the requester may ask, only while the grant is active; the password is returned
    /// once and kept nowhere.
    #[instrument(skip(self), fields(request_id = %id))]
    pub async fn db_credentials(
        &self,
        caller: &Email,
        id: &RequestId,
    ) -> Result<DbCredentials, ServiceError> {
        let req = self.get(id).await?;
        if &req.requester != caller {
            // The same answer as for a request that does not exist: whose grants exist is not
            // for others to learn here.
            return Err(ServiceError::NotFound(id.clone()));
        }
        let bundle = self.bundle_of(&req)?;
        let Some(db) = bundle.strategy.database() else {
            return Err(ServiceError::Invalid(format!(
                "bundle {} is not a database bundle; database credentials are for postgres bundles",
                req.bundle
            )));
        };
        if db.auth != DbAuth::Password {
            return Err(ServiceError::Invalid(format!(
                "bundle {} signs in with IAM, not a password: make a token with aws rds generate-db-auth-token",
                req.bundle
            )));
        }
        let now = self.now();
        let running = req.status == Status::Active
            && req.starts_at.is_some_and(|s| s <= now)
            && req.expires_at.is_some_and(|e| e > now);
        if !running {
            return Err(ServiceError::Invalid(format!(
                "request {id} is {}, not an active grant: a password is issued only while the grant is active",
                req.status
            )));
        }
        // The password serves every grant the person holds on the instance, so it lasts as
        // long as the last of them.
        let mut valid_until = req.expires_at.expect("active grants have an expiry");
        for other in self.ports.store.live_for(caller).await? {
            let same_instance = self
                .catalog
                .bundle(&other.bundle)
                .and_then(|b| b.strategy.database())
                .is_some_and(|d| d.instance == db.instance);
            if same_instance && other.status == Status::Active {
                if let Some(e) = other.expires_at.filter(|e| *e > valid_until) {
                    valid_until = e;
                }
            }
        }
        let issued = self
            .ports
            .grantor
            .db_password(caller, db, valid_until)
            .await
            .map_err(grant_error)?;
        Ok(DbCredentials {
            user: crate::database::person_role(caller),
            database: db.clone(),
            request: req,
            password: issued.password,
            host: issued.host,
            port: issued.port,
            tls: issued.tls,
            valid_until,
        })
    }

    /// The sweep's database part: each instance the catalog names is kept to the ledger. A
    /// grant role whose grant is not live (re-read from the ledger, so a grant being made right
    /// now is left alone) is taken away; a person whose role logs in with no grant is locked
    /// out. Each is logged as drift. Returns (instances checked, things removed, failures).
    pub(super) async fn sweep_databases(&self, live: &[Request]) -> (usize, usize, usize) {
        let mut instances: BTreeMap<&str, &Database> = BTreeMap::new();
        for b in self.catalog.bundles.values() {
            if let Some(db) = b.strategy.database() {
                instances.entry(db.instance.as_str()).or_insert(db);
            }
        }
        let listed: BTreeSet<&RequestId> = live.iter().map(|r| &r.id).collect();
        let (mut checked, mut removed, mut failed) = (0, 0, 0);
        for (instance, db) in instances {
            let held = match self.ports.grantor.db_holdings(db).await {
                Ok(h) => h,
                Err(e) => {
                    warn!(instance = %instance, error = %e, "sweeper could not read the database");
                    failed += 1;
                    continue;
                }
            };
            checked += 1;
            for h in held.grants {
                if listed.contains(&h.grant) {
                    continue;
                }
                match self.ports.store.get(&h.grant).await {
                    Ok(Some(r)) if matches!(r.status, Status::Approved | Status::Active) => {
                        continue
                    }
                    Ok(_) => {}
                    Err(e) => {
                        warn!(request_id = %h.grant, error = %e, "sweeper could not read the ledger");
                        failed += 1;
                        continue;
                    }
                }
                let there = Database {
                    database: h.database.clone(),
                    ..db.clone()
                };
                let grant = GrantSpec {
                    id: h.grant.clone(),
                    statements: Vec::new(),
                    accounts: Vec::new(),
                    starts_at: None,
                    expires_at: self.now(),
                };
                match self
                    .ports
                    .grantor
                    .remove(&h.person, &Strategy::Postgres(Box::new(there)), &grant)
                    .await
                {
                    Ok(()) => {
                        warn!(instance = %instance, person = %h.person, request_id = %h.grant, database = %h.database, "drift: removed a database grant no live grant explains");
                        removed += 1;
                    }
                    Err(e) => {
                        warn!(instance = %instance, request_id = %h.grant, error = %e, "sweeper could not remove a database grant");
                        failed += 1;
                    }
                }
            }
            for person in held.idle_logins {
                match self.ports.grantor.db_lock_out(&person, db).await {
                    Ok(()) => {
                        warn!(instance = %instance, person = %person, "drift: a database role could log in without a grant; locked out");
                        removed += 1;
                    }
                    Err(e) => {
                        warn!(instance = %instance, person = %person, error = %e, "sweeper could not lock a database role out");
                        failed += 1;
                    }
                }
            }
        }
        (checked, removed, failed)
    }
}
