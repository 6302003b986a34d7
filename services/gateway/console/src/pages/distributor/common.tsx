// What the distributor's pages share: resource names, enum names in route
// queries, paged lists that keep their place in the query, organization
// display names, money, CSV exports, dialogs (confirmation and form) and a
// page's announcements.
import { effect, signal } from "@preact/signals";
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { client, refusal, type Refusal } from "../../api";
import type { ListCall } from "../../gen/estate/billing/v1/dashboard_pb";
import { OrganizationsService } from "../../gen/estate/customers/v1/organizations_pb";
import type { Money } from "../../gen/estate/common/v1/common_pb";
import { href, replaceQuery } from "../../router";
import { idOf, session } from "../../session";
import { download, enumLabel } from "../../ui/format";
import { Refused } from "../../ui/Refused";

/** `distributors/{uuid}`: billing's name of the signed-in distributor. */
export function distributorName(): string {
  return `distributors/${idOf(session.value?.organization ?? "")}`;
}

/** Every customer account or usage report of the distributor's partners. */
export function allPartners(): string {
  return `${distributorName()}/partners/-`;
}

/** `distributors/{d}/partners/{p}` of any name below a partner. */
export function partnerOf(name: string): string {
  return name.split("/").slice(0, 4).join("/");
}

/** `organizations/{uuid}` behind a billing name's last segment. */
export function organizationOf(name: string): string {
  return `organizations/${idOf(name)}`;
}

/** A protobuf-es enum object: names to numbers and numbers to names. */
type EnumObject = Record<string, string | number>;

/** The short name (`UNDER_REVIEW`) of an enum value. */
export function enumName(e: EnumObject, value: number): string {
  const name = e[value];
  return typeof name === "string" ? name : String(value);
}

/** An enum value as words: `UNDER_REVIEW` → "Under review". */
export function enumWords(e: EnumObject, value: number): string {
  return enumLabel(enumName(e, value), "");
}

/**
 * An enum value from a query or JSON: its short name (`UNDER_REVIEW`), its
 * full contract name (`USAGE_REPORT_STATUS_UNDER_REVIEW`) or its number.
 */
export function parseEnum(e: EnumObject, prefix: string, raw: string | undefined | null): number | undefined {
  if (raw === undefined || raw === null || raw === "") return undefined;
  const upper = String(raw).trim().toUpperCase();
  const short = upper.startsWith(prefix) ? upper.slice(prefix.length) : upper;
  const byName = e[short];
  if (typeof byName === "number" && byName !== 0) return byName;
  const n = Number(upper);
  if (Number.isInteger(n) && n > 0 && typeof e[n] === "string") return n;
  return undefined;
}

/** Every value of an enum but UNSPECIFIED, in contract order. */
export function enumValues(e: EnumObject): number[] {
  return Object.values(e).filter((v): v is number => typeof v === "number" && v !== 0);
}

/** A comma-separated list of enum names in a query. */
export function parseEnumList(e: EnumObject, prefix: string, raw: string | null): number[] {
  if (!raw) return [];
  return raw
    .split(",")
    .map((part) => parseEnum(e, prefix, part))
    .filter((v): v is number => v !== undefined);
}

export function enumListParam(e: EnumObject, values: number[]): string | undefined {
  return values.length ? values.map((v) => enumName(e, v)).join(",") : undefined;
}

/** A chip's colour class for a status's short name (the chip carries text too). */
export function chipClass(statusName: string): string {
  switch (statusName) {
    case "ACTIVE":
    case "APPROVED":
    case "COMPLETED":
    case "SUBMITTED":
    case "ENABLED":
      return "chip synced";
    case "SUSPENDED":
    case "EXPIRING_SOON":
    case "EXCEEDED_ALLOCATION":
    case "RETURNED":
    case "UNDER_REVIEW_AUTOMATIC_WITH_PENALTIES":
    case "FLAGGED":
      return "chip warning";
    case "CANCELED":
    case "EXPIRED":
    case "REJECTED":
    case "DISABLED":
      return "chip disabled";
    default:
      return "chip pending";
  }
}

export function StatusChip({ e, value }: { e: EnumObject; value: number }) {
  const name = enumName(e, value);
  return <span class={chipClass(name)}>{enumWords(e, value)}</span>;
}

/**
 * A status filter whose query value is a comma list of enum names: "Any",
 * each status, and the list itself when it names more than one.
 */
export function EnumListSelect({
  id,
  e,
  values,
  onChange,
}: {
  id: string;
  e: EnumObject;
  values: number[];
  onChange: (value: string | undefined) => void;
}) {
  const value = values.map((s) => enumName(e, s)).join(",");
  return (
    <select id={id} value={value} onChange={(ev) => onChange(ev.currentTarget.value || undefined)}>
      <option value="">Any</option>
      {enumValues(e).map((s) => (
        <option key={s} value={enumName(e, s)}>
          {enumWords(e, s)}
        </option>
      ))}
      {values.length > 1 && <option value={value}>{values.map((s) => enumWords(e, s)).join(" or ")}</option>}
    </select>
  );
}

const integer = new Intl.NumberFormat();

export function num(value: bigint | number | undefined): string {
  if (value === undefined) return "–";
  return integer.format(value);
}

/** Minor-unit digits of a currency (2 for EUR, 0 for JPY). */
export function minorDigits(currency: string): number {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).resolvedOptions()
      .maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

/** Money's exact decimal text, e.g. "12.50" (no floating point). */
export function moneyDecimal(m: Money): string {
  const digits = minorDigits(m.currencyCode);
  const negative = m.amountMinor < 0n;
  const abs = (negative ? -m.amountMinor : m.amountMinor).toString().padStart(digits + 1, "0");
  const whole = abs.slice(0, abs.length - digits);
  const frac = digits ? `.${abs.slice(abs.length - digits)}` : "";
  return `${negative ? "-" : ""}${whole}${frac}`;
}

export function money(m: Money | undefined): string {
  if (!m || !m.currencyCode) return "–";
  return `${moneyDecimal(m)} ${m.currencyCode}`;
}

/** Decimal text ("12.5") in minor units of `currency`, or null when malformed. */
export function parseMoney(text: string, currency: string): bigint | null {
  const digits = minorDigits(currency);
  const match = /^\s*(\d+)(?:[.,](\d+))?\s*$/.exec(text);
  if (!match) return null;
  const frac = match[2] ?? "";
  if (frac.length > digits) return null;
  return BigInt(match[1] + frac.padEnd(digits, "0"));
}

/** Basis points as a percentage text: 1250 → "12.5 %". */
export function basisPoints(bp: number): string {
  return `${(bp / 100).toLocaleString(undefined, { maximumFractionDigits: 2 })} %`;
}

/** One CSV line per row, RFC 4180 quoting. */
export function csv(rows: CsvCell[][]): string {
  const cell = (v: CsvCell) => {
    let s = v === undefined ? "" : String(v);
    // Text a spreadsheet would run as a formula (a partner's comment) is
    // kept as text; numbers stay numbers.
    if (typeof v === "string" && /^[=+\-@\t\r]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s)) s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return rows.map((r) => r.map(cell).join(",")).join("\r\n") + "\r\n";
}

// ---------------------------------------------------------------------------
// Organization display names (the customers service owns them).

const names = signal<ReadonlyMap<string, string>>(new Map());
let requested = new Set<string>();
let queue: string[] = [];
let running = 0;
let generation = 0;

effect(() => {
  void session.value?.apiKey;
  generation += 1;
  requested = new Set();
  queue = [];
  arrived = new Map();
  names.value = new Map();
});

let arrived = new Map<string, string>();
let flushing = false;

/** Names arriving together re-render the page once. */
function learn(org: string, name: string): void {
  arrived.set(org, name);
  if (flushing) return;
  flushing = true;
  setTimeout(() => {
    flushing = false;
    const next = new Map(names.value);
    for (const [k, v] of arrived) next.set(k, v);
    arrived = new Map();
    names.value = next;
  }, 30);
}

function pump(): void {
  while (running < 4 && queue.length) {
    const org = queue.shift()!;
    const mine = generation;
    running += 1;
    client(OrganizationsService)
      .getOrganization({ name: org })
      .then((o) => {
        if (mine === generation && o.displayName) learn(org, o.displayName);
      })
      .catch(() => {
        /* the id stays shown */
      })
      .finally(() => {
        running -= 1;
        pump();
      });
  }
}

/** The display name of `organizations/{uuid}`, fetched once; undefined until known. */
export function displayName(org: string): string | undefined {
  if (!org) return undefined;
  const known = names.value.get(org);
  if (known !== undefined) return known;
  if (!requested.has(org)) {
    requested.add(org);
    queue.push(org);
    void Promise.resolve().then(pump);
  }
  return undefined;
}

/** Display names of `orgs` for an export: known ones, the rest fetched now (empty when refused). */
export async function resolveNames(orgs: string[]): Promise<Map<string, string>> {
  const result = new Map<string, string>();
  const missing = [...new Set(orgs)].filter((org) => {
    const known = names.value.get(org) ?? arrived.get(org);
    if (known !== undefined) result.set(org, known);
    return known === undefined;
  });
  for (let i = 0; i < missing.length; i += 8) {
    await Promise.all(
      missing.slice(i, i + 8).map((org) =>
        client(OrganizationsService)
          .getOrganization({ name: org })
          .then((o) => {
            result.set(org, o.displayName);
            learn(org, o.displayName);
          })
          .catch(() => result.set(org, "")),
      ),
    );
  }
  return result;
}

/** An organization's display name, and its id for reference. */
export function OrgName({ org }: { org: string }) {
  const name = displayName(org);
  const id = idOf(org);
  return name ? (
    <span title={id}>{name}</span>
  ) : (
    <code class="id" title="Display name not available">
      {id}
    </code>
  );
}

// ---------------------------------------------------------------------------
// Paged lists: one page at a time, the current token in the route query,
// a stack of earlier tokens for Previous.

export interface Paged<T> {
  rows: T[];
  next: string;
  loading: boolean;
  refusal: Refusal | null;
  /** A page token is in the query but its predecessors are unknown (after a reload). */
  midList: boolean;
  hasPrevious: boolean;
  goNext(): void;
  goPrevious(): void;
  goFirst(): void;
  reload(): void;
  replace(match: (row: T) => boolean, row: T): void;
}

export function usePaged<T>(
  filterKey: string,
  token: string,
  tokenParam: string,
  load: (token: string) => Promise<{ rows: T[]; next: string }>,
): Paged<T> {
  const [rows, setRows] = useState<T[]>([]);
  const [next, setNext] = useState("");
  const [loading, setLoading] = useState(true);
  const [failed, setFailed] = useState<Refusal | null>(null);
  const [tick, setTick] = useState(0);
  const stack = useRef<{ key: string; tokens: string[] }>({ key: filterKey, tokens: [] });
  if (stack.current.key !== filterKey) stack.current = { key: filterKey, tokens: [] };
  const call = useRef(0);

  useEffect(() => {
    const mine = ++call.current;
    setLoading(true);
    load(token)
      .then((page) => {
        if (mine !== call.current) return;
        setRows(page.rows);
        setNext(page.next);
        setFailed(null);
      })
      .catch((e: unknown) => {
        if (mine !== call.current) return;
        setRows([]);
        setNext("");
        setFailed(refusal(e));
      })
      .finally(() => {
        if (mine === call.current) setLoading(false);
      });
  }, [filterKey, token, tick]);

  const tokens = stack.current.tokens;
  return {
    rows,
    next,
    loading,
    refusal: failed,
    midList: !!token && tokens.length === 0,
    hasPrevious: tokens.length > 0,
    goNext() {
      if (!next) return;
      tokens.push(token);
      replaceQuery({ [tokenParam]: next });
    },
    goPrevious() {
      const previous = tokens.pop();
      replaceQuery({ [tokenParam]: previous || undefined });
    },
    goFirst() {
      stack.current.tokens = [];
      replaceQuery({ [tokenParam]: undefined });
    },
    reload() {
      setTick((t) => t + 1);
    },
    replace(match, row) {
      setRows((current) => current.map((r) => (match(r) ? row : r)));
    },
  };
}

export function Pager<T>({ list, label }: { list: Paged<T>; label: string }) {
  return (
    <nav class="pager" aria-label={`${label} pages`}>
      {list.midList ? (
        <button type="button" class="secondary first-page" onClick={list.goFirst} disabled={list.loading}>
          First page
        </button>
      ) : (
        <button
          type="button"
          class="secondary previous-page"
          onClick={list.goPrevious}
          disabled={!list.hasPrevious || list.loading}
        >
          Previous
        </button>
      )}
      <button type="button" class="secondary next-page" onClick={list.goNext} disabled={!list.next || list.loading}>
        Next
      </button>
      <span class="muted" aria-live="polite">
        {list.loading ? "Loading…" : `${list.rows.length} shown${list.next ? ", more on the next page" : ""}`}
      </span>
    </nav>
  );
}

/** A wide table's horizontal scroller, reachable by keyboard. */
export function TableWrap({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-wrap" tabIndex={0} role="region" aria-label={label}>
      {children}
    </div>
  );
}

/** The body of a list's table while loading, refused or empty. */
export function EmptyRow({
  list,
  columns,
  empty,
}: {
  list: { loading: boolean; refusal: Refusal | null; rows: unknown[] };
  columns: number;
  empty: string;
}) {
  if (list.rows.length) return null;
  return (
    <tr>
      <td colSpan={columns} class="muted">
        {list.loading ? "Loading…" : list.refusal ? "Nothing to show: the server refused the list." : empty}
      </td>
    </tr>
  );
}

/** One value loaded for `key` (reloaded when the key changes or on `reload`). */
export function useLoad<T>(key: string, load: () => Promise<T>) {
  const [value, setValue] = useState<T | null>(null);
  const [failed, setFailed] = useState<Refusal | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    load()
      .then((v) => {
        if (!live) return;
        setValue(v);
        setFailed(null);
      })
      .catch((e: unknown) => {
        if (!live) return;
        setValue(null);
        setFailed(refusal(e));
      })
      .finally(() => {
        if (live) setLoading(false);
      });
    return () => {
      live = false;
    };
  }, [key, tick]);
  return { value, setValue, failed, loading, reload: () => setTick((t) => t + 1) };
}

/** "MSP" or "Reseller". */
export function partnerTypeWords(type: number): string {
  return type === 1 ? "MSP" : type === 2 ? "Reseller" : "–";
}

// ---------------------------------------------------------------------------
// Dashboard figures → the console's own lists.

function pick(request: Record<string, unknown>, snake: string): unknown {
  const camel = snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return request[snake] ?? request[camel];
}

function strings(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  return value === undefined || value === null || value === "" ? [] : [String(value)];
}

function shortNames(value: unknown, prefix: string): string | undefined {
  const list = strings(value).map((s) => (s.startsWith(prefix) ? s.slice(prefix.length) : s));
  return list.length ? list.join(",") : undefined;
}

function bool(value: unknown): string | undefined {
  return value === true || value === "true" ? "true" : value === false || value === "false" ? "false" : undefined;
}

/**
 * The console page that lists what a dashboard figure counts, from the
 * list call the server names for it.
 */
export function listHref(list: ListCall | undefined): string | undefined {
  if (!list) return undefined;
  let request: Record<string, unknown>;
  try {
    request = JSON.parse(list.requestJson || "{}") as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const method = list.method.replace(/^estate\.billing\.v1\./, "");
  const parent = String(pick(request, "parent") ?? "");
  const partner = /\/partners\/[^/-][^/]*$/.test(parent) ? parent : undefined;
  switch (method) {
    case "PartnersService/ListPartners":
      return href(["partners"], {
        status: shortNames(pick(request, "statuses"), "PARTNER_STATUS_"),
        type: shortNames(pick(request, "type"), "PARTNER_TYPE_"),
        region: strings(pick(request, "region"))[0],
        acquired_from: strings(pick(request, "acquired_on_or_after"))[0],
        acquired_to: strings(pick(request, "acquired_on_or_before"))[0],
        order: strings(pick(request, "order_by"))[0],
      });
    case "PartnersService/ListCustomerAccounts":
      return href(["partners"], {
        partner,
        enabled: bool(pick(request, "enabled")),
        license_status: shortNames(pick(request, "license_status"), "PRODUCT_LICENSE_STATUS_"),
      });
    case "ServicePlansService/ListServicePlans":
      return href(["partners"], { plans_enabled: bool(pick(request, "enabled")) });
    case "ReportsService/ListUsageReports":
      return href(["reports"], {
        partner,
        status: shortNames(pick(request, "statuses"), "USAGE_REPORT_STATUS_"),
        month: strings(pick(request, "month"))[0],
        product: strings(pick(request, "product"))[0],
      });
    case "ReportsService/ListBillingReports":
      return href(["reports"], {
        billing_status: shortNames(pick(request, "statuses"), "BILLING_REPORT_STATUS_"),
        billing_month: strings(pick(request, "month"))[0],
      });
    case "DashboardService/ListChargeableDrops":
      return href(["dashboard", "drops"], { product: strings(pick(request, "product"))[0] });
    case "DashboardService/ListInactiveNewPartners":
      return href(["dashboard", "inactive-partners"]);
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------
// Dialogs.

/** A modal `<dialog>` open while `open`; Escape and Cancel close it, focus returns to the opener. */
export function Modal({
  id,
  open,
  title,
  onClose,
  children,
}: {
  id: string;
  open: boolean;
  title: string;
  onClose: () => void;
  children: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const opener = useRef<Element | null>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) {
      opener.current = document.activeElement;
      dialog.showModal();
    } else if (!open && dialog.open) {
      dialog.close();
    }
    if (!open && opener.current) {
      const back = opener.current;
      opener.current = null;
      // The opener may be gone (a workflow step swaps a row's buttons).
      const target =
        back instanceof HTMLElement && back.isConnected
          ? back
          : (document.querySelector<HTMLElement>(".outcome:not(:empty)") ?? document.getElementById("main"));
      target?.focus();
    }
  }, [open]);
  return (
    <dialog
      id={id}
      ref={ref}
      aria-labelledby={`${id}-title`}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <h2 id={`${id}-title`}>{title}</h2>
      {open && children}
    </dialog>
  );
}

export interface Confirmation {
  title: string;
  body: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  run: () => Promise<void>;
}

/** `#confirm-dialog`: asks before a workflow step and shows the server's refusal in place. */
export function ConfirmDialog({ ask, onClose }: { ask: Confirmation | null; onClose: () => void }) {
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState<Refusal | null>(null);
  useEffect(() => {
    setBusy(false);
    setFailed(null);
  }, [ask]);
  return (
    <Modal id="confirm-dialog" open={!!ask} title={ask?.title ?? ""} onClose={onClose}>
      {ask && (
        <form
          method="dialog"
          class="stacked"
          onSubmit={(e) => {
            e.preventDefault();
            setBusy(true);
            setFailed(null);
            ask
              .run()
              .then(onClose)
              .catch((err: unknown) => setFailed(refusal(err)))
              .finally(() => setBusy(false));
          }}
        >
          <div>{ask.body}</div>
          <Refused refusal={failed} />
          <div class="dialog-actions">
            <button type="submit" id="confirm-action" class={ask.danger ? "danger" : undefined} disabled={busy}>
              {busy ? "Working…" : ask.confirmLabel}
            </button>
            <button type="button" class="secondary" id="confirm-cancel" onClick={onClose}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </Modal>
  );
}

/** A polite announcement of what an action did (or the refusal). */
export function Outcome({ text, failed }: { text: string; failed: Refusal | null }) {
  return (
    <>
      <p class="outcome" role="status" aria-live="polite" tabIndex={-1}>
        {text}
      </p>
      <Refused refusal={failed} />
    </>
  );
}

/** How a page's sections ask before a step and announce what it did. */
export interface Feedback {
  ask: (c: Confirmation) => void;
  say: (text: string) => void;
  fail: (r: Refusal) => void;
}

/** A page's announcements (one at a time): what an action did, or the refusal it met. */
export function useOutcome() {
  const [said, setSaid] = useState("");
  const [failed, setFailed] = useState<Refusal | null>(null);
  return {
    said,
    failed,
    say: (text: string) => {
      setFailed(null);
      setSaid(text);
    },
    fail: (r: Refusal) => {
      setSaid("");
      setFailed(r);
    },
  };
}

/** Links to a page's sections: each scrolls to its section and focuses the section's heading. */
export function SectionNav({ sections }: { sections: { id: string; label: string }[] }) {
  const jump = (id: string) => {
    const target = document.getElementById(id);
    target?.scrollIntoView({ block: "start" });
    target?.querySelector<HTMLElement>("h2")?.focus();
  };
  return (
    <nav aria-label="Sections of this page">
      <ul class="jump">
        {sections.map(({ id, label }) => (
          <li key={id}>
            <button type="button" class="link" onClick={() => jump(id)}>
              {label}
            </button>
          </li>
        ))}
      </ul>
    </nav>
  );
}

/** A dialog's form: its fields, the server's refusal, then the submit and Cancel buttons. */
export function DialogForm({
  submitId,
  submitLabel,
  busyLabel,
  busy,
  failed,
  danger = false,
  noValidate = false,
  onSubmit,
  onClose,
  children,
}: {
  submitId: string;
  submitLabel: string;
  busyLabel: string;
  busy: boolean;
  failed: Refusal | null;
  danger?: boolean;
  noValidate?: boolean;
  onSubmit: () => Promise<void>;
  onClose: () => void;
  children: ComponentChildren;
}) {
  return (
    <form
      class="stacked"
      noValidate={noValidate}
      onSubmit={(e) => {
        e.preventDefault();
        void onSubmit();
      }}
    >
      {children}
      <Refused refusal={failed} />
      <div class="dialog-actions">
        <button type="submit" id={submitId} class={danger ? "danger" : undefined} disabled={busy}>
          {busy ? busyLabel : submitLabel}
        </button>
        <button type="button" class="secondary" onClick={onClose}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** A dialog form's call: busy while it runs, its refusal kept for `DialogForm`. */
export function useSubmit() {
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState<Refusal | null>(null);
  const submit = async (call: () => Promise<void>) => {
    setBusy(true);
    setFailed(null);
    try {
      await call();
    } catch (e) {
      setFailed(refusal(e));
    } finally {
      setBusy(false);
    }
  };
  return { busy, failed, submit };
}

// ---------------------------------------------------------------------------
// CSV exports of a filtered list.

/** An export follows page tokens at most this many pages of EXPORT_PAGE_SIZE. */
const EXPORT_PAGE_SIZE = 500;
const EXPORT_MAX_PAGES = 20;

export type CsvCell = string | number | bigint | boolean | undefined;

/** One page of a list call: its rows and the next page's token ("" on the last page). */
export type LoadPage<T> = (pageSize: number, pageToken: string) => Promise<{ rows: T[]; next: string }>;

function stamp(): string {
  return new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
}

/**
 * Exports a list as `{filename}-{time}.csv`: follows page tokens up to
 * EXPORT_MAX_PAGES pages, then says how many rows went out (`noun`, e.g.
 * "usage reports") and whether the cap cut the export short.
 */
export function useCsvExport<T>({
  noun,
  filename,
  load,
  table,
}: {
  noun: string;
  filename: string;
  load: LoadPage<T>;
  /** The header row and one row per exported row. */
  table: (rows: T[]) => Promise<{ header: string[]; body: CsvCell[][] }>;
}) {
  const [exporting, setExporting] = useState(false);
  const [note, setNote] = useState("");
  const [failed, setFailed] = useState<Refusal | null>(null);
  const start = async () => {
    setExporting(true);
    setNote("");
    setFailed(null);
    try {
      const rows: T[] = [];
      let pageToken = "";
      let pages = 0;
      do {
        const page = await load(EXPORT_PAGE_SIZE, pageToken);
        rows.push(...page.rows);
        pageToken = page.next;
        pages += 1;
      } while (pageToken && pages < EXPORT_MAX_PAGES);
      const { header, body } = await table(rows);
      download(`${filename}-${stamp()}.csv`, csv([header, ...body]));
      setNote(
        pageToken
          ? `Exported the first ${rows.length} ${noun} only: an export stops at ${EXPORT_MAX_PAGES * EXPORT_PAGE_SIZE}. Narrow the filters to export the rest.`
          : `Exported ${rows.length} ${noun}.`,
      );
    } catch (e) {
      setFailed(refusal(e));
    } finally {
      setExporting(false);
    }
  };
  return { exporting, note, failed, start };
}

export type CsvExport = ReturnType<typeof useCsvExport>;

/** The toolbar's Export CSV button. */
export function ExportButton({ id, csvExport }: { id: string; csvExport: CsvExport }) {
  return (
    <button type="button" class="secondary" id={id} onClick={() => void csvExport.start()} disabled={csvExport.exporting}>
      {csvExport.exporting ? "Exporting…" : "Export CSV"}
    </button>
  );
}

/** What the last export did, or its refusal. */
export function ExportNote({ id, csvExport }: { id: string; csvExport: CsvExport }) {
  return (
    <>
      <p id={id} class="muted" aria-live="polite">
        {csvExport.note}
      </p>
      <Refused refusal={csvExport.failed} />
    </>
  );
}
