// The catalog: search and browse bundles; one bundle with what it grants and how it is approved.
import { useState } from 'preact/hooks';
import { api, type Bundle } from '../api';
import { Link, Problem, StatusBadge, useLoad, when } from '../nav';

function matches(b: Bundle, words: string[]): boolean {
  const text = [b.name, b.description, b.owner_team, ...b.services, ...b.statements.flatMap((s) => s.actions)]
    .join(' ')
    .toLowerCase();
  return words.every((w) => text.includes(w));
}

export function Catalog() {
  const { value, error } = useLoad(api.catalog);
  const [search, setSearch] = useState('');
  const words = search.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = (value?.bundles ?? []).filter((b) => !b.deprecated && matches(b, words));
  return (
    <main id="main">
      <h1>Catalog</h1>
      <p>What you can ask for. Find a bundle, read what it grants, and ask for it.</p>
      <label for="search">Search bundles</label>
      <input
        id="search"
        type="search"
        value={search}
        placeholder="logs, s3:GetObject, api-team…"
        onInput={(e) => setSearch((e.target as HTMLInputElement).value)}
      />
      <Problem error={error} />
      {value && (
        <p class="muted" aria-live="polite">
          {shown.length} of {value.bundles.length} bundles
        </p>
      )}
      <ul class="cards">
        {shown.map((b) => (
          <li key={b.name} class="card">
            <h2>
              <Link href={`/catalog/${encodeURIComponent(b.name)}`}>{b.name}</Link>
            </h2>
            <p>{b.description}</p>
            <p class="facts">
              <span class={`risk r-${b.risk}`}>{b.risk} risk</span> · owned by {b.owner_team}
              {b.max_duration && ` · up to ${b.max_duration}`}
              {b.services.length > 0 && ` · ${b.services.join(', ')}`}
            </p>
            <Link class="button" href={`/request?bundle=${encodeURIComponent(b.name)}`}>
              Request
            </Link>
          </li>
        ))}
      </ul>
    </main>
  );
}

/** What a bundle grants, readably: each statement's actions on its resources. */
export function Grants(props: { bundle: Bundle }) {
  return (
    <ul class="grants">
      {props.bundle.statements.map((s, i) => (
        <li key={i}>
          <code>{s.actions.join(', ')}</code> on <code>{s.resources.join(', ')}</code>
        </li>
      ))}
    </ul>
  );
}

/** The bundle's recent requests by anyone, from the public log (the last 30 days). */
function RecentAsks(props: { bundle: string }) {
  const { value } = useLoad(() => {
    const q = new URLSearchParams();
    q.set('from', new Date(Date.now() - 30 * 86400000).toISOString());
    q.set('bundle', props.bundle);
    return api.audit(q);
  }, [props.bundle]);
  const asks = (value?.records ?? []).filter((e) => e.action === 'requested').reverse().slice(0, 10);
  return (
    <>
      <h2>Recent requests, by anyone</h2>
      {asks.length ? (
        <ul>
          {asks.map((e) => (
            <li key={e.seq}>
              <Link href={`/requests/${e.request_id}`}>{e.requester}</Link>, {when(e.at)}
              {e.message ? `: ${e.message}` : ''}
            </li>
          ))}
        </ul>
      ) : (
        <p>Nobody asked for it in the last 30 days.</p>
      )}
    </>
  );
}

export function BundlePage(props: { name: string }) {
  const { value: b, error } = useLoad(() => api.bundle(props.name), [props.name]);
  return (
    <main id="main">
      <p>
        <Link href="/">← Catalog</Link>
      </p>
      <Problem error={error} />
      {b && (
        <>
          <h1>{b.name}</h1>
          <p>{b.description}</p>
          <dl class="facts-list">
            <dt>Risk</dt>
            <dd>{b.risk}</dd>
            <dt>Owner</dt>
            <dd>{b.owner_team}</dd>
            <dt>Accounts</dt>
            <dd>{b.accounts.join(', ') || 'any'}</dd>
            <dt>Longest grant</dt>
            <dd>{b.max_duration ?? '-'}</dd>
          </dl>
          <h2>What it grants</h2>
          <Grants bundle={b} />
          <h2>How it is approved</h2>
          <div class="table-wrap" tabIndex={0} role="region" aria-label={`Flows that offer ${b.name}`}>
          <table>
            <caption class="sr-only">Flows that offer {b.name}</caption>
            <thead>
              <tr>
                <th scope="col">Flow</th>
                <th scope="col">Who may ask</th>
                <th scope="col">Approval</th>
                <th scope="col">Typical</th>
                <th scope="col">Longest</th>
              </tr>
            </thead>
            <tbody>
              {b.flows.map((f) => (
                <tr key={f.name}>
                  <td>{f.name}</td>
                  <td>{f.requesters.join(', ')}</td>
                  <td>{f.approval}</td>
                  <td>{f.default_duration}</td>
                  <td>{f.max_duration}</td>
                </tr>
              ))}
            </tbody>
          </table>
          </div>
          <p>
            <Link class="button" href={`/request?bundle=${encodeURIComponent(b.name)}`}>
              Request {b.name}
            </Link>
          </p>
          <RecentAsks bundle={b.name} />
          {!!b.recent_requests?.length && (
            <>
              <h2>Your recent requests for it</h2>
              <ul>
                {b.recent_requests.map((r) => (
                  <li key={r.id}>
                    <Link href={`/requests/${r.id}`}>{r.id}</Link> <StatusBadge status={r.status} /> {r.duration},{' '}
                    {when(r.created_at)}
                  </li>
                ))}
              </ul>
            </>
          )}
        </>
      )}
    </main>
  );
}
