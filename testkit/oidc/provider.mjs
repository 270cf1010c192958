// A real OpenID Connect provider for the console's sign-in tests: panva's oidc-provider
// (OpenID certified), with its development sign-in pages (any login name, no password
// check), one public client using the authorization code flow with PKCE, and JWT access
// tokens for the relay's audience carrying the tenant and role claims the relay reads, as
// Keycloak issues them with its mappers. Configured by the environment; prints
// `listening <port>` once it serves.
//
//   OIDC_PORT       port on 127.0.0.1
//   OIDC_CLIENT_ID  the console's client id
//   OIDC_REDIRECTS  comma-separated redirect URIs
//   OIDC_AUDIENCE   the relay's audience (`[oidc] audience`)
//   OIDC_ACCOUNTS   JSON: { "<login>": { "dipper_tenant": "<uuid>", "dipper_roles": ["operator"] } }

import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const audience = process.env.OIDC_AUDIENCE;
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS || '{}');

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.OIDC_CLIENT_ID,
    token_endpoint_auth_method: 'none',
    application_type: 'web',
    redirect_uris: process.env.OIDC_REDIRECTS.split(','),
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  }],
  pkce: { required: () => true },
  clientBasedCORS: () => true,
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // The resource indicator must be an absolute URI; the audience the tokens carry is the
      // relay's, whatever its form (Keycloak's are client ids).
      defaultResource: () => 'urn:dipper:relay',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'openid',
        audience,
        accessTokenFormat: 'jwt',
        accessTokenTTL: 600,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return { sub: id, name: id }; } };
  },
  async extraTokenClaims(ctx, token) {
    if (token.kind !== 'AccessToken') return undefined;
    return accounts[token.accountId] || {};
  },
  ttl: { AccessToken: 600, RefreshToken: 86400 },
});
provider.proxy = false;

provider.listen(port, '127.0.0.1', () => {
  console.log(`listening ${port}`);
});
