// Hash routes (`#/customers?status=WARNING`): the gateway serves one page,
// and a route's query keeps a list's place (sort, filter, page) across
// reloads and the back button.
import { signal } from "@preact/signals";

export interface Route {
  /** Path segments after `#/`, e.g. ["customers", "{uuid}"]. */
  path: string[];
  query: URLSearchParams;
}

function parse(hash: string): Route {
  const raw = hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?", 2);
  return {
    path: path.split("/").filter(Boolean).map(decodeURIComponent),
    query: new URLSearchParams(query),
  };
}

export const route = signal<Route>(parse(location.hash));
window.addEventListener("hashchange", () => {
  route.value = parse(location.hash);
});

/** The href of a route. */
export function href(path: string[], query?: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v) params.set(k, v);
  const q = params.toString();
  return `#/${path.map(encodeURIComponent).join("/")}${q ? `?${q}` : ""}`;
}

/** Changes the current route's query without a new history entry. */
export function replaceQuery(changes: Record<string, string | undefined>): void {
  const current = route.value;
  const params = new URLSearchParams(current.query);
  for (const [k, v] of Object.entries(changes)) {
    if (v) params.set(k, v);
    else params.delete(k);
  }
  const q = params.toString();
  const next = `#/${current.path.map(encodeURIComponent).join("/")}${q ? `?${q}` : ""}`;
  history.replaceState(null, "", next);
  route.value = parse(next);
}
