// A real OpenID Connect provider for the page tests (panva/oidc-provider, certified): the
// authorization code flow with PKCE, its own login and consent pages, and ID tokens that
// carry the register's claims (org, org_type and the SMART scopes) as an organisation's
// identity provider would. Test data only: accounts and the client come from the
// environment (PORT, REDIRECT_URI, POST_LOGOUT_REDIRECT_URI, CLIENT_SECRET, ACCOUNTS as JSON
// {login: claims}). RP-initiated logout at its end_session_endpoint.
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.ACCOUNTS);

const provider = new Provider(issuer, {
  clients: [{
    client_id: 's117-pages',
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    post_logout_redirect_uris: [process.env.POST_LOGOUT_REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 's117'],
  claims: { openid: ['sub'], profile: ['name'], s117: ['org', 'org_type', 's117_scope'] },
  // The scopes' claims go in the ID token, as most organisations' providers do; an account
  // marked "userinfo_only" has them at the userinfo endpoint alone (findAccount below).
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  cookies: { keys: ['s117-test-only'] },
  async findAccount(ctx, id) {
    const found = accounts[id];
    if (!found) return undefined;
    const { userinfo_only: userinfoOnly, ...claims } = found;
    return {
      accountId: id,
      claims: async (use) => (userinfoOnly && use === 'id_token'
        ? { sub: id, name: claims.name } : { sub: id, ...claims }),
    };
  },
});
provider.proxy = false;
provider.listen(port, '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer}`));
