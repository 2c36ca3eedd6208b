// Signing in. With an OIDC issuer (GET /v1/config says `auth: "jwt"`): the authorization code
// flow with PKCE (S256) in the browser, redirected back to /callback; the token is kept in
// this tab's sessionStorage only. Without one (jit-local's local-header mode): a person picked
// from the directory, sent as X-Jit-User.
import type { Config, Identity } from './api';

const KEY = 'jit.identity';
const PENDING = 'jit.pkce';

export function saved(): Identity | null {
  const raw = sessionStorage.getItem(KEY);
  if (!raw) return null;
  const id = JSON.parse(raw) as Identity & { expiresAt?: number };
  if (id.expiresAt && id.expiresAt < Date.now() / 1000 + 30) {
    sessionStorage.removeItem(KEY);
    return null;
  }
  return id;
}

export function keep(id: Identity, expiresAt?: number) {
  sessionStorage.setItem(KEY, JSON.stringify({ ...id, expiresAt }));
}

export function forget() {
  sessionStorage.removeItem(KEY);
}

function b64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function random(n: number): string {
  return b64url(crypto.getRandomValues(new Uint8Array(n)));
}

async function discover(issuer: string) {
  const res = await fetch(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
  if (!res.ok) throw new Error(`the issuer ${issuer} did not answer its discovery document`);
  return (await res.json()) as { authorization_endpoint: string; token_endpoint: string };
}

/** Sends the browser to the issuer's sign-in page; it comes back to /callback. */
export async function startSignIn(config: Config, back: string) {
  if (!config.oidc_issuer || !config.oidc_client_id) throw new Error('this API names no OIDC issuer');
  const d = await discover(config.oidc_issuer);
  const verifier = random(32);
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  const state = random(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, back }));
  const url = new URL(d.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: config.oidc_client_id,
    redirect_uri: `${location.origin}/callback`,
    scope: config.oidc_scopes.join(' '),
    state,
    code_challenge: b64url(new Uint8Array(digest)),
    code_challenge_method: 'S256',
  }).toString();
  location.assign(url.toString());
}

/** Finishes a sign-in at /callback: checks the state and trades the code for a token. */
export async function finishSignIn(config: Config): Promise<string> {
  const params = new URLSearchParams(location.search);
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? 'null');
  sessionStorage.removeItem(PENDING);
  if (params.get('error')) throw new Error(`the issuer refused the sign-in: ${params.get('error_description') ?? params.get('error')}`);
  if (!pending || params.get('state') !== pending.state) throw new Error('this sign-in does not belong to this tab; sign in again');
  const d = await discover(config.oidc_issuer!);
  const res = await fetch(d.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.get('code') ?? '',
      redirect_uri: `${location.origin}/callback`,
      client_id: config.oidc_client_id!,
      code_verifier: pending.verifier,
    }),
  });
  const t = await res.json();
  if (!res.ok || !t.access_token) throw new Error(`the issuer refused the sign-in: ${t.error_description ?? t.error ?? res.status}`);
  keep({ token: t.access_token }, Math.floor(Date.now() / 1000) + (t.expires_in ?? 300));
  return pending.back || '/';
}
