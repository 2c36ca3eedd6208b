// A person at a browser, for the sign-in tests: opens a URL, follows redirects with a cookie
// jar, fills the provider's forms (the email on the sign-in form; every other form is
// submitted as it stands, which confirms a device code) until the flow leaves the provider
// (the loopback redirect to `jit login`, which it then opens) or ends on a page with no form.
//
//   node tests/oidc/person.mjs EMAIL URL
//
// Exits 0 when the flow ended without an error page; prints each step on stderr.
const [email, start] = process.argv.slice(2);
if (!email || !start) {
  console.error('usage: node tests/oidc/person.mjs EMAIL URL');
  process.exit(2);
}
const origin = new URL(start).origin;
const jar = new Map();
const decode = (s) => s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))).replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>');
const attr = (tag, name) => {
  const m = tag.match(new RegExp(`\\s${name}\\s*=\\s*("([^"]*)"|'([^']*)')`, 'i'));
  return m ? decode(m[2] ?? m[3]) : undefined;
};

async function open(url, init = {}) {
  const u = new URL(url);
  const headers = { ...(init.headers || {}) };
  if (u.origin === origin && jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const res = await fetch(u, { ...init, headers, redirect: 'manual' });
  for (const c of res.headers.getSetCookie?.() ?? []) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    jar.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
  }
  console.error(`person: ${init.method || 'GET'} ${u.origin}${u.pathname} -> ${res.status}`);
  return res;
}

let res = await open(start);
for (let step = 0; step < 20; step += 1) {
  if (res.status >= 300 && res.status < 400) {
    const next = new URL(res.headers.get('location'), res.url || start);
    res = await open(next.href);
    continue;
  }
  const body = await res.text();
  if (new URL(res.url || start).origin !== origin || res.status >= 400) {
    console.error(body.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300));
    process.exit(res.status >= 400 ? 1 : 0);
  }
  const form = body.match(/<form\b[^>]*>[\s\S]*?<\/form>/i);
  if (!form) {
    console.error(body.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300));
    process.exit(0);
  }
  const tag = form[0].match(/<form\b[^>]*>/i)[0];
  const fields = new URLSearchParams();
  for (const input of form[0].match(/<input\b[^>]*>/gi) || []) {
    const name = attr(input, 'name');
    if (!name) continue;
    fields.set(name, name === 'login' ? email : (attr(input, 'value') ?? ''));
  }
  const action = new URL(attr(tag, 'action') || res.url, res.url);
  res = await open(action.href, {
    method: (attr(tag, 'method') || 'GET').toUpperCase(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: fields.toString(),
  });
}
console.error('person: too many steps');
process.exit(1);
