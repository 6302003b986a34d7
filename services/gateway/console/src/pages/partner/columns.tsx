// The overview table's columns: every field ListCustomerOverviews returns.
// `col` is the order_by column where the server sorts by it, so
// `th[data-col=status]` and `td[data-col=status]` line up with `order=status`.
import type { ComponentChildren } from "preact";
import type { CustomerOverview } from "../../gen/estate/customers/v1/overview_pb";
import { idOf } from "../../session";
import { date, dateTime } from "../../ui/format";
import {
  StatusChip,
  Withheld,
  daysSince,
  expirationStatus,
  lastSync,
  missingGroup,
  num,
  plural,
  productUsage,
  signed,
  upcomingExpiration,
} from "./figures";

export interface Column {
  col: string;
  label: string;
  /** The server sorts by this column (`col` is an order_by value). */
  sortable?: boolean;
  /** The column shows entitlement information (withheld from non-owners). */
  entitlement?: boolean;
  group?: string;
  numeric?: boolean;
  cell: (row: CustomerOverview) => ComponentChildren;
  /** Whether the row holds this column's metric group (absent: "–" with the reason). */
  present?: (row: CustomerOverview) => boolean;
  groupProduct?: string;
}

const COMPUTERS = "Computers";
const APPLICATIONS = "Applications";
const SAAS = "SaaS";
const LICENSES = "Licenses and usage";
const COMPLIANCE = "Compliance";

const hasComputers = (r: CustomerOverview) => r.computers !== undefined;
const hasApplications = (r: CustomerOverview) => r.applications !== undefined;
const hasSaas = (r: CustomerOverview) => r.saas !== undefined;
const hasLicenses = (r: CustomerOverview) => r.licensesAndUsage !== undefined;
const hasCompliance = (r: CustomerOverview) => r.compliance !== undefined;

/** The compact products list of the licenses-and-usage cell. */
export function Products({ row, limit = 2 }: { row: CustomerOverview; limit?: number }) {
  const products = row.licensesAndUsage?.products ?? [];
  if (products.length === 0) return <span class="muted">No products</span>;
  const shown = products.slice(0, limit);
  const rest = products.slice(limit);
  return (
    <div class="products">
      <ul>
        {shown.map((p) => (
          <li key={p.product} title="highest usage in 30 days / quantity purchased (utilization %)">
            <span class="product">{p.product}</span> {productUsage(p)}
          </li>
        ))}
      </ul>
      {rest.length > 0 && (
        <details>
          <summary>{rest.length} more</summary>
          <ul>
            {rest.map((p) => (
              <li key={p.product}>
                <span class="product">{p.product}</span> {productUsage(p)}
              </li>
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}

export function columns(detailsHref: (row: CustomerOverview) => string): Column[] {
  return [
    {
      col: "display_name",
      label: "Customer name",
      sortable: true,
      cell: (r) => <a href={detailsHref(r)}>{r.displayName}</a>,
    },
    {
      col: "customer",
      label: "Organization ID",
      sortable: true,
      cell: (r) => <code class="id">{idOf(r.customer)}</code>,
    },
    {
      col: "external_id",
      label: "External ID",
      sortable: true,
      cell: (r) => r.externalId || <span class="muted">–</span>,
    },
    { col: "status", label: "Status", sortable: true, cell: (r) => <StatusChip row={r} /> },
    {
      col: "beacon_count",
      label: "Beacons",
      sortable: true,
      numeric: true,
      cell: (r) => (
        <>
          {num(r.beaconCount)}
          {r.beaconProblemCount > 0n && (
            <span class="problems"> ({plural(r.beaconProblemCount, "problem", "problems")})</span>
          )}
        </>
      ),
    },
    {
      col: "upcoming_expiration",
      label: "Upcoming expiration",
      sortable: true,
      entitlement: true,
      cell: (r) => (r.entitlementsWithheld ? <Withheld /> : upcomingExpiration(r)),
    },
    {
      col: "expiration_status",
      label: "Expiration status",
      sortable: true,
      entitlement: true,
      cell: (r) => (r.entitlementsWithheld ? <Withheld /> : expirationStatus(r)),
    },
    {
      col: "last_successful_sync_time",
      label: "Last successful sync",
      sortable: true,
      cell: (r) => {
        const since = daysSince(r);
        return (
          <span title={dateTime(r.lastSuccessfulSyncTime)}>
            {lastSync(r)}
            {since && <span class="muted"> ({since})</span>}
          </span>
        );
      },
    },
    {
      col: "computers_total",
      label: "Total",
      group: COMPUTERS,
      sortable: true,
      numeric: true,
      present: hasComputers,
      groupProduct: "SAM Core",
      cell: (r) => num(r.computers?.total),
    },
    {
      col: "computers_inventoried_within_7_days",
      label: "Inventoried ≤ 7 days",
      group: COMPUTERS,
      numeric: true,
      present: hasComputers,
      groupProduct: "SAM Core",
      cell: (r) => num(r.computers?.inventoriedWithin7Days),
    },
    {
      col: "computers_not_inventoried_for_over_7_days",
      label: "Not inventoried > 7 days",
      group: COMPUTERS,
      numeric: true,
      present: hasComputers,
      groupProduct: "SAM Core",
      cell: (r) => num(r.computers?.notInventoriedForOver7Days),
    },
    {
      col: "computers_quarantined",
      label: "Quarantined",
      group: COMPUTERS,
      numeric: true,
      present: hasComputers,
      groupProduct: "SAM Core",
      cell: (r) => num(r.computers?.quarantined),
    },
    {
      col: "computers_inactive",
      label: "Inactive",
      group: COMPUTERS,
      numeric: true,
      present: hasComputers,
      groupProduct: "SAM Core",
      cell: (r) => num(r.computers?.inactive),
    },
    {
      col: "computers_total_change_30_days",
      label: "Change (30 days)",
      group: COMPUTERS,
      numeric: true,
      present: hasComputers,
      groupProduct: "SAM Core",
      cell: (r) =>
        r.computers?.totalChange30Days === undefined ? (
          <span class="muted" title="No snapshot 30 days older yet">
            –
          </span>
        ) : (
          signed(r.computers.totalChange30Days)
        ),
    },
    {
      col: "applications_total",
      label: "Total",
      group: APPLICATIONS,
      sortable: true,
      numeric: true,
      present: hasApplications,
      groupProduct: "SAM Core",
      cell: (r) => num(r.applications?.total),
    },
    {
      col: "applications_licensable",
      label: "Licensable",
      group: APPLICATIONS,
      numeric: true,
      present: hasApplications,
      groupProduct: "SAM Core",
      cell: (r) => num(r.applications?.licensable),
    },
    {
      col: "applications_denied_installed",
      label: "Denied installed",
      group: APPLICATIONS,
      numeric: true,
      present: hasApplications,
      groupProduct: "SAM Core",
      cell: (r) => num(r.applications?.deniedInstalled),
    },
    {
      col: "saas_applications",
      label: "Applications",
      group: SAAS,
      numeric: true,
      present: hasSaas,
      groupProduct: "SaaS Management",
      cell: (r) => num(r.saas?.applications),
    },
    {
      col: "saas_active_users",
      label: "Active users (30 days)",
      group: SAAS,
      numeric: true,
      present: hasSaas,
      groupProduct: "SaaS Management",
      cell: (r) => num(r.saas?.activeUsers),
    },
    {
      col: "licenses_and_usage",
      label: "Products: highest usage / purchased",
      group: LICENSES,
      present: hasLicenses,
      groupProduct: "licenses and usage",
      cell: (r) => <Products row={r} />,
    },
    {
      col: "compliance_requirement",
      label: "Requirement",
      group: COMPLIANCE,
      numeric: true,
      present: hasCompliance,
      groupProduct: "SAM Core (or not calculated yet)",
      cell: (r) => <span title={`Calculated ${dateTime(r.compliance?.calculatedTime)}`}>{num(r.compliance?.requirement)}</span>,
    },
    {
      col: "compliance_coverage",
      label: "Coverage",
      group: COMPLIANCE,
      numeric: true,
      present: hasCompliance,
      groupProduct: "SAM Core (or not calculated yet)",
      cell: (r) => num(r.compliance?.coverage),
    },
    {
      col: "compliance_compliance",
      label: "Compliance",
      group: COMPLIANCE,
      numeric: true,
      present: hasCompliance,
      groupProduct: "SAM Core (or not calculated yet)",
      cell: (r) => {
        const value = r.compliance?.compliance;
        return <span class={value !== undefined && value < 0n ? "shortfall" : undefined}>{signed(value)}</span>;
      },
    },
    {
      col: "compliance_applications_short",
      label: "Applications short",
      group: COMPLIANCE,
      numeric: true,
      present: hasCompliance,
      groupProduct: "SAM Core (or not calculated yet)",
      cell: (r) => num(r.compliance?.applicationsShort),
    },
    {
      col: "compliance_calculated_time",
      label: "Calculated",
      group: COMPLIANCE,
      present: hasCompliance,
      groupProduct: "SAM Core (or not calculated yet)",
      cell: (r) => date(r.compliance?.calculatedTime),
    },
  ];
}

/** A body cell: the column's figure, or "–" saying why the group is absent. */
export function Cell({ column, row }: { column: Column; row: CustomerOverview }) {
  const cls = column.numeric ? "num" : undefined;
  if (column.present && !column.present(row)) {
    return (
      <td data-col={column.col} class={`${cls ?? ""} muted`.trim()} title={missingGroup(row, column.groupProduct ?? column.group ?? "")}>
        –
      </td>
    );
  }
  return (
    <td data-col={column.col} class={cls}>
      {column.cell(row)}
    </td>
  );
}
