// The OpenID Connect provider the tests sign in against: the certified `oidc-provider` package,
// configured as a deployment's IdP app for the API would be.
//
//   node tests/oidc/server.mjs --port 0 --keys DIR
//
// - Issuer http://127.0.0.1:PORT. Prints "oidc-provider listening on ISSUER" once it serves.
// - Client `jit-cli`: a public native client (no secret) with the authorization code flow with
//   PKCE on a loopback redirect (any port, RFC 8252) and the device authorization grant
//   (RFC 8628), and refresh tokens (scope offline_access). The portal served by jit-local on
//   127.0.0.1 signs in with it too (redirect http://127.0.0.1:PORT/callback; CORS allowed from
//   such origins).
// - Access tokens are JWTs for the resource `urn:jit:api` (RFC 8707) carrying the scope
//   `jit/use` and the person's `email`, as the API's JWT authorizer expects; signed RS256.
// - The signing key is made at start and written to DIR/signing.pem (with its key id in
//   DIR/kid), so tests can sign tokens that are wrong in exactly one way (audience, issuer,
//   expiry) with the real key; DIR/stranger.pem is a key it does not publish.
// - Sign-in pages: a plain form that asks for an email address (any address signs in; there
//   are no passwords); consent is implied for this first-party client. The device flow's
//   code pages are the provider's own forms.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createServer } from 'node:http';
import { Provider } from 'oidc-provider';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    keys: { type: 'string' },
    'access-ttl': { type: 'string', default: '600' },
  },
});
if (!values.keys) {
  console.error('usage: node tests/oidc/server.mjs --port PORT --keys DIR');
  process.exit(2);
}

const kid = randomUUID();
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
mkdirSync(values.keys, { recursive: true });
writeFileSync(join(values.keys, 'signing.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
writeFileSync(join(values.keys, 'kid'), kid);
// A key the issuer does not publish: what a forger or another issuer signs with.
const { privateKey: stranger } = generateKeyPairSync('rsa', { modulusLength: 2048 });
writeFileSync(join(values.keys, 'stranger.pem'), stranger.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head><body><h1>${escape(title)}</h1>${body}</body></html>`;

// The HTTP server first, so the issuer can name its port.
const server = createServer();
await new Promise((resolve) => server.listen(Number(values.port), '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'jit-cli',
    client_name: 'jit',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/callback'],
  }],
  jwks: { keys: [jwk] },
  scopes: ['openid', 'email', 'offline_access', 'jit/use'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return { sub: id, email: id, email_verified: true }; } };
  },
  async extraTokenClaims(ctx, token) {
    // What the authorizer reads as the caller: the person's email, in the access token.
    return token.kind === 'AccessToken' ? { email: token.accountId } : undefined;
  },
  pkce: { required: () => true },
  // The portal trades its code for tokens from the browser: the token endpoint answers pages
  // served from this machine, as an IdP lists a deployment's portal origin.
  clientBasedCORS(ctx, origin, client) {
    return client.clientId === 'jit-cli' && /^http:\/\/127\.0\.0\.1:\d+$/.test(origin);
  },
  ttl: { AccessToken: Number(values['access-ttl']), IdToken: 600, DeviceCode: 300, Interaction: 300, Grant: 3600, Session: 3600, RefreshToken: 86400 },
  // Refresh tokens for the native client whenever offline_access was asked for.
  async issueRefreshToken(ctx, client, code) {
    return client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access');
  },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    deviceFlow: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:jit:api',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'jit/use',
        audience: 'urn:jit:api',
        accessTokenTTL: Number(values['access-ttl']),
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: [randomUUID()] },
});

// The sign-in page: who are you (an email address), then finish the interaction.
async function interaction(req, res) {
  const url = new URL(req.url, issuer);
  const m = url.pathname.match(/^\/interaction\/([\w-]+)(\/login)?$/);
  if (!m) return false;
  try {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === 'consent') {
      // Consent is implied for this first-party client: grant what it asked for.
      const { missingOIDCScope, missingResourceScopes } = details.prompt.details;
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
      if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
      for (const [indicator, scopes] of Object.entries(missingResourceScopes || {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return true;
    }
    if (req.method === 'GET') {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(page('Sign in', `<form method="post" action="/interaction/${escape(details.uid)}/login"><label>Email <input name="login" type="email" autofocus></label><button type="submit">Sign in</button></form>`));
      return true;
    }
    const body = await new Promise((resolve) => {
      let data = '';
      req.on('data', (c) => { data += c; });
      req.on('end', () => resolve(new URLSearchParams(data)));
    });
    const login = (body.get('login') || '').trim().toLowerCase();
    if (!/^[^@\s]+@[^@\s]+$/.test(login)) {
      res.statusCode = 400;
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(page('Sign in', '<p>Give an email address.</p>'));
      return true;
    }
    await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  } catch (e) {
    res.statusCode = 400;
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(page('Sign-in failed', `<p>${escape(e.message)}</p>`));
  }
  return true;
}

const callback = provider.callback();
server.on('request', async (req, res) => {
  if (await interaction(req, res)) return;
  callback(req, res);
});
console.log(`oidc-provider listening on ${issuer}`);
