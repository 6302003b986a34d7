// The distributor's dashboard (GetDistributorDashboard): every figure the
// response carries as a widget whose counts open the records they count,
// charts where a picture reads faster, and the partner/customer search.
// Sub-views list what has no page of its own: `#/dashboard/drops?product=`
// (ListChargeableDrops) and `#/dashboard/inactive-partners`
// (ListInactiveNewPartners).
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { client, refusal, type Refusal } from "../../api";
import {
  DashboardService,
  Granularity,
  type AccountMatch,
  type ChargeableDrop,
  type DistributorDashboard,
  type Figure,
} from "../../gen/estate/billing/v1/dashboard_pb";
import { PartnerStatus, type Partner } from "../../gen/estate/billing/v1/partners_pb";
import { ProductLicenseStatus } from "../../gen/estate/billing/v1/product_licenses_pb";
import { BillingReportStatus, UsageReportStatus } from "../../gen/estate/billing/v1/reports_pb";
import { href, replaceQuery, route } from "../../router";
import { Refused } from "../../ui/Refused";
import { ChartCanvas, PALETTE } from "./charts";
import {
  distributorName,
  EmptyRow,
  enumName,
  enumWords,
  listHref,
  num,
  organizationOf,
  OrgName,
  StatusChip,
  TableWrap,
  partnerTypeWords,
  useLoad,
} from "./common";
import "./distributor.css";

export function Dashboard() {
  const { path, query } = route.value;
  if (path[1] === "drops") return <ChargeableDrops product={query.get("product") ?? ""} />;
  if (path[1] === "inactive-partners") return <InactiveNewPartners />;
  return <Overview />;
}

// ---------------------------------------------------------------------------

function useDashboard(granularity: Granularity) {
  const [dashboard, setDashboard] = useState<DistributorDashboard | null>(null);
  const [failed, setFailed] = useState<Refusal | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const call = useRef(0);
  useEffect(() => {
    const mine = ++call.current;
    setLoading(true);
    client(DashboardService)
      .getDistributorDashboard({ name: `${distributorName()}/dashboard`, acquisitionGranularity: granularity })
      .then((d) => {
        if (mine !== call.current) return;
        setDashboard(d);
        setFailed(null);
      })
      .catch((e: unknown) => {
        if (mine === call.current) setFailed(refusal(e));
      })
      .finally(() => {
        if (mine === call.current) setLoading(false);
      });
  }, [granularity, tick]);
  return { dashboard, failed, loading, reload: () => setTick((t) => t + 1) };
}

function Overview() {
  const quarterly = route.value.query.get("granularity") === "quarterly";
  const granularity = quarterly ? Granularity.QUARTERLY : Granularity.MONTHLY;
  const { dashboard, failed, loading, reload } = useDashboard(granularity);

  return (
    <div class="distributor-dashboard">
      <div class="page-head">
        <h1>Dashboard</h1>
        <p class="muted" aria-live="polite">
          {loading ? "Loading figures…" : dashboard ? `Figures as of ${dashboard.asOf} (UTC)` : ""}
        </p>
        <button type="button" class="secondary" id="refresh-dashboard" onClick={reload} disabled={loading}>
          Refresh
        </button>
      </div>
      <Refused refusal={failed} />
      <div class="widgets" aria-busy={loading}>
        <AccountSearch />
        {dashboard && <Widgets dashboard={dashboard} />}
      </div>
    </div>
  );
}

function Widget({
  field,
  title,
  wide,
  children,
}: {
  field: string;
  title: string;
  wide?: boolean | "full";
  children: ComponentChildren;
}) {
  const id = `widget-${field}`;
  return (
    <section class={wide === "full" ? "widget full" : wide ? "widget wide" : "widget"} data-widget={field} aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

/** A count that opens the list of what it counts. */
function Count({
  figure,
  fallback,
  what,
  big,
  status,
}: {
  figure: Figure | undefined;
  fallback: string;
  what: string;
  big?: boolean;
  status?: string;
}) {
  const count = figure?.count ?? 0n;
  return (
    <a
      class={big ? "widget-count count" : "widget-count"}
      href={listHref(figure?.list) ?? fallback}
      data-status={status}
      aria-label={`${num(count)} ${what}: open the list`}
    >
      {num(count)}
    </a>
  );
}

/** Per-status figures as a table: status in words, its count as a link. */
function StatusTable<S extends { status: number }>({
  caption,
  rows,
  e,
  figureOf,
  fallback,
  what,
}: {
  caption: string;
  rows: S[];
  e: Record<string, string | number>;
  figureOf: (row: S) => Figure | undefined;
  fallback: (statusName: string) => string;
  what: string;
}) {
  return (
    <table class="figures">
      <caption class="sr-only">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Status</th>
          <th scope="col" class="num">
            Count
          </th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => {
          const name = enumName(e, row.status);
          return (
            <tr key={row.status} data-status={name}>
              <th scope="row">
                <StatusChip e={e} value={row.status} />
              </th>
              <td class="num">
                <Count
                  figure={figureOf(row)}
                  fallback={fallback(name)}
                  what={`${what} ${enumWords(e, row.status).toLowerCase()}`}
                  status={name}
                />
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function summary(labels: string[], values: number[]): string {
  return labels.map((l, i) => `${l}: ${values[i]}`).join("; ");
}

function StatusWidget<S extends { status: number }>({
  field,
  title,
  rows,
  e,
  figureOf,
  fallback,
  what,
  kind,
}: {
  field: string;
  title: string;
  rows: S[];
  e: Record<string, string | number>;
  figureOf: (row: S) => Figure | undefined;
  fallback: (statusName: string) => string;
  what: string;
  kind: "bar" | "doughnut";
}) {
  const labels = rows.map((r) => enumWords(e, r.status));
  const values = rows.map((r) => Number(figureOf(r)?.count ?? 0n));
  const total = values.reduce((a, b) => a + b, 0);
  const open = (index: number) => {
    const row = rows[index];
    if (!row) return;
    location.hash = listHref(figureOf(row)?.list) ?? fallback(enumName(e, row.status));
  };
  return (
    <Widget field={field} title={title} wide>
      <div class="widget-split">
        <StatusTable caption={title} rows={rows} e={e} figureOf={figureOf} fallback={fallback} what={what} />
        {total > 0 ? (
          <ChartCanvas
            kind={kind}
            labels={labels}
            series={[{ label: title, data: values }]}
            label={`${title}, ${kind === "bar" ? "bar" : "doughnut"} chart. ${summary(labels, values)}.`}
            onPick={(_, index) => open(index)}
          />
        ) : (
          <p class="muted">Nothing to chart: every count is 0.</p>
        )}
      </div>
    </Widget>
  );
}

function Widgets({ dashboard: d }: { dashboard: DistributorDashboard }) {
  return (
    <>
      <Widget field="enabled_customers" title="Enabled customers">
        <Count
          big
          figure={d.enabledCustomers}
          fallback={href(["partners"], { enabled: "true" })}
          what="enabled customers"
        />
      </Widget>
      <Widget field="active_partners" title="Active partners">
        <Count big figure={d.activePartners} fallback={href(["partners"], { status: "ACTIVE" })} what="active partners" />
      </Widget>
      <Widget field="enabled_service_plans" title="Enabled service plans">
        <Count
          big
          figure={d.enabledServicePlans}
          fallback={href(["partners"], { plans_enabled: "true" })}
          what="enabled service plans"
        />
      </Widget>
      <Widget field="partners_acquired_last_30_days" title="New partners (last 30 days)">
        <Count
          big
          figure={d.partnersAcquiredLast30Days}
          fallback={href(["partners"], { acquired_from: daysBefore(d.asOf, 30) })}
          what="partners acquired in the last 30 days"
        />
        <p class="muted">Acquired on or after {daysBefore(d.asOf, 30)}.</p>
      </Widget>
      <Widget field="inactive_new_partners" title="Inactive new partners">
        <Count
          big
          figure={d.inactiveNewPartners}
          fallback={href(["dashboard", "inactive-partners"])}
          what="inactive new partners"
        />
        <p class="muted">Acquired in the last 90 days, no full license sale since.</p>
      </Widget>
      <ChargeableDropsWidget dashboard={d} />
      <StatusWidget
        field="customers_by_license_status"
        title="Customer license status"
        rows={d.customersByLicenseStatus}
        e={ProductLicenseStatus}
        figureOf={(r) => r.customers}
        fallback={(s) => href(["partners"], { license_status: s })}
        what="customers with a license"
        kind="bar"
      />
      {d.usageReportsShown && (
        <StatusWidget
          field="usage_reports_by_status"
          title="Usage report status"
          rows={d.usageReportsByStatus}
          e={UsageReportStatus}
          figureOf={(r) => r.usageReports}
          fallback={(s) => href(["reports"], { status: s })}
          what="usage reports"
          kind="doughnut"
        />
      )}
      {d.billingReportsShown && (
        <StatusWidget
          field="billing_reports_by_status"
          title="Billing report status"
          rows={d.billingReportsByStatus}
          e={BillingReportStatus}
          figureOf={(r) => r.billingReports}
          fallback={(s) => href(["reports"], { billing_status: s })}
          what="billing reports"
          kind="doughnut"
        />
      )}
      <AcquisitionWidget dashboard={d} />
    </>
  );
}

/** `YYYY-MM-DD` `days` before `asOf` (UTC). */
function daysBefore(asOf: string, days: number): string {
  const t = Date.parse(`${asOf}T00:00:00Z`);
  if (Number.isNaN(t)) return "";
  return new Date(t - days * 86_400_000).toISOString().slice(0, 10);
}

function ChargeableDropsWidget({ dashboard: d }: { dashboard: DistributorDashboard }) {
  return (
    <Widget field="chargeable_drops" title="Partners with decrease in chargeable units">
      <p class="muted">
        Month over month, by more than {d.chargeableDropThresholdPercent} %.
      </p>
      {d.chargeableDrops.length === 0 ? (
        <p class="muted">No product had chargeable units the month before last.</p>
      ) : (
        <table class="figures">
          <caption>Partners per product</caption>
          <thead>
            <tr>
              <th scope="col">Product</th>
              <th scope="col" class="num">
                Partners
              </th>
            </tr>
          </thead>
          <tbody>
            {d.chargeableDrops.map((drop) => (
              <tr key={drop.product} data-product={drop.product}>
                <th scope="row">
                  <code>{drop.product}</code>
                </th>
                <td class="num">
                  <Count
                    figure={drop.partners}
                    fallback={href(["dashboard", "drops"], { product: drop.product })}
                    what={`partners with fewer chargeable units of ${drop.product}`}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Widget>
  );
}

const monthName = new Intl.DateTimeFormat(undefined, { month: "short", timeZone: "UTC" });

function periodLabel(period: number, quarterly: boolean): string {
  return quarterly ? `Q${period}` : monthName.format(new Date(Date.UTC(2000, period - 1, 1)));
}

function AcquisitionWidget({ dashboard: d }: { dashboard: DistributorDashboard }) {
  const quarterly = d.acquisitionGranularity === Granularity.QUARTERLY;
  const year = d.acquisitionYear;
  const periods = d.newPartnerAcquisition;
  const labels = periods.map((p) => periodLabel(p.period, quarterly));
  const thisYear = periods.map((p) => Number(p.thisYear?.count ?? 0n));
  const previousYear = periods.map((p) => Number(p.previousYear?.count ?? 0n));
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  const by = quarterly ? "quarter" : "month";
  const yearHref = (y: number) => href(["partners"], { acquired_from: `${y}-01-01`, acquired_to: `${y}-12-31` });
  const open = (series: number, index: number) => {
    const p = periods[index];
    const figure = series === 0 ? p?.thisYear : p?.previousYear;
    const target = listHref(figure?.list);
    if (target) location.hash = target;
  };

  return (
    <Widget field="new_partner_acquisition" title="New partner acquisition" wide="full">
      <div class="toolbar">
        <fieldset class="segmented">
          <legend>Compare by</legend>
          <label>
            <input
              type="radio"
              name="acquisition-granularity"
              value="monthly"
              checked={!quarterly}
              onChange={() => replaceQuery({ granularity: undefined })}
            />{" "}
            Month
          </label>
          <label>
            <input
              type="radio"
              name="acquisition-granularity"
              value="quarterly"
              checked={quarterly}
              onChange={() => replaceQuery({ granularity: "quarterly" })}
            />{" "}
            Quarter
          </label>
        </fieldset>
        <p>
          {year}:{" "}
          <a class="widget-count" href={yearHref(year)} aria-label={`${num(sum(thisYear))} partners acquired in ${year}: open the list`}>
            {num(sum(thisYear))}
          </a>{" "}
          · {year - 1}:{" "}
          <a
            class="widget-count"
            href={yearHref(year - 1)}
            aria-label={`${num(sum(previousYear))} partners acquired in ${year - 1}: open the list`}
          >
            {num(sum(previousYear))}
          </a>
        </p>
      </div>
      <ChartCanvas
        kind="bar"
        labels={labels}
        series={[
          { label: String(year), data: thisYear, color: PALETTE[0] },
          { label: String(year - 1), data: previousYear, color: "#8a949e" },
        ]}
        label={`New partners per ${by}, ${year} against ${year - 1}, bar chart. ${labels
          .map((l, i) => `${l}: ${thisYear[i]} in ${year}, ${previousYear[i]} in ${year - 1}`)
          .join("; ")}.`}
        onPick={open}
      />
      <details>
        <summary>New partners per {by} as a table</summary>
        <table class="figures" id="acquisition-table">
          <caption>
            New partners per {by}, {year} and {year - 1}
          </caption>
          <thead>
            <tr>
              <th scope="col">{quarterly ? "Quarter" : "Month"}</th>
              <th scope="col" class="num">
                {year}
              </th>
              <th scope="col" class="num">
                {year - 1}
              </th>
            </tr>
          </thead>
          <tbody>
            {periods.map((p, i) => (
              <tr key={p.period}>
                <th scope="row">{labels[i]}</th>
                <td class="num">
                  <a href={listHref(p.thisYear?.list) ?? yearHref(year)}>{num(p.thisYear?.count)}</a>
                </td>
                <td class="num">
                  <a href={listHref(p.previousYear?.list) ?? yearHref(year - 1)}>{num(p.previousYear?.count)}</a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </Widget>
  );
}

// ---------------------------------------------------------------------------

function accountHref(m: AccountMatch): string {
  return m.partner ? href(["partners"], { partner: m.account }) : href(["partners"], { customer: m.account });
}

function AccountSearch() {
  const [text, setText] = useState(route.value.query.get("q") ?? "");
  const [matches, setMatches] = useState<AccountMatch[] | null>(null);
  const [failed, setFailed] = useState<Refusal | null>(null);
  const [loading, setLoading] = useState(false);
  const call = useRef(0);

  const search = (raw: string) => {
    const query = raw.trim();
    const mine = ++call.current;
    if ((route.value.query.get("q") ?? "") !== query) replaceQuery({ q: query || undefined });
    if (!query) {
      setMatches(null);
      setFailed(null);
      setLoading(false);
      return;
    }
    setLoading(true);
    client(DashboardService)
      .searchAccounts({ parent: distributorName(), query, pageSize: 20 })
      .then((r) => {
        if (mine !== call.current) return;
        setMatches(r.matches);
        setFailed(null);
      })
      .catch((e: unknown) => {
        if (mine !== call.current) return;
        setMatches(null);
        setFailed(refusal(e));
      })
      .finally(() => {
        if (mine === call.current) setLoading(false);
      });
  };

  useEffect(() => {
    const timer = setTimeout(() => search(text), 300);
    return () => clearTimeout(timer);
  }, [text]);

  return (
    <Widget field="search_accounts" title="Partner or customer search" wide>
      <form
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          search(text);
        }}
      >
        <label for="account-search">Name of a partner or customer</label>
        <div class="search-row">
          <input
            id="account-search"
            type="search"
            maxLength={200}
            autoComplete="off"
            value={text}
            onInput={(e) => setText(e.currentTarget.value)}
            aria-describedby="account-search-state"
          />
          <button type="submit">Search</button>
        </div>
      </form>
      <p id="account-search-state" class="muted" aria-live="polite">
        {loading
          ? "Searching…"
          : matches === null
            ? "Names that start with the text come first."
            : `${matches.length} ${matches.length === 1 ? "match" : "matches"}`}
      </p>
      <Refused refusal={failed} />
      {matches && matches.length > 0 && (
        <ul id="account-search-results" aria-label="Matching accounts">
          {matches.map((m) => (
            <li key={m.account} data-account={m.account}>
              <a href={accountHref(m)}>{m.displayName || m.organization}</a>{" "}
              <span class={m.partner ? "chip synced" : "chip pending"}>{m.partner ? "Partner" : "Customer"}</span>
            </li>
          ))}
        </ul>
      )}
    </Widget>
  );
}

// ---------------------------------------------------------------------------

function SubView({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <div class="distributor-dashboard">
      <p>
        <a href={href(["dashboard"])}>← Dashboard</a>
      </p>
      <h1>{title}</h1>
      {children}
    </div>
  );
}

function ChargeableDrops({ product }: { product: string }) {
  const { value, failed, loading } = useLoad(product, () =>
    client(DashboardService).listChargeableDrops({ parent: distributorName(), product }),
  );
  const drops: ChargeableDrop[] = value?.drops ?? [];
  return (
    <SubView title={`Partners with decrease in chargeable units: ${product}`}>
      <Refused refusal={failed} />
      <TableWrap label="Chargeable drops table">
        <table id="chargeable-drops">
          <caption>
            Partners whose chargeable units of <code>{product}</code> fell from the month before last to last month
            beyond the threshold
          </caption>
          <thead>
            <tr>
              <th scope="col">Partner</th>
              <th scope="col">Month before last</th>
              <th scope="col" class="num">
                Chargeable units
              </th>
              <th scope="col">Last month</th>
              <th scope="col" class="num">
                Chargeable units
              </th>
              <th scope="col" class="num">
                Drop
              </th>
              <th scope="col">Usage reports</th>
            </tr>
          </thead>
          <tbody>
            <EmptyRow list={{ loading, refusal: failed, rows: drops }} columns={7} empty="No partner." />
            {drops.map((drop) => (
              <tr key={drop.partner} data-partner={drop.partner}>
                <td>
                  <a href={href(["partners"], { partner: drop.partner })}>
                    <OrgName org={organizationOf(drop.partner)} />
                  </a>
                </td>
                <td>{drop.previousMonth}</td>
                <td class="num">{num(drop.previousChargeableUnits)}</td>
                <td>{drop.month}</td>
                <td class="num">{num(drop.chargeableUnits)}</td>
                <td class="num">{num(drop.dropPercent)} %</td>
                <td>
                  <a href={href(["reports"], { partner: drop.partner, product })}>Usage reports</a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
    </SubView>
  );
}

function InactiveNewPartners() {
  const { value, failed, loading } = useLoad("inactive", () =>
    client(DashboardService).listInactiveNewPartners({ parent: distributorName() }),
  );
  const partners: Partner[] = value?.partners ?? [];
  return (
    <SubView title="Inactive new partners">
      <p class="muted">Active partners acquired in the last 90 days without a full license sale since.</p>
      <Refused refusal={failed} />
      <TableWrap label="Inactive new partners table">
        <table id="inactive-new-partners">
          <caption>Inactive new partners</caption>
          <thead>
            <tr>
              <th scope="col">Partner</th>
              <th scope="col">Type</th>
              <th scope="col">Status</th>
              <th scope="col">Acquired</th>
              <th scope="col">Region</th>
            </tr>
          </thead>
          <tbody>
            <EmptyRow list={{ loading, refusal: failed, rows: partners }} columns={5} empty="No partner." />
            {partners.map((p) => (
              <tr key={p.name} data-partner={p.name}>
                <td>
                  <a href={href(["partners"], { partner: p.name })}>
                    <OrgName org={p.organization || organizationOf(p.name)} />
                  </a>
                </td>
                <td>{partnerTypeWords(p.type)}</td>
                <td>
                  <StatusChip e={PartnerStatus} value={p.status} />
                </td>
                <td>{p.acquisitionDate}</td>
                <td>{p.region || "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
    </SubView>
  );
}
