// How one customer's overview figures read, shared by the overview table
// and the customer details view. Every figure comes from the row the
// server returned; nothing here is computed beyond wording.
import type { Duration } from "@bufbuild/protobuf/wkt";
import {
  CustomerStatus,
  ExpirationStatus,
  UpcomingExpirationKind,
  type CustomerOverview,
  type ProductUsage,
} from "../../gen/estate/customers/v1/overview_pb";
import { BeaconHealth } from "../../gen/estate/customers/v1/beacons_pb";
import { SyncState } from "../../gen/estate/customers/v1/sync_pb";
import { date } from "../../ui/format";

export const STATUS_LABELS: Record<CustomerStatus, string> = {
  [CustomerStatus.UNSPECIFIED]: "Unknown",
  [CustomerStatus.SYNCED]: "Synced",
  [CustomerStatus.WARNING]: "Warning",
  [CustomerStatus.SYNC_PENDING]: "Sync pending",
  [CustomerStatus.ACCESS_DISABLED]: "Access disabled",
};

const STATUS_CLASSES: Record<CustomerStatus, string> = {
  [CustomerStatus.UNSPECIFIED]: "",
  [CustomerStatus.SYNCED]: "synced",
  [CustomerStatus.WARNING]: "warning",
  [CustomerStatus.SYNC_PENDING]: "pending",
  [CustomerStatus.ACCESS_DISABLED]: "disabled",
};

/** The statuses a person can filter by, in the order the vendor lists them. */
export const FILTER_STATUSES = [
  CustomerStatus.SYNCED,
  CustomerStatus.WARNING,
  CustomerStatus.SYNC_PENDING,
  CustomerStatus.ACCESS_DISABLED,
];

export const EXPIRATION_LABELS: Record<ExpirationStatus, string> = {
  [ExpirationStatus.UNSPECIFIED]: "–",
  [ExpirationStatus.EXPIRED]: "Expired",
  [ExpirationStatus.EXPIRES_IN_30_DAYS]: "Expires in 30 days",
  [ExpirationStatus.EXPIRES_IN_60_DAYS]: "Expires in 60 days",
  [ExpirationStatus.NONE]: "–",
};

export const FILTER_EXPIRATIONS: { value: ExpirationStatus; label: string }[] = [
  { value: ExpirationStatus.EXPIRED, label: "Expired" },
  { value: ExpirationStatus.EXPIRES_IN_30_DAYS, label: "Expires in 30 days" },
  { value: ExpirationStatus.EXPIRES_IN_60_DAYS, label: "Expires in 60 days" },
  { value: ExpirationStatus.NONE, label: "None within 60 days (–)" },
];

export function plural(count: bigint | number, one: string, many: string): string {
  return `${count.toLocaleString()} ${count === 1 || count === 1n ? one : many}`;
}

export function num(value: bigint | number | undefined): string {
  return value === undefined ? "–" : value.toLocaleString();
}

export function signed(value: bigint | undefined): string {
  if (value === undefined) return "–";
  return value > 0n ? `+${value.toLocaleString()}` : value.toLocaleString();
}

/** Why a row has its status, from the row's own figures. */
export function statusReason(row: CustomerOverview): string {
  switch (row.status) {
    case CustomerStatus.SYNCED:
      return "Access enabled, last sync succeeded, every scanned computer sent data within 7 days and no denied application is installed";
    case CustomerStatus.WARNING: {
      const reasons: string[] = [];
      const silent = row.computers?.notInventoriedForOver7Days ?? 0n;
      if (silent > 0n) reasons.push(`${plural(silent, "computer", "computers")} not inventoried for over 7 days`);
      const denied = row.applications?.deniedInstalled ?? 0n;
      if (denied > 0n) reasons.push(`${plural(denied, "denied application", "denied applications")} installed`);
      if (row.beaconProblemCount > 0n)
        reasons.push(`${plural(row.beaconProblemCount, "beacon", "beacons")} with a problem`);
      return reasons.length > 0
        ? reasons.join("; ")
        : "last sync succeeded, but a computer has been silent for over 7 days, a denied application is installed or a beacon has a problem";
    }
    case CustomerStatus.SYNC_PENDING:
      return row.syncPendingOverdue
        ? "sync pending for over 24 hours"
        : "access enabled, but no sync has completed yet or one is running";
    case CustomerStatus.ACCESS_DISABLED:
      return "no effective access grant";
    default:
      return "status unknown";
  }
}

export function StatusChip({ row }: { row: CustomerOverview }) {
  const reason = statusReason(row);
  const overdue = row.status === CustomerStatus.SYNC_PENDING && row.syncPendingOverdue;
  return (
    // The chip's text is exactly the status; "over 24 h" is added by CSS (.overdue::after).
    <span
      class={`chip ${STATUS_CLASSES[row.status]}${overdue ? " overdue" : ""}`}
      title={reason}
      data-status={CustomerStatus[row.status]}
    >
      {STATUS_LABELS[row.status]}
    </span>
  );
}

export const WITHHELD_TITLE = "Only owners of the partner see entitlement information";

export function Withheld() {
  return (
    <span class="muted withheld" title={WITHHELD_TITLE}>
      Withheld
    </span>
  );
}

export function upcomingExpiration(row: CustomerOverview): string {
  switch (row.upcomingExpirationKind) {
    case UpcomingExpirationKind.DATE:
      return date(row.upcomingExpirationTime);
    case UpcomingExpirationKind.NO_EXPIRATIONS:
      return "No expirations";
    case UpcomingExpirationKind.NO_ENTITLEMENTS:
      return "No entitlements";
    default:
      return "–";
  }
}

export function expirationStatus(row: CustomerOverview): string {
  return EXPIRATION_LABELS[row.expirationStatus] ?? "–";
}

export function lastSync(row: CustomerOverview): string {
  if (!row.lastSuccessfulSyncTime) return row.status === CustomerStatus.ACCESS_DISABLED ? "–" : "Never";
  return date(row.lastSuccessfulSyncTime);
}

export function daysSince(row: CustomerOverview): string | undefined {
  const days = row.daysSinceLastSync;
  if (days === undefined) return undefined;
  if (days === 0n) return "today";
  return `${plural(days, "day", "days")} ago`;
}

/** Why a metric group is absent from a row. */
export function missingGroup(row: CustomerOverview, product: string): string {
  if (row.status !== CustomerStatus.SYNCED && row.status !== CustomerStatus.WARNING)
    return `No data while the status is ${STATUS_LABELS[row.status]}`;
  return `Not entitled to ${product}, or not provided by the last sync`;
}

export function productUsage(p: ProductUsage): string {
  const util = p.utilizationPercent === undefined ? "" : ` (${p.utilizationPercent.toLocaleString()} %)`;
  return `${p.highestUsage30Days.toLocaleString()} / ${p.quantityPurchased.toLocaleString()}${util}`;
}

export const HEALTH_LABELS: Record<BeaconHealth, string> = {
  [BeaconHealth.UNSPECIFIED]: "Unknown",
  [BeaconHealth.OK]: "OK",
  [BeaconHealth.PROBLEM]: "Problem",
  [BeaconHealth.SILENT]: "Silent",
  [BeaconHealth.DISABLED]: "Disabled",
};

export const HEALTH_CLASSES: Record<BeaconHealth, string> = {
  [BeaconHealth.UNSPECIFIED]: "",
  [BeaconHealth.OK]: "synced",
  [BeaconHealth.PROBLEM]: "warning",
  [BeaconHealth.SILENT]: "warning",
  [BeaconHealth.DISABLED]: "disabled",
};

export const SYNC_STATE_LABELS: Record<SyncState, string> = {
  [SyncState.UNSPECIFIED]: "Unknown",
  [SyncState.QUEUED]: "Queued",
  [SyncState.RUNNING]: "Running",
  [SyncState.SUCCEEDED]: "Succeeded",
  [SyncState.FAILED]: "Failed",
};

export function syncEnded(state: SyncState): boolean {
  return state === SyncState.SUCCEEDED || state === SyncState.FAILED;
}

export function duration(d: Duration | undefined): string {
  if (!d) return "–";
  let seconds = Number(d.seconds);
  const days = Math.floor(seconds / 86_400);
  seconds -= days * 86_400;
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  const parts: string[] = [];
  if (days) parts.push(`${days} d`);
  if (hours) parts.push(`${hours} h`);
  if (minutes) parts.push(`${minutes} min`);
  return parts.join(" ") || `${seconds} s`;
}
