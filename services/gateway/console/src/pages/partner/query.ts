// The overview's place, kept in the route query so a reload (or the back
// link from a customer's details) finds the same sort, filters and page.
//
//   order   "column [asc|desc]" (ListCustomerOverviewsRequest.order_by)
//   status  a CustomerStatus name, e.g. "WARNING"
//   expiration  an ExpirationStatus name, e.g. "EXPIRES_IN_30_DAYS"
//   beacons "1": beacon problems only
//   q       display name contains
//   size    page size (25, 50, 100)
//   page    the current page token ("" = first page)
//   prev    the tokens of the pages before the current one, oldest first,
//           without the first page's empty token, joined by "." (tokens
//           are URL-safe base64 without padding, so never contain ".")
import { signal } from "@preact/signals";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  CustomerStatus,
  ExpirationStatus,
  type OverviewFilterSchema,
} from "../../gen/estate/customers/v1/overview_pb";

export const PAGE_SIZES = [25, 50, 100] as const;
export const DEFAULT_PAGE_SIZE = 50;
export const DEFAULT_ORDER = "display_name";

/** Columns whose sorting or filtering the server refuses while entitlements are withheld. */
export const ENTITLEMENT_COLUMNS = ["upcoming_expiration", "expiration_status"];

/**
 * Whether the caller's rows came back with `entitlements_withheld` (only
 * owners of the partner see expirations). Unknown until a non-empty page
 * was read.
 */
export const entitlementsWithheld = signal<boolean | undefined>(undefined);

export interface OverviewPlace {
  column: string;
  descending: boolean;
  status: CustomerStatus | undefined;
  expiration: ExpirationStatus | undefined;
  beaconProblemsOnly: boolean;
  search: string;
  pageSize: number;
  page: string;
  prev: string[];
}

function enumValue<E extends Record<string, string | number>>(e: E, name: string | null): E[keyof E] | undefined {
  if (!name) return undefined;
  const value = (e as Record<string, string | number>)[name];
  return typeof value === "number" && value !== 0 ? (value as E[keyof E]) : undefined;
}

export function readPlace(query: URLSearchParams): OverviewPlace {
  const [column = DEFAULT_ORDER, direction] = (query.get("order") ?? "").trim().split(/\s+/);
  const size = Number(query.get("size"));
  const prev = (query.get("prev") ?? "").split(".").filter(Boolean);
  return {
    column: column || DEFAULT_ORDER,
    descending: direction === "desc",
    status: enumValue(CustomerStatus, query.get("status")),
    expiration: enumValue(ExpirationStatus, query.get("expiration")),
    beaconProblemsOnly: query.get("beacons") === "1",
    search: query.get("q") ?? "",
    pageSize: (PAGE_SIZES as readonly number[]).includes(size) ? size : DEFAULT_PAGE_SIZE,
    page: query.get("page") ?? "",
    prev,
  };
}

/** The place minus what the server refuses while entitlements are withheld. */
export function effectivePlace(place: OverviewPlace, withheld: boolean | undefined): OverviewPlace {
  if (!withheld) return place;
  const sortWithheld = ENTITLEMENT_COLUMNS.includes(place.column);
  return {
    ...place,
    column: sortWithheld ? DEFAULT_ORDER : place.column,
    descending: sortWithheld ? false : place.descending,
    expiration: undefined,
  };
}

export function orderBy(place: OverviewPlace): string {
  return `${place.column}${place.descending ? " desc" : ""}`;
}

export function filterOf(place: OverviewPlace): MessageInitShape<typeof OverviewFilterSchema> {
  return {
    statuses: place.status ? [place.status] : [],
    expirationStatuses: place.expiration ? [place.expiration] : [],
    displayNameContains: place.search.trim(),
    beaconProblemsOnly: place.beaconProblemsOnly,
  };
}

/** Query changes that go back to the first page (after a sort or filter change). */
export const FIRST_PAGE = { page: undefined, prev: undefined } as const;

/** The query as a plain record, to carry it into a details link and back. */
export function queryRecord(query: URLSearchParams): Record<string, string> {
  const record: Record<string, string> = {};
  for (const [k, v] of query) record[k] = v;
  return record;
}
