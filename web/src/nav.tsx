// Moving around the app without page loads, and the small pieces every page shares.
import { useEffect, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';

/** Moves to `path` inside the app. */
export function go(path: string) {
  history.pushState(null, '', path);
  dispatchEvent(new PopStateEvent('popstate'));
}

/** A link inside the app (no page load). */
export function Link(props: { href: string; children: ComponentChildren; class?: string }) {
  return (
    <a
      href={props.href}
      class={props.class}
      onClick={(e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey) return;
        e.preventDefault();
        go(props.href);
      }}
    >
      {props.children}
    </a>
  );
}

export function usePath(): string {
  const [path, setPath] = useState(location.pathname + location.search);
  useEffect(() => {
    const on = () => setPath(location.pathname + location.search);
    addEventListener('popstate', on);
    return () => removeEventListener('popstate', on);
  }, []);
  return path;
}


/** A time for people: local, with how far off it is. */
export function when(iso: string | null | undefined): string {
  if (!iso) return '-';
  const t = new Date(iso);
  const off = Math.round((t.getTime() - Date.now()) / 60000);
  const shown = t.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  if (Math.abs(off) >= 7 * 24 * 60) return shown;
  return `${shown} (${off === 0 ? 'now' : off > 0 ? `in ${span(off)}` : `${span(-off)} ago`})`;
}

/** `2d 3h`, `3h 5m`, `12m`. */
export function span(minutes: number): string {
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  if (d) return h ? `${d}d ${h}h` : `${d}d`;
  if (h) return m ? `${h}h ${m}m` : `${h}h`;
  return `${m}m`;
}

/** What an API call said went wrong, for a person. */
export function Problem(props: { error: string }) {
  return props.error ? <p role="alert" class="problem">{props.error}</p> : null;
}

/** A status word as a badge. */
export function StatusBadge(props: { status: string }) {
  return <span class={`badge s-${props.status}`}>{props.status}</span>;
}

/** Loads `f` once (and again when `deps` change); its value, error and a reload. */
export function useLoad<T>(f: () => Promise<T>, deps: unknown[] = []) {
  const [value, setValue] = useState<T | null>(null);
  const [error, setError] = useState('');
  const reload = () =>
    f()
      .then((v) => {
        setValue(v);
        setError('');
      })
      .catch((e) => setError(String(e.message)));
  useEffect(() => {
    reload();
  }, deps);
  return { value, error, reload };
}
