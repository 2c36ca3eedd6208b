// Asking for a bundle. Before anything is sent, the form shows what will happen (the flow,
// granted at once or whose approval, the longest grant, room in your container), from
// POST /v1/requests/preview, the same policy as asking.
import { useEffect, useState } from 'preact/hooks';
import { api, type Preview, type Schemas } from '../api';
import { go, Problem, useLoad } from '../nav';
import { Grants } from './catalog';

export function RequestForm(props: { bundle: string }) {
  const { value: catalog, error: catalogError } = useLoad(api.catalog);
  const [bundle, setBundle] = useState(props.bundle);
  const [duration, setDuration] = useState('');
  const [reason, setReason] = useState('');
  const [ticket, setTicket] = useState('');
  const [accounts, setAccounts] = useState<string[]>([]);
  const [start, setStart] = useState('');
  const [flow, setFlow] = useState('');
  const [preview, setPreview] = useState<Preview | null>(null);
  const [previewError, setPreviewError] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const chosen = catalog?.bundles.find((b) => b.name === bundle);

  const body = (): Schemas['NewRequest'] => ({
    bundle,
    duration: duration || undefined,
    reason: reason || undefined,
    ticket: ticket || undefined,
    accounts: accounts.length ? accounts : undefined,
    start_at: start ? new Date(start).toISOString() : undefined,
    flow: flow || undefined,
  });

  useEffect(() => {
    if (!bundle) return;
    const t = setTimeout(() => {
      api
        .preview(body())
        .then((p) => {
          setPreview(p);
          setPreviewError('');
        })
        .catch((e) => {
          setPreview(null);
          setPreviewError(String(e.message));
        });
    }, 250);
    return () => clearTimeout(t);
  }, [bundle, duration, reason, ticket, accounts.join(','), start, flow]);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      const r = await api.submit(body());
      go(`/requests/${r.id}`);
    } catch (err) {
      setError(String((err as Error).message));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main">
      <h1>Ask for access</h1>
      <Problem error={catalogError} />
      <form onSubmit={submit} noValidate>
        <label for="bundle">Bundle</label>
        <select id="bundle" value={bundle} onChange={(e) => setBundle((e.target as HTMLSelectElement).value)} required>
          <option value="">Choose a bundle</option>
          {catalog?.bundles
            .filter((b) => !b.deprecated)
            .map((b) => (
              <option key={b.name} value={b.name}>
                {b.name}: {b.description}
              </option>
            ))}
        </select>
        {chosen && (
          <details>
            <summary>What {chosen.name} grants</summary>
            <Grants bundle={chosen} />
          </details>
        )}
        {chosen && chosen.flows.length > 1 && (
          <>
            <label for="flow">Flow</label>
            <select id="flow" value={flow} onChange={(e) => setFlow((e.target as HTMLSelectElement).value)}>
              <option value="">the one that fits (break-glass only when chosen)</option>
              {chosen.flows.map((f) => (
                <option key={f.name} value={f.name}>
                  {f.name}: {f.approval}
                </option>
              ))}
            </select>
          </>
        )}
        <label for="duration">For how long</label>
        <input id="duration" value={duration} placeholder={preview?.request.duration ?? '4h'} aria-describedby="duration-help" onInput={(e) => setDuration((e.target as HTMLInputElement).value)} />
        <p id="duration-help" class="help">30m, 4h, 2d; empty for the flow's usual length.</p>
        <label for="reason">Why you need it</label>
        <textarea id="reason" value={reason} maxLength={500} onInput={(e) => setReason((e.target as HTMLTextAreaElement).value)} />
        <label for="ticket">Ticket (when the flow asks for one)</label>
        <input id="ticket" value={ticket} placeholder="INC-7" onInput={(e) => setTicket((e.target as HTMLInputElement).value)} />
        {chosen && chosen.accounts.length > 1 && (
          <fieldset>
            <legend>Accounts (none ticked: all)</legend>
            {chosen.accounts.map((a) => (
              <label key={a} class="inline">
                <input
                  type="checkbox"
                  checked={accounts.includes(a)}
                  onChange={(e) =>
                    setAccounts((e.target as HTMLInputElement).checked ? [...accounts, a] : accounts.filter((x) => x !== a))
                  }
                />{' '}
                {a}
              </label>
            ))}
          </fieldset>
        )}
        <label for="start">Start later (optional)</label>
        <input id="start" type="datetime-local" value={start} onInput={(e) => setStart((e.target as HTMLInputElement).value)} />

        <section class="preview" aria-live="polite" aria-labelledby="preview-title">
          <h2 id="preview-title">What will happen</h2>
          {!bundle && <p>Choose a bundle to see how it would be approved.</p>}
          {bundle && previewError && <p class="problem">As it stands this would be refused: {previewError}</p>}
          {preview && <PreviewText p={preview} />}
        </section>
        <Problem error={error} />
        <button type="submit" disabled={busy || !bundle}>
          {busy ? 'Asking…' : 'Ask'}
        </button>
      </form>
    </main>
  );
}

function PreviewText(props: { p: Preview }) {
  const r = props.p.request;
  const room = props.p.room;
  return (
    <ul>
      <li>
        Through the flow <strong>{r.flow}</strong>, for {r.duration} (at most {props.p.max_duration}).
      </li>
      <li>
        {r.approval.auto ? (
          <strong>Granted at once</strong>
        ) : (
          <>
            <strong>Needs approval</strong> from {r.approval.waiting_for ?? 'approvers'} ({r.approval.basis})
          </>
        )}
        {r.break_glass && ', announced and reviewed afterwards (break-glass)'}.
      </li>
      {room && (
        <li>
          Your permission set would be {Math.round((100 * room.used_bytes) / room.budget_bytes)}% full ({room.used_bytes} of {room.budget_bytes}{' '}
          bytes).
        </li>
      )}
    </ul>
  );
}
