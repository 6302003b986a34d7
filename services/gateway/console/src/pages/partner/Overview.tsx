// The customers overview table: one ListCustomerOverviews page at a time,
// sorted, filtered and paged through the route query.
import type { JSX, RefObject } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { Code, ConnectError } from "@connectrpc/connect";
import { client, refusal, type Refusal } from "../../api";
import {
  CustomerOverviewService,
  CustomerStatus,
  ExpirationStatus,
  type CustomerOverview,
} from "../../gen/estate/customers/v1/overview_pb";
import { href, replaceQuery, route } from "../../router";
import { idOf } from "../../session";
import { Refused } from "../../ui/Refused";
import { download } from "../../ui/format";
import { AddCustomers } from "./AddCustomers";
import { Cell, columns, type Column } from "./columns";
import { FILTER_EXPIRATIONS, FILTER_STATUSES, STATUS_LABELS, WITHHELD_TITLE } from "./figures";
import {
  DEFAULT_ORDER,
  ENTITLEMENT_COLUMNS,
  FIRST_PAGE,
  PAGE_SIZES,
  effectivePlace,
  entitlementsWithheld,
  filterOf,
  orderBy,
  queryRecord,
  readPlace,
  type OverviewPlace,
} from "./query";

const SEARCH_DEBOUNCE_MS = 300;

interface Loaded {
  rows: CustomerOverview[];
  next: string;
}

/** The performance mark set each time a page of rows is shown. */
export const RENDERED_MARK = "estate:overview-rendered";

export function Overview({ partner }: { partner: string }) {
  const query = route.value.query;
  const place = readPlace(query);
  const withheld = entitlementsWithheld.value;
  const effective = effectivePlace(place, withheld);

  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [loading, setLoading] = useState(true);
  const [listRefusal, setListRefusal] = useState<Refusal | null>(null);
  const [actionRefusal, setActionRefusal] = useState<Refusal | null>(null);
  const [reloads, setReloads] = useState(0);
  const [busyFavorite, setBusyFavorite] = useState<string | null>(null);
  const [exporting, setExporting] = useState(false);
  const [notice, setNotice] = useState("");

  const order = orderBy(effective);
  const filter = filterOf(effective);
  const requestKey = JSON.stringify([partner, order, filter, effective.pageSize, effective.page, reloads]);
  const sequence = useRef(0);

  useEffect(() => {
    const mine = ++sequence.current;
    setLoading(true);
    client(CustomerOverviewService)
      .listCustomerOverviews({
        parent: partner,
        pageSize: effective.pageSize,
        pageToken: effective.page,
        orderBy: order,
        filter,
      })
      .then((response) => {
        if (mine !== sequence.current) return;
        const rows = response.customerOverviews;
        if (rows.length > 0) entitlementsWithheld.value = rows.some((r) => r.entitlementsWithheld);
        setLoaded({ rows, next: response.nextPageToken });
        setListRefusal(null);
        setLoading(false);
      })
      .catch((error: unknown) => {
        if (mine !== sequence.current) return;
        const refused = refusal(error);
        // The server refuses sorting or filtering by expirations to callers
        // who may not see entitlements: drop them and read again.
        const entitlementField = refused.fields.some(
          (f) => f.field === "order_by" || f.field.startsWith("filter.expiration_statuses"),
        );
        const asked = ENTITLEMENT_COLUMNS.includes(place.column) || place.expiration !== undefined;
        if (ConnectError.from(error).code === Code.InvalidArgument && entitlementField && asked && !withheld) {
          entitlementsWithheld.value = true;
          replaceQuery({
            order: ENTITLEMENT_COLUMNS.includes(place.column) ? undefined : query.get("order") ?? undefined,
            expiration: undefined,
            ...FIRST_PAGE,
          });
          return;
        }
        setLoaded(null);
        setListRefusal(refused);
        setLoading(false);
      });
    // eslint has no hooks plugin here; requestKey holds every input.
  }, [requestKey]);

  // Marks the moment a page of rows is on screen, so the time from the
  // API's answer to the rows a person sees can be measured
  // (tests/benches/console_overview.rs). Preact runs effects after the
  // browser has painted the committed rows.
  useEffect(() => {
    if (loaded) performance.mark(RENDERED_MARK);
  }, [loaded]);

  // The search box writes the query after a pause in typing.
  const [searchText, setSearchText] = useState(place.search);
  const searchInput = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (searchText === place.search) return;
    const timer = setTimeout(() => replaceQuery({ q: searchText || undefined, ...FIRST_PAGE }), SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [searchText]);
  useEffect(() => {
    if (document.activeElement !== searchInput.current && searchText !== place.search) setSearchText(place.search);
  }, [place.search]);

  const listQuery = queryRecord(query);
  const detailsHref = (row: CustomerOverview) => href(["customers", idOf(row.customer)], listQuery);
  const cols = columns(detailsHref);

  function sortBy(column: string) {
    const descending = effective.column === column ? !effective.descending : false;
    const next = `${column}${descending ? " desc" : ""}`;
    replaceQuery({ order: next === DEFAULT_ORDER ? undefined : next, ...FIRST_PAGE });
  }

  async function toggleFavorite(row: CustomerOverview) {
    setBusyFavorite(row.customer);
    setActionRefusal(null);
    try {
      await client(CustomerOverviewService).setCustomerFavorite({
        parent: partner,
        customer: row.customer,
        favorite: !row.favorite,
      });
      setNotice(`${row.displayName} ${row.favorite ? "removed from" : "added to"} favorites`);
      setReloads((n) => n + 1);
    } catch (error) {
      setActionRefusal(refusal(error));
    } finally {
      setBusyFavorite(null);
    }
  }

  async function exportCsv() {
    setExporting(true);
    setActionRefusal(null);
    try {
      // ignoreBOM keeps a byte-order mark if the server sends one: the file
      // is exactly the server's CSV.
      const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
      let text = "";
      for await (const chunk of client(CustomerOverviewService).exportCustomerOverviews({
        parent: partner,
        orderBy: order,
        filter,
      })) {
        text += decoder.decode(chunk.csv, { stream: true });
      }
      text += decoder.decode();
      download("customers.csv", text, "text/csv");
      setNotice("Exported customers.csv");
    } catch (error) {
      setActionRefusal(refusal(error));
    } finally {
      setExporting(false);
    }
  }

  const rows = loaded?.rows ?? [];
  const pageNumber = effective.page ? effective.prev.length + 2 : 1;
  const filtered =
    effective.status !== undefined ||
    effective.expiration !== undefined ||
    effective.beaconProblemsOnly ||
    effective.search.trim() !== "";

  function next() {
    if (!loaded?.next) return;
    const prev = effective.page ? [...effective.prev, effective.page] : [];
    replaceQuery({ page: loaded.next, prev: prev.join(".") || undefined });
  }

  function previous() {
    const prev = [...effective.prev];
    const page = prev.pop();
    replaceQuery({ page, prev: prev.join(".") || undefined });
  }

  return (
    <section class="partner-overview" aria-labelledby="customers-heading">
      <div class="heading-row">
        <h1 id="customers-heading">Customers</h1>
        <div class="actions">
          <button type="button" id="export-csv" class="secondary" onClick={exportCsv} disabled={exporting}>
            {exporting ? "Exporting…" : "Export CSV"}
          </button>
          <AddCustomers
            partner={partner}
            onCreated={(count) => {
              setNotice(`Created ${count} customer${count === 1 ? "" : "s"}`);
              setReloads((n) => n + 1);
            }}
          />
        </div>
      </div>
      <p class="muted intro">
        Your managed customers and the customers that granted you access. Favorites come first.
      </p>

      <Filters
        place={effective}
        withheld={withheld === true}
        searchText={searchText}
        onSearch={setSearchText}
        searchRef={searchInput}
      />

      <p class="sr-only" role="status" aria-live="polite">
        {notice}
      </p>
      <Refused refusal={actionRefusal} />
      {listRefusal && (
        <>
          <Refused refusal={listRefusal} />
          {listRefusal.fields.some((f) => f.field === "page_token") && (
            <button type="button" class="secondary" onClick={() => replaceQuery({ ...FIRST_PAGE })}>
              Go to the first page
            </button>
          )}
        </>
      )}

      {!listRefusal && loading && !loaded && (
        <p class="muted" role="status">
          Loading customers…
        </p>
      )}

      {!listRefusal && loaded && rows.length === 0 && !loading && (
        <div class="empty-state">
          <p id="empty-state">No customers match</p>
          {filtered && (
            <button
              type="button"
              class="secondary"
              onClick={() => {
                setSearchText("");
                replaceQuery({ status: undefined, expiration: undefined, beacons: undefined, q: undefined, ...FIRST_PAGE });
              }}
            >
              Clear filters
            </button>
          )}
        </div>
      )}

      {!listRefusal && loaded && rows.length > 0 && (
        <div class="table-wrap">
          <table id="customers-table" aria-busy={loading ? "true" : "false"}>
            <caption class="sr-only">
              Customers, page {pageNumber}, sorted by {cols.find((c) => c.col === effective.column)?.label ?? effective.column}{" "}
              {effective.descending ? "descending" : "ascending"}
            </caption>
            <Header cols={cols} place={effective} withheld={withheld === true} onSort={sortBy} />
            <tbody>
              {rows.map((row) => (
                <tr key={row.customer} data-customer={row.customer} class={row.favorite ? "is-favorite" : undefined}>
                  <td data-col="favorite">
                    <button
                      type="button"
                      class="favorite"
                      aria-pressed={row.favorite ? "true" : "false"}
                      aria-label={`Favorite ${row.displayName}`}
                      title={row.favorite ? "Unpin from the top" : "Pin to the top"}
                      disabled={busyFavorite === row.customer}
                      onClick={() => toggleFavorite(row)}
                    >
                      <span aria-hidden="true">{row.favorite ? "★" : "☆"}</span>
                    </button>
                  </td>
                  {cols.map((column) => (
                    <Cell key={column.col} column={column} row={row} />
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      {!listRefusal && loaded && (
        <nav class="pager" aria-label="Pages">
          <button type="button" id="previous-page" class="secondary" onClick={previous} disabled={!effective.page || loading}>
            Previous
          </button>
          <span>
            Page {pageNumber}
            {rows.length > 0 && (
              <span class="muted">
                {" "}
                · {rows.length} customer{rows.length === 1 ? "" : "s"} shown
              </span>
            )}
            {loading && <span class="muted"> · loading…</span>}
          </span>
          <button type="button" id="next-page" class="secondary" onClick={next} disabled={!loaded.next || loading}>
            Next
          </button>
        </nav>
      )}
    </section>
  );
}

function Filters({
  place,
  withheld,
  searchText,
  onSearch,
  searchRef,
}: {
  place: OverviewPlace;
  withheld: boolean;
  searchText: string;
  onSearch: (text: string) => void;
  searchRef: RefObject<HTMLInputElement>;
}) {
  return (
    <div class="toolbar" role="search" aria-label="Filter customers">
      <div class="field">
        <label for="search">Customer name</label>
        <input
          id="search"
          type="search"
          ref={searchRef}
          value={searchText}
          maxLength={512}
          placeholder="Contains…"
          onInput={(e) => onSearch((e.target as HTMLInputElement).value)}
        />
      </div>
      <div class="field">
        <label for="filter-status">Status</label>
        <select
          id="filter-status"
          value={place.status === undefined ? "" : CustomerStatus[place.status]}
          onChange={(e) => replaceQuery({ status: (e.target as HTMLSelectElement).value || undefined, ...FIRST_PAGE })}
        >
          <option value="">All statuses</option>
          {FILTER_STATUSES.map((s) => (
            <option key={s} value={CustomerStatus[s]}>
              {STATUS_LABELS[s]}
            </option>
          ))}
        </select>
      </div>
      {withheld ? (
        <div class="field">
          <span class="label-like">Expiration status</span>
          <span class="muted" title={WITHHELD_TITLE}>
            Withheld (owners only)
          </span>
        </div>
      ) : (
        <div class="field">
          <label for="filter-expiration">Expiration status</label>
          <select
            id="filter-expiration"
            value={place.expiration === undefined ? "" : ExpirationStatus[place.expiration]}
            onChange={(e) =>
              replaceQuery({ expiration: (e.target as HTMLSelectElement).value || undefined, ...FIRST_PAGE })
            }
          >
            <option value="">All expiration statuses</option>
            {FILTER_EXPIRATIONS.map((x) => (
              <option key={x.value} value={ExpirationStatus[x.value]}>
                {x.label}
              </option>
            ))}
          </select>
        </div>
      )}
      <div class="field checkbox">
        <input
          id="filter-beacon-problems"
          type="checkbox"
          checked={place.beaconProblemsOnly}
          onChange={(e) =>
            replaceQuery({ beacons: (e.target as HTMLInputElement).checked ? "1" : undefined, ...FIRST_PAGE })
          }
        />
        <label for="filter-beacon-problems">Beacon problems only</label>
      </div>
      <div class="field">
        <label for="page-size">Rows per page</label>
        <select
          id="page-size"
          value={String(place.pageSize)}
          onChange={(e) => replaceQuery({ size: (e.target as HTMLSelectElement).value, ...FIRST_PAGE })}
        >
          {PAGE_SIZES.map((n) => (
            <option key={n} value={String(n)}>
              {n}
            </option>
          ))}
        </select>
      </div>
    </div>
  );
}

function Header({
  cols,
  place,
  withheld,
  onSort,
}: {
  cols: Column[];
  place: OverviewPlace;
  withheld: boolean;
  onSort: (column: string) => void;
}) {
  // First row: ungrouped columns (spanning both rows) and group titles.
  const first: JSX.Element[] = [
    <th key="favorite" data-col="favorite" scope="col" rowSpan={2}>
      <span class="sr-only">Favorite</span>
      <span aria-hidden="true">★</span>
    </th>,
  ];
  const second: JSX.Element[] = [];
  for (let i = 0; i < cols.length; i++) {
    const column = cols[i];
    if (!column.group) {
      first.push(<HeaderCell key={column.col} column={column} place={place} withheld={withheld} onSort={onSort} rowSpan={2} />);
      continue;
    }
    if (i === 0 || cols[i - 1].group !== column.group) {
      const span = cols.filter((c) => c.group === column.group).length;
      first.push(
        <th key={`group-${column.group}`} scope="colgroup" colSpan={span} class="group">
          {column.group}
        </th>,
      );
    }
    second.push(<HeaderCell key={column.col} column={column} place={place} withheld={withheld} onSort={onSort} />);
  }
  return (
    <thead>
      <tr>{first}</tr>
      <tr>{second}</tr>
    </thead>
  );
}

function HeaderCell({
  column,
  place,
  withheld,
  onSort,
  rowSpan,
}: {
  column: Column;
  place: OverviewPlace;
  withheld: boolean;
  onSort: (column: string) => void;
  rowSpan?: number;
}) {
  const sortable = column.sortable === true && !(column.entitlement && withheld);
  const active = place.column === column.col;
  const ariaSort = sortable ? (active ? (place.descending ? "descending" : "ascending") : "none") : undefined;
  const groupPrefix = column.group ? <span class="sr-only">{column.group} </span> : null;
  return (
    <th data-col={column.col} scope="col" rowSpan={rowSpan} aria-sort={ariaSort} class={column.numeric ? "num" : undefined}>
      {sortable ? (
        <button type="button" class="sort" onClick={() => onSort(column.col)}>
          {groupPrefix}
          {column.label}
          <span class="sort-mark" aria-hidden="true">
            {active ? (place.descending ? "▼" : "▲") : "↕"}
          </span>
        </button>
      ) : (
        <>
          {groupPrefix}
          {column.label}
          {column.entitlement && withheld && (
            <span class="muted" title={WITHHELD_TITLE}>
              {" "}
              (withheld)
            </span>
          )}
        </>
      )}
    </th>
  );
}
