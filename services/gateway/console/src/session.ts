// The signed-in key, kept only for this browser tab's session
// (sessionStorage): closing the tab signs out. A sign-in through an
// identity provider would set the same `Session` with a token instead of
// a key (the seam is `signIn`).
import { signal } from "@preact/signals";
import { OrganizationKind } from "./gen/estate/common/v1/common_pb";

export interface Session {
  apiKey: string;
  /** `organizations/{uuid}`: the organization the key acts for. */
  organization: string;
  displayName: string;
  kind: OrganizationKind;
}

const KEY = "estate.session";

function restore(): Session | null {
  try {
    const stored = sessionStorage.getItem(KEY);
    return stored ? (JSON.parse(stored) as Session) : null;
  } catch {
    return null;
  }
}

export const session = signal<Session | null>(restore());

export function signIn(next: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(next));
  session.value = next;
}

/**
 * Forgets the key and starts the page afresh, so nothing a page kept in
 * memory for this key (names it looked up, what it was allowed to see)
 * reaches whoever signs in next.
 */
export function signOut(): void {
  sessionStorage.removeItem(KEY);
  session.value = null;
  location.replace(location.pathname);
}

/** The uuid of a resource name's last segment (`organizations/{uuid}` → uuid). */
export function idOf(name: string): string {
  return name.slice(name.lastIndexOf("/") + 1);
}
