import { useState } from "preact/hooks";
import { client, refusal, type Refusal } from "../api";
import { OrganizationsService } from "../gen/estate/customers/v1/organizations_pb";
import { signIn } from "../session";
import { Refused } from "../ui/Refused";

/**
 * Sign-in with an API key (a personal key acts as its member). The key is
 * checked by reading the organization it acts for; nothing is stored
 * until the platform accepts it.
 */
export function SignIn() {
  const [apiKey, setApiKey] = useState("");
  const [organization, setOrganization] = useState("");
  const [busy, setBusy] = useState(false);
  const [refused, setRefused] = useState<Refusal | null>(null);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setRefused(null);
    const name = organization.trim().startsWith("organizations/")
      ? organization.trim()
      : `organizations/${organization.trim()}`;
    // The key goes on this one call only: the session holds it once the
    // platform has accepted it.
    const key = apiKey.trim();
    try {
      const org = await client(OrganizationsService).getOrganization(
        { name },
        { headers: { authorization: `Bearer ${key}` } },
      );
      signIn({ apiKey: key, organization: org.name, displayName: org.displayName, kind: org.kind });
    } catch (error) {
      setRefused(refusal(error));
      setBusy(false);
    }
  }

  return (
    <main class="sign-in">
      <h1>Estate console</h1>
      <form onSubmit={submit} aria-describedby="sign-in-help">
        <p id="sign-in-help">
          Sign in with an API key. It is kept only for this browser tab and sent with every call.
        </p>
        <label for="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autocomplete="off"
          required
          value={apiKey}
          onInput={(e) => setApiKey(e.currentTarget.value)}
        />
        <label for="organization">Organization (name or id)</label>
        <input
          id="organization"
          required
          placeholder="organizations/…"
          value={organization}
          onInput={(e) => setOrganization(e.currentTarget.value)}
        />
        <button id="sign-in" type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <Refused refusal={refused} />
      </form>
    </main>
  );
}
