// My requests and grants, with a countdown to each expiry; release, extend, cancel; one
// request's page with its timeline and how to use the access.
import { useEffect, useState } from 'preact/hooks';
import { api, type Config, type Me, type RequestView, type Schemas } from '../api';
import { Link, Problem, span, StatusBadge, useLoad, when } from '../nav';

function useNow(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  return now;
}

function Countdown(props: { until: string }) {
  const now = useNow();
  const left = Math.max(0, new Date(props.until).getTime() - now);
  const minutes = Math.floor(left / 60000);
  const seconds = Math.floor((left % 60000) / 1000);
  return (
    <span class="countdown" title={when(props.until)}>
      {left === 0 ? 'ending' : minutes >= 60 ? `${span(minutes)} left` : `${minutes}m ${seconds}s left`}
    </span>
  );
}

/** The buttons a person has on their own request: cancel, release, extend. */
function Actions(props: { r: RequestView; onDone: (r: RequestView) => void }) {
  const [error, setError] = useState('');
  const [extending, setExtending] = useState(false);
  const [by, setBy] = useState('1h');
  const [why, setWhy] = useState('');
  const act = (verb: string, body: Record<string, unknown> = {}) =>
    api
      .act(props.r.id, verb, body)
      .then((r) => {
        setError('');
        setExtending(false);
        props.onDone(r);
      })
      .catch((e) => setError(String(e.message)));
  const r = props.r;
  return (
    <div class="actions">
      {r.status === 'pending' && (
        <button type="button" onClick={() => act('cancel')}>
          Cancel request {r.id}
        </button>
      )}
      {r.status === 'active' && (
        <>
          <button type="button" onClick={() => act('release')}>
            Release {r.bundle} now
          </button>
          <button type="button" aria-expanded={extending} onClick={() => setExtending(!extending)}>
            Extend…
          </button>
        </>
      )}
      {extending && (
        <form
          class="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            act('extend', { duration: by, reason: why });
          }}
        >
          <label for={`by-${r.id}`}>By</label>
          <input id={`by-${r.id}`} value={by} onInput={(e) => setBy((e.target as HTMLInputElement).value)} />
          <label for={`why-${r.id}`}>Why</label>
          <input id={`why-${r.id}`} value={why} onInput={(e) => setWhy((e.target as HTMLInputElement).value)} />
          <button type="submit">Extend</button>
        </form>
      )}
      <Problem error={error} />
    </div>
  );
}

/** Reloads every few seconds while something is on its way (approved, or waiting). */
function useFollow(moving: boolean, reload: () => void) {
  useEffect(() => {
    if (!moving) return;
    const t = setInterval(reload, 2000);
    return () => clearInterval(t);
  }, [moving]);
}

/** What an admin may do to anyone's request: end a live grant; review a break-glass one. */
function AdminActions(props: { r: RequestView; onDone: () => void }) {
  const r = props.r;
  const [message, setMessage] = useState('');
  const [error, setError] = useState('');
  const live = r.status === 'active' || r.status === 'approved';
  const review = r.break_glass && !r.reviewed;
  if (!live && !review) return null;
  const act = (verb: 'revoke' | 'review') => {
    if (!message.trim()) {
      setError(verb === 'revoke' ? 'Say why you revoke it: the holder reads this.' : 'Write what the review found.');
      return;
    }
    api
      .act(r.id, verb, { message })
      .then(() => {
        setError('');
        props.onDone();
      })
      .catch((e) => setError(String(e.message)));
  };
  return (
    <section aria-labelledby="admin-title">
      <h2 id="admin-title">Admin</h2>
      <label for="admin-message">{live ? 'Why you end it' : 'What the review found'}</label>
      <input id="admin-message" value={message} onInput={(e) => setMessage((e.target as HTMLInputElement).value)} />
      {live && (
        <button type="button" onClick={() => act('revoke')}>
          Revoke {r.requester}'s grant
        </button>
      )}{' '}
      {review && (
        <button type="button" class="secondary" onClick={() => act('review')}>
          Record the review
        </button>
      )}
      <Problem error={error} />
    </section>
  );
}

export function Mine() {
  const { value, error, reload } = useLoad(api.mine);
  const requests = value?.requests ?? [];
  useFollow(requests.some((r) => r.status === 'approved' || r.status === 'pending'), reload);
  const live = requests.filter((r) => r.status === 'active' || r.status === 'approved');
  const waiting = requests.filter((r) => r.status === 'pending');
  const past = requests.filter((r) => !live.includes(r) && !waiting.includes(r));
  const row = (r: RequestView) => (
    <li key={r.id} class="card">
      <h3>
        <Link href={`/requests/${r.id}`}>{r.bundle}</Link> <StatusBadge status={r.status} />
      </h3>
      <p>
        {r.duration} through {r.flow}
        {r.status === 'active' && r.expires_at && (
          <>
            {' '}
            · <Countdown until={r.expires_at} />
          </>
        )}
        {r.status === 'pending' && <> · waiting for {r.approval.waiting_for}</>}
      </p>
      <Actions r={r} onDone={() => reload()} />
    </li>
  );
  return (
    <main id="main">
      <h1>My access</h1>
      <Problem error={error} />
      <h2>Live grants</h2>
      {live.length ? <ul class="cards">{live.map(row)}</ul> : <p>None. <Link href="/">Ask for something</Link>.</p>}
      <h2>Waiting for approval</h2>
      {waiting.length ? <ul class="cards">{waiting.map(row)}</ul> : <p>Nothing waits.</p>}
      <h2>Earlier</h2>
      {past.length ? (
        <ul class="plain">
          {past.map((r) => (
            <li key={r.id}>
              <Link href={`/requests/${r.id}`}>{r.bundle}</Link> <StatusBadge status={r.status} /> {when(r.created_at)}
            </li>
          ))}
        </ul>
      ) : (
        <p>Nothing yet.</p>
      )}
    </main>
  );
}

/** The links that open a grant: the access portal's role in each account, or the console's
 *  switch-role page for an IAM role (as the API's emails give them). */
function HowToUse(props: { r: RequestView; config: Config; me: Me }) {
  const a = props.r.access;
  if (!a) return null;
  if (a.database) return <DatabaseUse r={props.r} me={props.me} />;
  const portal = props.config.access_portal_url?.replace(/\/$/, '');
  return (
    <section aria-labelledby="use-title">
      <h2 id="use-title">How to use it</h2>
      <p>
        {a.kind === 'iam-role' ? 'Switch to the IAM role' : 'Sign in with the role'} <code>{a.role_name ?? a.permission_set_arn}</code> in{' '}
        {a.accounts.join(', ')}.
      </p>
      <ul>
        {a.accounts.map((acct) => {
          const href =
            a.kind === 'iam-role' && a.role_name
              ? `https://signin.aws.amazon.com/switchrole?roleName=${encodeURIComponent(a.role_name)}&account=${acct}`
              : portal && a.role_name
                ? `${portal}/#/console?account_id=${acct}&role_name=${encodeURIComponent(a.role_name)}`
                : null;
          return <li key={acct}>{href ? <a href={href}>Open {acct} in the AWS console</a> : `${acct}: sign in at your access portal`}</li>;
        })}
      </ul>
      <p class="help">From a terminal: <code>jit aws-config</code> writes AWS CLI profiles for your grants.</p>
    </section>
  );
}

/** A database grant: where to sign in, and (for the requester of an active grant with a
 *  password) a button that issues a new password, shown here once and kept nowhere. */
function DatabaseUse(props: { r: RequestView; me: Me }) {
  const db = props.r.access!.database!;
  const [creds, setCreds] = useState<Schemas['DbCredentialsView'] | null>(null);
  const [error, setError] = useState('');
  const mine = props.r.requester === props.me.email;
  const issue = () =>
    api
      .dbCredentials(props.r.id)
      .then((c) => {
        setError('');
        setCreds(c);
      })
      .catch((e) => setError(String(e.message ?? e)));
  return (
    <section aria-labelledby="use-title">
      <h2 id="use-title">How to use it</h2>
      <p>
        Database <code>{db.database}</code> at <code>{db.endpoint}:{db.port}</code> as <code>{db.user}</code>.
      </p>
      {db.auth === 'iam' ? (
        <p>
          Sign in with an IAM token:{' '}
          <code>
            aws rds generate-db-auth-token --hostname {db.endpoint} --port {db.port} --username {db.user}
            {db.region ? ` --region ${db.region}` : ''}
          </code>
        </p>
      ) : (
        mine &&
        props.r.status === 'active' && (
          <>
            <button type="button" onClick={issue}>
              {creds ? 'Get a new password' : 'Get a password'}
            </button>
            {error && (
              <p role="alert" class="error">
                {error}
              </p>
            )}
            {creds && (
              <dl class="facts-list" aria-live="polite">
                <dt>User</dt>
                <dd>
                  <code>{creds.user}</code>
                </dd>
                <dt>Password</dt>
                <dd>
                  <code data-testid="db-password">{creds.password}</code>
                </dd>
                <dt>Works until</dt>
                <dd>{when(creds.valid_until)}</dd>
                <dt>Connect</dt>
                <dd>
                  <code>{creds.psql}</code>
                </dd>
              </dl>
            )}
            <p class="help">Each press issues a new password; the one before stops working for new sign-ins. From a terminal: <code>jit db-credentials {props.r.id}</code>.</p>
          </>
        )
      )}
    </section>
  );
}

export function RequestPage(props: { id: string; me: Me; config: Config }) {
  const { value: r, error, reload } = useLoad(() => api.request(props.id), [props.id]);
  useFollow(r?.status === 'approved' || r?.status === 'pending', reload);
  return (
    <main id="main">
      <p>
        <Link href="/mine">← My access</Link>
      </p>
      <Problem error={error} />
      {r && (
        <>
          <h1>
            {r.bundle} <StatusBadge status={r.status} />
          </h1>
          <dl class="facts-list">
            <dt>Request</dt>
            <dd>{r.id}</dd>
            <dt>Asked by</dt>
            <dd>{r.requester}</dd>
            <dt>For</dt>
            <dd>
              {r.duration} through {r.flow}
            </dd>
            <dt>Reason</dt>
            <dd>{r.reason || '-'}</dd>
            {r.ticket && (
              <>
                <dt>Ticket</dt>
                <dd>{r.ticket}</dd>
              </>
            )}
            <dt>Approval</dt>
            <dd>{r.approval.auto ? 'automatic' : r.approval.basis}</dd>
            {r.expires_at && (
              <>
                <dt>Ends</dt>
                <dd>
                  {when(r.expires_at)}
                  {r.status === 'active' && (
                    <>
                      {' '}
                      (<Countdown until={r.expires_at} />)
                    </>
                  )}
                </dd>
              </>
            )}
            {r.removed_at && (
              <>
                <dt>Access removed</dt>
                <dd>{when(r.removed_at)}</dd>
              </>
            )}
            {r.status_reason && (
              <>
                <dt>Why</dt>
                <dd>{r.status_reason}</dd>
              </>
            )}
          </dl>
          {r.requester === props.me.email && <Actions r={r} onDone={() => reload()} />}
          {props.me.admin && <AdminActions r={r} onDone={() => reload()} />}
          <HowToUse r={r} config={props.config} me={props.me} />
          <h2>Timeline</h2>
          <ol class="timeline">
            {(r.timeline ?? []).map((e) => (
              <li key={e.seq}>
                <time dateTime={e.at}>{when(e.at)}</time>: {e.action} by {e.actor}
                {e.message ? `: ${e.message}` : ''}
              </li>
            ))}
          </ol>
        </>
      )}
    </main>
  );
}
