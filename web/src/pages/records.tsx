// The public request log (the audit trail) with filters and CSV export, and the report.
import { useState } from 'preact/hooks';
import { api, type Me } from '../api';
import { Link, Problem, StatusBadge, useLoad, when } from '../nav';

export function Log() {
  const [person, setPerson] = useState('');
  const [bundle, setBundle] = useState('');
  const [days, setDays] = useState('7');
  const [status, setStatus] = useState('');
  const query = () => {
    const q = new URLSearchParams();
    q.set('from', new Date(Date.now() - Number(days) * 86400000).toISOString());
    if (person) q.set('user', person);
    if (bundle) q.set('bundle', bundle);
    return q;
  };
  const { value, error, reload } = useLoad(() => api.audit(query()), []);
  const [csvError, setCsvError] = useState('');
  const csv = async () => {
    try {
      const q = query();
      q.set('format', 'csv');
      const text = await api.auditCsv(q);
      const a = document.createElement('a');
      a.href = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
      a.download = 'jit-audit.csv';
      a.click();
      URL.revokeObjectURL(a.href);
    } catch (e) {
      setCsvError(String((e as Error).message));
    }
  };
  return (
    <main id="main">
      <h1>Log</h1>
      <p>Every step of every request, readable by everyone.</p>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          reload();
        }}
      >
        <label for="f-person">Person</label>
        <input id="f-person" type="email" value={person} onInput={(e) => setPerson((e.target as HTMLInputElement).value)} />
        <label for="f-bundle">Bundle</label>
        <input id="f-bundle" value={bundle} onInput={(e) => setBundle((e.target as HTMLInputElement).value)} />
        <label for="f-status">Status</label>
        <select id="f-status" value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}>
          <option value="">any</option>
          {['pending', 'approved', 'active', 'denied', 'expired', 'released', 'revoked', 'ended', 'failed'].map((x) => (
            <option key={x} value={x}>
              {x}
            </option>
          ))}
        </select>
        <label for="f-days">Period</label>
        <select id="f-days" value={days} onChange={(e) => setDays((e.target as HTMLSelectElement).value)}>
          <option value="1">last day</option>
          <option value="7">last 7 days</option>
          <option value="30">last 30 days</option>
          <option value="365">last year</option>
        </select>
        <button type="submit">Show</button>{' '}
        <button type="button" class="secondary" onClick={csv}>
          Export CSV
        </button>
      </form>
      <Problem error={error || csvError} />
      <div class="table-wrap" tabIndex={0} role="region" aria-label="Audit records">
        <table>
          <caption class="sr-only">Audit records</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Request</th>
              <th scope="col">What</th>
              <th scope="col">Status</th>
              <th scope="col">By</th>
              <th scope="col">Bundle</th>
              <th scope="col">For</th>
            </tr>
          </thead>
          <tbody>
            {(value?.records ?? []).filter((e) => !status || e.status === status).map((e) => (
              <tr key={e.seq}>
                <td>{when(e.at)}</td>
                <td>
                  <Link href={`/requests/${e.request_id}`}>{e.request_id}</Link>
                </td>
                <td>{e.action}</td>
                <td>
                  <StatusBadge status={e.status} />
                </td>
                <td>{e.actor}</td>
                <td>{e.bundle}</td>
                <td>{e.requester}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </main>
  );
}

/** A horizontal bar chart in SVG (sized by attributes: the CSP allows no inline style). */
function Bars(props: { title: string; rows: [string, number][]; unit?: (n: number) => string }) {
  const max = Math.max(1, ...props.rows.map(([, n]) => n));
  const label = 150;
  const width = 320;
  const row = 22;
  const shown = props.unit ?? ((n: number) => String(n));
  return (
    <figure>
      <figcaption>{props.title}</figcaption>
      {props.rows.length === 0 ? (
        <p class="muted">Nothing in this period.</p>
      ) : (
        <svg role="img" aria-label={`${props.title}: ${props.rows.map(([k, n]) => `${k} ${shown(n)}`).join(', ')}`} viewBox={`0 0 ${label + width + 60} ${props.rows.length * row}`} class="chart">
          {props.rows.map(([k, n], i) => (
            <g key={k} transform={`translate(0 ${i * row})`}>
              <text x={label - 6} y={15} text-anchor="end" class="chart-label">
                {k.length > 22 ? `${k.slice(0, 21)}…` : k}
              </text>
              <rect x={label} y={3} height={16} width={Math.max(2, (width * n) / max)} class="chart-bar" />
              <text x={label + Math.max(2, (width * n) / max) + 6} y={15} class="chart-label">
                {shown(n)}
              </text>
            </g>
          ))}
        </svg>
      )}
    </figure>
  );
}

function percent(r: number | null | undefined): string {
  return r == null ? '-' : `${Math.round(r * 100)}%`;
}

function minutes(s: number | null | undefined): string {
  if (s == null) return '-';
  return s < 90 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`;
}

export function ReportPage(props: { me: Me }) {
  const { value: r, error } = useLoad(api.report);
  const { value: log } = useLoad(() => {
    const q = new URLSearchParams();
    q.set('from', new Date(Date.now() - 30 * 86400000).toISOString());
    return api.audit(q);
  });
  const records = log?.records ?? [];
  const count = (f: (e: (typeof records)[number]) => string | null) => {
    const m = new Map<string, number>();
    for (const e of records) {
      const k = f(e);
      if (k) m.set(k, (m.get(k) ?? 0) + 1);
    }
    return m;
  };
  const perBundle = [...count((e) => (e.action === 'requested' ? e.bundle : null))].sort((a, b) => b[1] - a[1]).slice(0, 10);
  const asked = count((e) => (e.action === 'requested' ? e.at.slice(0, 10) : null));
  const auto = count((e) => (e.action === 'auto-approved' ? e.at.slice(0, 10) : null));
  const perDay: [string, number][] = [...asked.keys()].sort().map((day) => [day, Math.round((100 * (auto.get(day) ?? 0)) / (asked.get(day) ?? 1))]);
  return (
    <main id="main">
      <h1>Report</h1>
      <Problem error={error} />
      {r && (
        <>
          <p class="muted">
            {when(r.from)} to {when(r.to)}
          </p>
          <ul class="tiles">
            <li>
              <span class="tile-figure">{r.requests}</span> requests
            </li>
            <li>
              <span class="tile-figure">{percent(r.auto_approval_rate)}</span> granted without approval
            </li>
            <li>
              <span class="tile-figure">{minutes(r.median_seconds_to_access)}</span> median time to access
            </li>
            <li>
              <span class="tile-figure">{r.active_grants}</span> grants active now
            </li>
            <li>
              <span class="tile-figure">{r.standing_exceptions.ids.length}</span> standing grants (longer than 7 days)
            </li>
            <li>
              <span class="tile-figure">{percent(r.prompts.conversion_rate)}</span> of access-denied prompts became requests ({r.prompts.requested} of{' '}
              {r.prompts.sent})
            </li>
          </ul>
          <Bars title="Requests per bundle, last 30 days" rows={perBundle} />
          <Bars title="Granted without approval, per day (%)" rows={perDay} unit={(n) => `${n}%`} />
          <Bars
            title="Outcomes in the period"
            rows={[
              ['approved by people', r.approved],
              ['granted at once', r.auto_approved],
              ['denied', r.denied],
              ['expired unanswered', r.expired],
              ['failed', r.failed],
              ['revoked', r.revoked],
            ]}
          />
          <Bars
            title="Longest live grants (hours)"
            rows={r.longest_grants.map((g) => [`${g.bundle} (${g.requester})`, Math.round(g.seconds / 3600)])}
            unit={(n) => `${n} h`}
          />
          <h2>Break-glass uses awaiting review</h2>
          {r.break_glass_awaiting_review.length ? (
            <ul>
              {r.break_glass_awaiting_review.map((id) => (
                <li key={id}>
                  <Link href={`/requests/${id}`}>{id}</Link>
                  {props.me.admin && ' (review it from its page)'}
                </li>
              ))}
            </ul>
          ) : (
            <p>None.</p>
          )}
          {r.standing_exceptions.ids.length > 0 && (
            <>
              <h2>Standing grants</h2>
              <p>{r.standing_exceptions.description}</p>
              <ul>
                {r.standing_exceptions.ids.map((id) => (
                  <li key={id}>
                    <Link href={`/requests/${id}`}>{id}</Link>
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
