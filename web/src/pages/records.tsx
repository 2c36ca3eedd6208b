// The public request log (the audit trail) with filters and CSV export, and the report.
import { useState } from 'preact/hooks';
import { api, type Me } from '../api';
import { Link, Problem, StatusBadge, useLoad, when } from '../nav';

export function Log() {
  const [person, setPerson] = useState('');
  const [bundle, setBundle] = useState('');
  const [days, setDays] = useState('7');
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
            {(value?.records ?? []).map((e) => (
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

export function ReportPage(props: { me: Me }) {
  const { value: r, error } = useLoad(api.report);
  return (
    <main id="main">
      <h1>Report</h1>
      <Problem error={error} />
      {r && (
        <>
          <pre class="report" aria-label="The report as the API gives it">{JSON.stringify(r, null, 2)}</pre>
          {props.me.admin && <p>As an admin you may revoke grants and review break-glass uses from a request's page.</p>}
        </>
      )}
    </main>
  );
}
