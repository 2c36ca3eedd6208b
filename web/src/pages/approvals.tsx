// My approval inbox: everything an approver needs to decide, and the decision.
import { useState } from 'preact/hooks';
import { api, type Bundle, type RequestView } from '../api';
import { Link, Problem, useLoad, when } from '../nav';
import { Grants } from './catalog';

function Decide(props: { r: RequestView; bundle?: Bundle; me: string; onDone: () => void }) {
  const r = props.r;
  const [message, setMessage] = useState('');
  const [shorter, setShorter] = useState('');
  const [error, setError] = useState('');
  const [done, setDone] = useState('');
  const act = (verb: 'approve' | 'deny') => {
    if (verb === 'deny' && !message.trim()) {
      setError('Say why you deny it: the requester reads this.');
      return;
    }
    const body: Record<string, unknown> = { message };
    if (verb === 'approve' && shorter) body.duration = shorter;
    api
      .act(r.id, verb, body)
      .then((after) => {
        setDone(`${verb === 'approve' ? 'Approved' : 'Denied'}: the request is now ${after.status}.`);
        setError('');
        props.onDone();
      })
      .catch((e) => setError(String(e.message)));
  };
  return (
    <li class="card">
      <h2>
        {r.requester} asks for <Link href={`/catalog/${encodeURIComponent(r.bundle)}`}>{r.bundle}</Link> for {r.duration}
      </h2>
      <dl class="facts-list">
        <dt>Reason</dt>
        <dd>{r.reason || '-'}</dd>
        {r.ticket && (
          <>
            <dt>Ticket</dt>
            <dd>{r.ticket}</dd>
          </>
        )}
        {props.bundle && (
          <>
            <dt>Risk</dt>
            <dd>{props.bundle.risk}</dd>
          </>
        )}
        <dt>Why approval</dt>
        <dd>{r.approval.basis}</dd>
        <dt>Waiting for</dt>
        <dd>{r.approval.waiting_for}</dd>
        <dt>Also asked</dt>
        <dd>{(r.approval.asked ?? []).filter((a) => a !== props.me).join(', ') || 'nobody else'}</dd>
        <dt>Already decided</dt>
        <dd>{r.votes.length ? r.votes.map((v) => `${v.approver} (${v.for.join(', ')})`).join('; ') : 'nobody yet'}</dd>
        <dt>Expires unanswered</dt>
        <dd>{when(r.approval.decide_by)}</dd>
      </dl>
      {props.bundle && (
        <details>
          <summary>What {r.bundle} grants</summary>
          <Grants bundle={props.bundle} />
        </details>
      )}
      {done ? (
        <p role="status">{done}</p>
      ) : (
        <form class="decide" onSubmit={(e) => e.preventDefault()}>
          <label for={`msg-${r.id}`}>Message to {r.requester}</label>
          <input id={`msg-${r.id}`} value={message} onInput={(e) => setMessage((e.target as HTMLInputElement).value)} />
          <label for={`short-${r.id}`}>Approve for less than {r.duration} (optional)</label>
          <input id={`short-${r.id}`} value={shorter} placeholder="1h" onInput={(e) => setShorter((e.target as HTMLInputElement).value)} />
          <button type="button" onClick={() => act('approve')}>
            Approve
          </button>{' '}
          <button type="button" class="secondary" onClick={() => act('deny')}>
            Deny
          </button>
        </form>
      )}
      <Problem error={error} />
    </li>
  );
}

export function Approvals(props: { me: string }) {
  const { value, error, reload } = useLoad(api.approvals);
  const { value: catalog } = useLoad(api.catalog);
  const list = value?.approvals ?? [];
  return (
    <main id="main">
      <h1>Approvals</h1>
      <Problem error={error} />
      {value && !list.length && <p>Nothing waits for your decision.</p>}
      <ul class="cards">
        {list.map((r) => (
          <Decide key={r.id} r={r} me={props.me} bundle={catalog?.bundles.find((b) => b.name === r.bundle)} onDone={() => setTimeout(reload, 1500)} />
        ))}
      </ul>
    </main>
  );
}
