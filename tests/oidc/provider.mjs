// A local OpenID Connect provider for the single sign-on tests: npm's oidc-provider (an
// OpenID-certified implementation) with one confidential client, a login page that signs in
// whoever is named, and a few accounts whose ID tokens are altered after the provider made them,
// standing in for a misconfigured or hostile provider (the node must refuse those).
//
//   node tests/oidc/provider.mjs CLIENT_ID CLIENT_SECRET REDIRECT_URL
//
// Listens on a free loopback port and prints one JSON line: {"issuer": "http://127.0.0.1:PORT"}.
// Accounts: alice (officers), reader1 (staff), root (admins), visitor (no Entente group),
// admin (admins: the name of the node's local break-glass account), wrong-aud (ID token for
// another client), expired (ID token expired an hour ago), forged (ID token signed with a key
// the provider does not publish).
import http from 'node:http';
import { Provider } from 'oidc-provider';
import { SignJWT, decodeJwt, exportJWK, generateKeyPair } from 'jose';

const [clientId, clientSecret, redirect] = process.argv.slice(2);
if (!redirect) {
  console.error('usage: provider.mjs CLIENT_ID CLIENT_SECRET REDIRECT_URL');
  process.exit(2);
}

const GROUPS = {
  alice: ['staff', 'entente-officers'],
  reader1: ['staff'],
  root: ['entente-admins'],
  admin: ['entente-admins'],
  visitor: ['visitors'],
  'wrong-aud': ['staff'],
  expired: ['staff'],
  forged: ['staff'],
};

const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: 'test-key-1', use: 'sig', alg: 'RS256' };
const other = await generateKeyPair('RS256', { extractable: true });

const server = http.createServer();
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirect],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: ['entente-test-cookie-key'] },
  scopes: ['openid', 'profile', 'groups'],
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'], groups: ['groups'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, id) {
    if (!(id in GROUPS)) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: id, groups: GROUPS[id] };
      },
    };
  },
});

// After the provider made the token response: alter the ID token for the test accounts and
// sign it again with the provider's own key (or, for `forged`, with a key it does not publish).
provider.use(async (ctx, next) => {
  await next();
  if (ctx.oidc?.route !== 'token' || !ctx.body?.id_token) return;
  const claims = decodeJwt(ctx.body.id_token);
  const now = Math.floor(Date.now() / 1000);
  let key = privateKey;
  if (claims.sub === 'wrong-aud') claims.aud = 'another-application';
  else if (claims.sub === 'expired') Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
  else if (claims.sub === 'forged') key = other.privateKey;
  else return;
  ctx.body = {
    ...ctx.body,
    id_token: await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: jwk.kid }).sign(key),
  };
});

const callback = provider.callback();
server.on('request', async (req, res) => {
  const m = req.url.match(/^\/interaction\/([\w-]+)$/);
  if (!m) return callback(req, res);
  try {
    if (req.method === 'GET') {
      await provider.interactionDetails(req, res);
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(`<!doctype html><title>Test identity provider</title><h1>Test identity provider</h1>
<form method="post" action="/interaction/${m[1]}"><label for="login">Login</label>
<input id="login" name="login" autofocus><button type="submit">Sign in</button></form>`);
      return;
    }
    let body = '';
    for await (const chunk of req) body += chunk;
    const login = new URLSearchParams(body).get('login') || '';
    const details = await provider.interactionDetails(req, res);
    if (!(login in GROUPS)) {
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'unknown account' }, { mergeWithLastSubmission: false });
      return;
    }
    const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
    grant.addOIDCScope(String(details.params.scope));
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { login: { accountId: login }, consent: { grantId } }, { mergeWithLastSubmission: false });
  } catch (e) {
    res.statusCode = 400;
    res.end(String(e));
  }
});

// The test reads this one line and may close the pipe: later writes must not end the process.
process.stdout.on('error', () => {});
console.log(JSON.stringify({ issuer }));
void publicKey;
