// A standard, third-party OpenID Provider (the `oidc-provider` package, an OpenID Certified
// implementation) with its default settings, for the browser suite: ID tokens carry only
// `sub` and the protocol's claims (the rest is at its userinfo endpoint), it names itself on
// authorization answers (RFC 9207), and it asks before ending a session unless given an
// `id_token_hint`. Only what a client registration needs is configured.
import Provider from "oidc-provider";

export async function startThirdPartyOp({ port, clientId, clientSecret, redirectUri, person }) {
  const issuer = `http://127.0.0.1:${port}`;
  const configuration = {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    }],
    // `groups` is released for the scope of that name only, as providers do.
    claims: { openid: ["sub"], profile: ["name"], groups: ["groups"] },
    findAccount: async (_ctx, id) => ({
      accountId: id,
      claims: async () => ({ sub: id, name: person.name, groups: person.groups }),
    }),
    pkce: { required: () => true },
    cookies: { keys: ["taskdeck browser suite: third-party provider cookie key"] },
  };
  const op = new Provider(issuer, configuration);
  const server = await new Promise((resolve) => {
    const s = op.listen(port, "127.0.0.1", () => resolve(s));
  });
  return { issuer, close: () => server.close() };
}
