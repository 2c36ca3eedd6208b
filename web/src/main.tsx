// The jit portal: catalog, request (with a preview of what will happen), my requests and
// grants, approvals, the log and the report, over the public API v1 as the signed-in person.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, setIdentity, whenSignInNeeded, type Config, type Me } from './api';
import { finishSignIn, forget, keep, saved, startSignIn } from './auth';
import { Catalog, BundlePage } from './pages/catalog';
import { RequestForm } from './pages/request';
import { Mine, RequestPage } from './pages/mine';
import { Approvals } from './pages/approvals';
import { Log, ReportPage } from './pages/records';
import { go, Link, usePath } from './nav';
import './style.css';

/** Local mode without OIDC: pick who you are from the directory jit-local was started with. */
function PersonPicker(props: { onPick: (email: string) => void }) {
  const [people, setPeople] = useState<{ email: string; groups: string[] }[]>([]);
  const [error, setError] = useState('');
  useEffect(() => {
    fetch('/local/people')
      .then((r) => r.json())
      .then((v) => setPeople(v.people))
      .catch(() => setError('jit-local did not list its people'));
  }, []);
  return (
    <main id="main">
      <h1>Who are you?</h1>
      <p>This jit-local signs nobody in: pick a person of its directory to act as.</p>
      {error && <p role="alert">{error}</p>}
      <ul class="people">
        {people.map((p) => (
          <li key={p.email}>
            <button type="button" onClick={() => props.onPick(p.email)}>
              {p.email}
            </button>{' '}
            <span class="muted">{p.groups.join(', ')}</span>
          </li>
        ))}
      </ul>
    </main>
  );
}

function Shell(props: { me: Me; onSignOut: () => void; children: preact.ComponentChildren }) {
  const path = usePath();
  const nav: [string, string][] = [
    ['/', 'Catalog'],
    ['/mine', 'My access'],
    ['/approvals', 'Approvals'],
    ['/log', 'Log'],
    ['/report', 'Report'],
  ];
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <span class="brand">jit</span>
        <nav aria-label="Main">
          <ul>
            {nav.map(([href, label]) => (
              <li key={href}>
                <a
                  href={href}
                  aria-current={(href === '/' ? path === '/' || path.startsWith('/catalog') : path.startsWith(href)) ? 'page' : undefined}
                  onClick={(e) => {
                    e.preventDefault();
                    go(href);
                  }}
                >
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who">
          {props.me.email}{' '}
          <button type="button" class="linkish" onClick={props.onSignOut}>
            Sign out
          </button>
        </span>
      </header>
      {props.children}
    </>
  );
}

function Page(props: { me: Me; config: Config }) {
  const path = usePath();
  const url = new URL(path, location.origin);
  const p = url.pathname;
  if (p === '/' || p === '/catalog') return <Catalog />;
  if (p.startsWith('/catalog/')) return <BundlePage name={decodeURIComponent(p.slice(9))} />;
  if (p === '/request') return <RequestForm bundle={url.searchParams.get('bundle') ?? ''} />;
  if (p === '/mine') return <Mine />;
  if (p.startsWith('/requests/')) return <RequestPage id={decodeURIComponent(p.slice(10))} me={props.me} config={props.config} />;
  if (p === '/approvals') return <Approvals me={props.me.email} />;
  if (p === '/log') return <Log />;
  if (p === '/report') return <ReportPage me={props.me} />;
  return (
    <main id="main">
      <h1>Not here</h1>
      <p>
        There is no page at {p}. <Link href="/">Go to the catalog</Link>.
      </p>
    </main>
  );
}

function App() {
  const [config, setConfig] = useState<Config | null>(null);
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState('');
  const [needSignIn, setNeedSignIn] = useState(false);

  const load = async () => {
    try {
      setMe(await api.me());
      setNeedSignIn(false);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) setNeedSignIn(true);
      else setError(String((e as Error).message));
    }
  };

  useEffect(() => {
    whenSignInNeeded(() => {
      forget();
      setIdentity(null);
      setMe(null);
      setNeedSignIn(true);
    });
    (async () => {
      try {
        const c = await api.config();
        setConfig(c);
        if (location.pathname === '/callback') {
          const back = await finishSignIn(c);
          history.replaceState(null, '', back);
        }
        const id = saved();
        if (id) {
          setIdentity(id);
          await load();
        } else {
          setNeedSignIn(true);
        }
      } catch (e) {
        setError(String((e as Error).message));
      }
    })();
  }, []);

  const signOut = () => {
    forget();
    setIdentity(null);
    setMe(null);
    setNeedSignIn(true);
  };

  if (error) {
    return (
      <main id="main">
        <h1>Something went wrong</h1>
        <p role="alert">{error}</p>
        <p>
          <a href="/">Start again</a>
        </p>
      </main>
    );
  }
  if (!config) return <main id="main" aria-busy="true"><p>Loading…</p></main>;
  if (needSignIn || !me) {
    if (config.auth === 'local-header') {
      return (
        <PersonPicker
          onPick={(email) => {
            const id = { localUser: email };
            keep(id);
            setIdentity(id);
            load();
          }}
        />
      );
    }
    return (
      <main id="main">
        <h1>Sign in to jit</h1>
        <p>Ask for AWS access for as long as you need it, and approve what others ask for.</p>
        <button type="button" onClick={() => startSignIn(config, location.pathname + location.search).catch((e) => setError(String(e.message)))}>
          Sign in
        </button>
      </main>
    );
  }
  return (
    <Shell me={me} onSignOut={signOut}>
      <Page me={me} config={config} />
    </Shell>
  );
}

render(<App />, document.getElementById('app')!);
