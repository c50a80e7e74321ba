// A certified OpenID provider (oidc-provider) on loopback, standing in for ID-porten in the
// tests and the demo: synthetic people with a `pid` claim, acr levels as ID-porten names them,
// and its own sign-in page where one picks the person to be.
//
// Configuration (environment): OIDC_PORT, OIDC_CLIENTS (JSON list of {client_id,
// client_secret, redirect_uris, post_logout_redirect_uris?, logout_uri?: the client's
// back-channel logout endpoint}), OIDC_PEOPLE (JSON list of {pid, name} for
// ID-porten's people, {sub, name, email, groups} for the company's staff), OIDC_TITLE (the
// provider's name on its pages; "Test-ID-porten" by default) and OIDC_INTRO (the line under it;
// by default the synthetic people and the security level). The demo runs two: ID-porten with the
// citizens, and the company's own provider with its staff. Prints "listening <issuer>" on
// stdout once it serves.
import http from 'node:http';
import { URL } from 'node:url';
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT ?? '0');
const clients = JSON.parse(process.env.OIDC_CLIENTS ?? '[]');
const people = JSON.parse(process.env.OIDC_PEOPLE ?? '[]');
const issuer = `http://127.0.0.1:${port}`;
const title = process.env.OIDC_TITLE || 'Test-ID-porten';
const intro = process.env.OIDC_INTRO;
const ACR_LEVELS = ['idporten-loa-substantial', 'idporten-loa-high'];

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const provider = new Provider(issuer, {
  clients: clients.map((client) => ({
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_post',
    ...(client.logout_uri
      ? { backchannel_logout_uri: client.logout_uri, backchannel_logout_session_required: true }
      : {}),
    ...Object.fromEntries(Object.entries(client).filter(([key]) => key !== 'logout_uri')),
  })),
  acrValues: ACR_LEVELS,
  claims: { openid: ['sub', 'pid', 'groups'], profile: ['name'], email: ['email'] },
  // ID-porten puts pid in the ID token itself
  conformIdTokenClaims: false,
  findAccount: (ctx, sub) => {
    const person = people.find((p) => (p.pid ?? p.sub) === sub);
    if (!person) return undefined;
    return {
      accountId: sub,
      claims: () => ({
        sub,
        ...(person.pid ? { pid: person.pid } : {}),
        name: person.name,
        email: person.email,
        groups: person.groups ?? [],
      }),
    };
  },
  // the portal is a first-party client: consent is implied
  loadExistingGrant: async (ctx) => {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile email');
    await grant.save();
    return grant;
  },
  pkce: { required: () => true },
  // logout tokens go to the portal on loopback, which oidc-provider's guard against requests
  // to special-use addresses (SSRF) would refuse: this provider only ever serves loopback
  fetch: (url, options) => fetch(url, { ...options, dispatcher: undefined }),
  // back-channel logout: signing out here posts a logout token to each client's logout_uri
  // (and oidc-provider puts `sid` in the ID token, as ID-porten does); RP-initiated logout at
  // /session/end with the provider's own pages (no resources from the internet)
  features: {
    devInteractions: { enabled: false },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { IdToken: 600, AccessToken: 600, AuthorizationCode: 60, Session: 3600, Interaction: 600, Grant: 3600 },
  // the port in the cookie names: two providers on loopback (the demo's) share the browser's
  // cookies for 127.0.0.1, and must not overwrite each other's sessions
  cookies: {
    keys: ['hanport-test-provider-only'],
    names: { session: `_session_${port}`, interaction: `_interaction_${port}`, resume: `_interaction_resume_${port}` },
  },
});

// signing out: the provider asks first (its form carries the xsrf token), in Norwegian
async function logoutSource(ctx, form) {
  ctx.body = `<!doctype html><html lang="nb"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>${escapeHtml(title)}</title></head>
<body><h1>Logg ut fra ${escapeHtml(title)}?</h1>${form}
<button type="submit" form="op.logoutForm" value="yes" name="logout">Ja, logg meg ut</button>
<button type="submit" form="op.logoutForm">Nei, forbli innlogget</button></body></html>`;
}

async function postLogoutSuccessSource(ctx) {
  ctx.body = `<!doctype html><html lang="nb"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>${escapeHtml(title)}</title></head>
<body><h1>Du er logget ut av ${escapeHtml(title)}</h1></body></html>`;
}

function loginPage(uid, acr) {
  const choices = people
    .map((p, i) => `<li><label><input type="radio" name="pid" value="${escapeHtml(p.pid ?? p.sub)}"${i === 0 ? ' checked' : ''}> ${escapeHtml(p.name)} (${escapeHtml(p.pid ?? p.email)})</label></li>`)
    .join('\n');
  return `<!doctype html><html lang="nb"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>${escapeHtml(title)}</title></head>
<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(intro ?? `Syntetiske testpersoner – ingen ekte personer. Sikkerhetsnivå: ${acr}`)}</p>
<form method="post" action="/interaction/${escapeHtml(uid)}/login"><ul>${choices}</ul>
<button type="submit">Logg inn som valgt person</button></form></body></html>`;
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString());
}

async function interaction(req, res, path) {
  const details = await provider.interactionDetails(req, res);
  const acr = details.params.acr_values?.split(' ').find((v) => ACR_LEVELS.includes(v)) ?? ACR_LEVELS[0];
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(loginPage(details.uid, acr));
    return;
  }
  if (path.endsWith('/login')) {
    const pid = (await readForm(req)).get('pid');
    if (!people.some((p) => (p.pid ?? p.sub) === pid)) {
      await provider.interactionFinished(req, res, { error: 'access_denied' }, { mergeWithLastSubmission: false });
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: pid, acr } }, { mergeWithLastSubmission: false });
    return;
  }
  res.writeHead(404).end();
}

// what happened to each logout token, in the log the tests show when they fail
provider.on('backchannel.success', (ctx, client) => process.stdout.write(`backchannel logout sent to ${client.clientId}\n`));
provider.on('backchannel.error', (ctx, error, client) => process.stdout.write(`backchannel logout to ${client.clientId} failed: ${error.message} ${error.cause?.message ?? ""} ${error.cause?.code ?? ""}\n`));

const callback = provider.callback();
const server = http.createServer((req, res) => {
  const path = new URL(req.url, issuer).pathname;
  if (path.startsWith('/interaction/')) {
    interaction(req, res, path).catch((error) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`interaction failed: ${error.message} ${error.cause?.message ?? ""} ${error.cause?.code ?? ""}`);
    });
    return;
  }
  callback(req, res);
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${issuer}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
