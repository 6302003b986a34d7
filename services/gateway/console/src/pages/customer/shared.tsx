// Helpers the customer pages share: the signed-in customer's licensing
// parent, loading with refusals, page-token paging and sort order kept in
// the route query (with a list's status line and sortable headings), and
// UTC date conversions for date inputs.
import { useEffect, useRef, useState } from "preact/hooks";
import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { refusal, type Refusal } from "../../api";
import { replaceQuery, route } from "../../router";
import { idOf, session } from "../../session";
import { Refused } from "../../ui/Refused";

/** Rows asked for per page. */
export const PAGE_SIZE = 50;

/** The signed-in organization, `organizations/{uuid}`. */
export function organization(): string {
  return session.value?.organization ?? "";
}

/** The licensing parent of the signed-in customer, `customers/{uuid}`. */
export function customerParent(): string {
  return `customers/${idOf(organization())}`;
}

export interface Loaded<T> {
  data: T | null;
  loading: boolean;
  refused: Refusal | null;
  reload: () => void;
  /** Replaces the loaded data (after a save that answered with the new state). */
  setData: (data: T) => void;
}

/** Calls `load` whenever `deps` change (or `reload` is called); a late answer of an older call is dropped. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [loading, setLoading] = useState(true);
  const [refused, setRefused] = useState<Refusal | null>(null);
  const [tick, setTick] = useState(0);
  const call = useRef(0);
  useEffect(() => {
    const mine = ++call.current;
    setLoading(true);
    setRefused(null);
    load().then(
      (answer) => {
        if (mine !== call.current) return;
        setData(answer);
        setLoading(false);
      },
      (error: unknown) => {
        if (mine !== call.current) return;
        setData(null);
        setRefused(refusal(error));
        setLoading(false);
      },
    );
  }, [...deps, tick]);
  return { data, loading, refused, reload: () => setTick((t) => t + 1), setData };
}

/** First-page marker in the stack of previous tokens (never part of a real token). */
const FIRST = "~";

/** One list's place: the current page token (in the route query under `key`) and the tokens of the pages before it (under `${key}-prev`), so a reload keeps both. */
export interface Paging {
  token: string;
  /** 1-based number of the page shown. */
  page: number;
  hasPrevious: boolean;
  next: (token: string) => void;
  previous: () => void;
  /** The query changes that go back to the first page (merge them into a filter or sort change). */
  changes: () => Record<string, string | undefined>;
  reset: () => void;
}

export function usePaging(key: string): Paging {
  const query = route.value.query;
  const token = query.get(key) ?? "";
  const prevKey = `${key}-prev`;
  // Base64url and run tokens never hold a comma.
  const stack = (query.get(prevKey) ?? "").split(",").filter(Boolean);
  const changes = () => ({ [key]: undefined, [prevKey]: undefined });
  return {
    token,
    page: token ? stack.length + 1 : 1,
    hasPrevious: token !== "",
    next(nextToken: string) {
      replaceQuery({ [key]: nextToken, [prevKey]: [...stack, token || FIRST].join(",") });
    },
    previous() {
      const before = stack[stack.length - 1];
      const rest = stack.slice(0, -1);
      replaceQuery({
        [key]: before && before !== FIRST ? before : undefined,
        [prevKey]: rest.length ? rest.join(",") : undefined,
      });
    },
    changes,
    reset() {
      replaceQuery(changes());
    },
  };
}

/** Next/Previous for one list. */
export function Pager({
  paging,
  nextToken,
  label,
  idPrefix = "",
  loading = false,
}: {
  paging: Paging;
  nextToken: string | undefined;
  label: string;
  idPrefix?: string;
  loading?: boolean;
}) {
  if (!paging.hasPrevious && !nextToken) return null;
  return (
    <nav class="pager" aria-label={`${label} pages`}>
      <button
        type="button"
        class="secondary"
        id={`${idPrefix}previous-page`}
        disabled={!paging.hasPrevious || loading}
        onClick={paging.previous}
      >
        Previous
      </button>
      <span class="muted">Page {paging.page}</span>
      <button
        type="button"
        class="secondary"
        id={`${idPrefix}next-page`}
        disabled={!nextToken || loading}
        onClick={() => nextToken && paging.next(nextToken)}
      >
        Next
      </button>
    </nav>
  );
}

/** A list refused because its page token is stale (e.g. from an older compliance run). */
export function isStaleToken(r: Refusal | null): boolean {
  return !!r && r.fields.some((f) => f.field === "page_token");
}

/**
 * Above a paged list: its refusal, a way back to the first page when the
 * page token went stale, and `loading` until the first answer.
 */
export function ListStatus({
  list,
  paging,
  loading,
}: {
  list: { data: unknown; loading: boolean; refused: Refusal | null };
  paging: Paging;
  loading?: string;
}) {
  return (
    <>
      <Refused refusal={list.refused} />
      {isStaleToken(list.refused) && (
        <button type="button" class="secondary" onClick={paging.reset}>
          Back to the first page
        </button>
      )}
      {loading && list.loading && !list.data && <p class="muted">{loading}</p>}
    </>
  );
}

/** A list's order from the route query (`sort`, `dir`), one of `labels`' columns; unsorted, the API's order (`defaultColumn` ascending). */
export interface SortOrder {
  sort: string;
  dir: "asc" | "desc";
  /** The list call's order_by ("" for the API's order). */
  orderBy: string;
  labels: Record<string, string>;
  defaultColumn: string;
  paging: Paging;
}

export function sortOrder(labels: Record<string, string>, defaultColumn: string, paging: Paging): SortOrder {
  const query = route.value.query;
  const sort = labels[query.get("sort") ?? ""] ? (query.get("sort") as string) : "";
  const dir: "asc" | "desc" = query.get("dir") === "desc" ? "desc" : "asc";
  return { sort, dir, orderBy: sort ? `${sort} ${dir}` : "", labels, defaultColumn, paging };
}

/** A column heading that sorts the list by `column` (again: the other way), back on the first page. */
export function SortHeader({ order, column, numeric }: { order: SortOrder; column: string; numeric?: boolean }) {
  const active = order.sort ? order.sort === column : column === order.defaultColumn;
  const activeDir = order.sort ? order.dir : "asc";
  const toggle = () =>
    replaceQuery({
      sort: column,
      dir: active && activeDir === "asc" ? "desc" : undefined,
      ...order.paging.changes(),
    });
  return (
    <th scope="col" class={numeric ? "num" : undefined} aria-sort={active ? (activeDir === "asc" ? "ascending" : "descending") : "none"}>
      <button type="button" class="sort" onClick={toggle}>
        {order.labels[column]}
        {active && <span aria-hidden="true">{activeDir === "asc" ? " ▲" : " ▼"}</span>}
      </button>
    </th>
  );
}

/** `YYYY-MM-DD` of a timestamp, in UTC (what a date input holds). */
export function utcDay(t: Timestamp | undefined): string {
  return t ? timestampDate(t).toISOString().slice(0, 10) : "";
}

/** The start of a `YYYY-MM-DD` day in UTC. */
export function dayStart(day: string): Timestamp {
  return timestampFromDate(new Date(`${day}T00:00:00Z`));
}

const utcDateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" });

/** A timestamp as a date read in UTC (periods are whole UTC days). */
export function utcDate(t: Timestamp | undefined): string {
  return t ? utcDateFormat.format(timestampDate(t)) : "–";
}

const numberFormat = new Intl.NumberFormat();

export function num(value: bigint | number | undefined): string {
  return value === undefined ? "–" : numberFormat.format(value);
}

/** A fresh idempotency key. */
export function requestId(): string {
  return globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

/** Keeps keyboard focus sensible: returns focus to `opener` (or `fallback`) once something closes. */
export function restoreFocus(opener: Element | null, fallback?: string): void {
  requestAnimationFrame(() => {
    if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
    else if (fallback) document.querySelector<HTMLElement>(fallback)?.focus();
  });
}
