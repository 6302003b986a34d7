// One customer's details (`#/customers/{uuid}`): GetCustomerDetails, for
// authorized partner users while access is effective, and "Sync now"
// (SyncCustomer, then GetSyncRun every second until the run ends).
import { useEffect, useRef, useState } from "preact/hooks";
import { client, refusal, type Refusal } from "../../api";
import {
  CustomerOverviewService,
  type CustomerDetails as Details,
  type CustomerOverview,
} from "../../gen/estate/customers/v1/overview_pb";
import { BeaconStatus, type Beacon } from "../../gen/estate/customers/v1/beacons_pb";
import { RelationshipOwner, type Organization } from "../../gen/estate/customers/v1/organizations_pb";
import { SyncService, SyncState, SyncTrigger, type SyncRun } from "../../gen/estate/customers/v1/sync_pb";
import { href, route } from "../../router";
import { idOf } from "../../session";
import { Refused } from "../../ui/Refused";
import { dateTime, enumLabel } from "../../ui/format";
import {
  HEALTH_CLASSES,
  HEALTH_LABELS,
  STATUS_LABELS,
  SYNC_STATE_LABELS,
  StatusChip,
  Withheld,
  daysSince,
  duration,
  expirationStatus,
  lastSync,
  missingGroup,
  num,
  plural,
  productUsage,
  signed,
  statusReason,
  syncEnded,
  upcomingExpiration,
} from "./figures";
import { queryRecord } from "./query";

const POLL_MS = 1000;

export function CustomerDetails({ partner, customerId }: { partner: string; customerId: string }) {
  const customer = `organizations/${customerId}`;
  const [details, setDetails] = useState<Details | null>(null);
  const [loading, setLoading] = useState(true);
  const [refused, setRefused] = useState<Refusal | null>(null);
  const [reloads, setReloads] = useState(0);

  const [run, setRun] = useState<SyncRun | null>(null);
  const [syncRefused, setSyncRefused] = useState<Refusal | null>(null);
  const [starting, setStarting] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    let cancelled = false;
    setLoading(true);
    client(CustomerOverviewService)
      .getCustomerDetails({ parent: partner, customer })
      .then((d) => {
        if (cancelled) return;
        setDetails(d);
        setRefused(null);
        setLoading(false);
      })
      .catch((error: unknown) => {
        if (cancelled) return;
        setDetails(null);
        setRefused(refusal(error));
        setLoading(false);
      });
    return () => {
      cancelled = true;
    };
  }, [partner, customer, reloads]);

  // Focus the heading when the view first opens, so a screen reader hears where it is.
  useEffect(() => heading.current?.focus(), []);

  // Poll the run every second until it ends, then read the details again.
  useEffect(() => {
    if (!run) return;
    if (syncEnded(run.state)) {
      setReloads((n) => n + 1);
      return;
    }
    let cancelled = false;
    const timer = setTimeout(() => {
      client(SyncService)
        .getSyncRun({ name: run.name })
        .then((next) => {
          if (!cancelled) setRun(next);
        })
        .catch((error: unknown) => {
          if (!cancelled) setSyncRefused(refusal(error));
        });
    }, POLL_MS);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [run]);

  async function syncNow() {
    setStarting(true);
    setSyncRefused(null);
    try {
      setRun(await client(SyncService).syncCustomer({ name: customer }));
    } catch (error) {
      setSyncRefused(refusal(error));
    } finally {
      setStarting(false);
    }
  }

  const back = href(["customers"], queryRecord(route.value.query));
  const overview = details?.overview;
  const organization = details?.organization;
  const title = organization?.displayName || overview?.displayName || "Customer details";
  const syncing = starting || (run !== null && !syncEnded(run.state) && !syncRefused);

  return (
    <section class="customer-details" aria-labelledby="details-heading">
      <p>
        <a href={back} id="back-to-overview">
          ← Customers overview
        </a>
      </p>
      <div class="heading-row">
        <h1 id="details-heading" ref={heading} tabIndex={-1}>
          {title} {overview && <StatusChip row={overview} />}
        </h1>
        <div class="actions">
          <button type="button" id="sync-now" onClick={syncNow} disabled={syncing}>
            {syncing ? "Syncing…" : "Sync now"}
          </button>
        </div>
      </div>

      {run && (
        <p id="sync-progress" role="status" aria-live="polite" data-state={SyncState[run.state]}>
          Sync run {SYNC_STATE_LABELS[run.state]}
          {run.state === SyncState.FAILED && run.error && `: ${run.error}`}
          {run.unavailableSources.length > 0 && ` (unavailable: ${run.unavailableSources.join(", ")})`}
          {!syncEnded(run.state) && <span class="muted"> · checking every second…</span>}
        </p>
      )}
      <Refused refusal={syncRefused} />

      {loading && !details && !refused && (
        <p class="muted" role="status">
          Loading customer details…
        </p>
      )}
      <Refused refusal={refused} />

      {details && (
        <>
          {organization && <OrganizationInfo organization={organization} />}
          {overview && <Figures row={overview} />}
          <Beacons beacons={details.beacons} />
          <SyncRuns runs={details.recentSyncRuns} />
        </>
      )}
    </section>
  );
}

function OrganizationInfo({ organization }: { organization: Organization }) {
  return (
    <section aria-labelledby="organization-heading">
      <h2 id="organization-heading">Organization</h2>
      <dl class="facts" id="organization-info">
        <dt>Name</dt>
        <dd>{organization.displayName}</dd>
        <dt>Organization ID</dt>
        <dd>
          <code>{idOf(organization.name)}</code>
        </dd>
        <dt>External ID</dt>
        <dd>{organization.externalId || "–"}</dd>
        <dt>Description</dt>
        <dd>{organization.description || "–"}</dd>
        <dt>Relationship</dt>
        <dd>
          {organization.relationshipOwner === RelationshipOwner.CUSTOMER
            ? "Owned by the customer (view-only)"
            : organization.relationshipOwner === RelationshipOwner.PARTNER
              ? "Managed customer"
              : "–"}
        </dd>
        <dt>Data region</dt>
        <dd>{organization.dataRegion || "–"}</dd>
        <dt>Created</dt>
        <dd>{dateTime(organization.createTime)}</dd>
        <dt>Updated</dt>
        <dd>{dateTime(organization.updateTime)}</dd>
      </dl>
    </section>
  );
}

function Missing({ row, product }: { row: CustomerOverview; product: string }) {
  return <p class="muted">{missingGroup(row, product)}.</p>;
}

function Figures({ row }: { row: CustomerOverview }) {
  const since = daysSince(row);
  return (
    <section aria-labelledby="figures-heading">
      <h2 id="figures-heading">Overview</h2>
      <dl class="facts" id="overview-figures">
        <dt>Status</dt>
        <dd>
          {STATUS_LABELS[row.status]} <span class="muted">— {statusReason(row)}</span>
        </dd>
        <dt>Beacons</dt>
        <dd>
          {num(row.beaconCount)}
          {row.beaconProblemCount > 0n && ` (${plural(row.beaconProblemCount, "problem", "problems")})`}
        </dd>
        <dt>Upcoming expiration</dt>
        <dd>{row.entitlementsWithheld ? <Withheld /> : upcomingExpiration(row)}</dd>
        <dt>Expiration status</dt>
        <dd>{row.entitlementsWithheld ? <Withheld /> : expirationStatus(row)}</dd>
        <dt>Last successful sync</dt>
        <dd>
          {row.lastSuccessfulSyncTime ? dateTime(row.lastSuccessfulSyncTime) : lastSync(row)}
          {since && <span class="muted"> ({since})</span>}
        </dd>
      </dl>

      <div class="widgets">
        <div class="widget" id="widget-computers">
          <h3>Computers</h3>
          {row.computers ? (
            <>
              <div class="count">{num(row.computers.total)}</div>
              <dl class="figures">
                <dt>Inventoried within 7 days</dt>
                <dd>{num(row.computers.inventoriedWithin7Days)}</dd>
                <dt>Not inventoried for over 7 days</dt>
                <dd>{num(row.computers.notInventoriedForOver7Days)}</dd>
                <dt>Quarantined</dt>
                <dd>{num(row.computers.quarantined)}</dd>
                <dt>Inactive</dt>
                <dd>{num(row.computers.inactive)}</dd>
                <dt>Change in 30 days</dt>
                <dd>{signed(row.computers.totalChange30Days)}</dd>
              </dl>
            </>
          ) : (
            <Missing row={row} product="SAM Core" />
          )}
        </div>
        <div class="widget" id="widget-applications">
          <h3>Applications</h3>
          {row.applications ? (
            <>
              <div class="count">{num(row.applications.total)}</div>
              <dl class="figures">
                <dt>Licensable</dt>
                <dd>{num(row.applications.licensable)}</dd>
                <dt>Denied installed</dt>
                <dd>{num(row.applications.deniedInstalled)}</dd>
              </dl>
            </>
          ) : (
            <Missing row={row} product="SAM Core" />
          )}
        </div>
        <div class="widget" id="widget-saas">
          <h3>SaaS</h3>
          {row.saas ? (
            <>
              <div class="count">{num(row.saas.applications)}</div>
              <dl class="figures">
                <dt>Applications</dt>
                <dd>{num(row.saas.applications)}</dd>
                <dt>Active users (30 days)</dt>
                <dd>{num(row.saas.activeUsers)}</dd>
              </dl>
            </>
          ) : (
            <Missing row={row} product="SaaS Management" />
          )}
        </div>
        <div class="widget" id="widget-compliance">
          <h3>Compliance</h3>
          {row.compliance ? (
            <>
              <div class={`count${row.compliance.compliance < 0n ? " shortfall" : ""}`}>
                {signed(row.compliance.compliance)}
              </div>
              <dl class="figures">
                <dt>Requirement</dt>
                <dd>{num(row.compliance.requirement)}</dd>
                <dt>Coverage</dt>
                <dd>{num(row.compliance.coverage)}</dd>
                <dt>Applications short</dt>
                <dd>{num(row.compliance.applicationsShort)}</dd>
                <dt>Calculated</dt>
                <dd>{dateTime(row.compliance.calculatedTime)}</dd>
              </dl>
            </>
          ) : (
            <Missing row={row} product="SAM Core (or not calculated yet)" />
          )}
        </div>
      </div>

      <h3>Licenses and usage</h3>
      {row.licensesAndUsage ? (
        row.licensesAndUsage.products.length === 0 ? (
          <p class="muted">No products.</p>
        ) : (
          <div class="table-wrap">
            <table id="licenses-and-usage" aria-label="Licenses and usage">
              <thead>
                <tr>
                  <th scope="col">Product</th>
                  <th scope="col" class="num">
                    Quantity purchased
                  </th>
                  <th scope="col" class="num">
                    Highest usage (30 days)
                  </th>
                  <th scope="col" class="num">
                    Utilization
                  </th>
                </tr>
              </thead>
              <tbody>
                {row.licensesAndUsage.products.map((p) => (
                  <tr key={p.product} title={productUsage(p)}>
                    <td>{p.product}</td>
                    <td class="num">{num(p.quantityPurchased)}</td>
                    <td class="num">{num(p.highestUsage30Days)}</td>
                    <td class="num">{p.utilizationPercent === undefined ? "–" : `${num(p.utilizationPercent)} %`}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )
      ) : (
        <Missing row={row} product="licenses and usage" />
      )}
    </section>
  );
}

function Beacons({ beacons }: { beacons: Beacon[] }) {
  return (
    <section aria-labelledby="beacons-heading">
      <h2 id="beacons-heading">Beacons</h2>
      {beacons.length === 0 ? (
        <p class="muted">No beacons registered.</p>
      ) : (
        <>
          <div class="table-wrap">
            <table id="beacons" aria-label="Beacons">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Health</th>
                  <th scope="col">Reported status</th>
                  <th scope="col">Status message</th>
                  <th scope="col">Version</th>
                  <th scope="col">Last contact</th>
                  <th scope="col">Silent after</th>
                  <th scope="col">Registered</th>
                </tr>
              </thead>
              <tbody>
                {beacons.map((b) => (
                  <tr key={b.name} data-beacon={b.name}>
                    <td>{b.displayName}</td>
                    <td>
                      <span class={`chip ${HEALTH_CLASSES[b.health]}`}>{HEALTH_LABELS[b.health]}</span>
                    </td>
                    <td>{enumLabel(BeaconStatus[b.status], "")}</td>
                    <td class="wrap">{b.statusMessage || "–"}</td>
                    <td>{b.version}</td>
                    <td>{dateTime(b.lastContactTime)}</td>
                    <td>{duration(b.silentAfter)}</td>
                    <td>{dateTime(b.createTime)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {beacons.length >= 100 && <p class="muted">Showing the first 100 beacons.</p>}
        </>
      )}
    </section>
  );
}

function SyncRuns({ runs }: { runs: SyncRun[] }) {
  return (
    <section aria-labelledby="sync-runs-heading">
      <h2 id="sync-runs-heading">Recent sync runs</h2>
      {runs.length === 0 ? (
        <p class="muted">No sync has run yet.</p>
      ) : (
        <div class="table-wrap">
          <table id="sync-runs" aria-label="Recent sync runs">
            <thead>
              <tr>
                <th scope="col">State</th>
                <th scope="col">Trigger</th>
                <th scope="col">Queued</th>
                <th scope="col">Started</th>
                <th scope="col">Ended</th>
                <th scope="col">Error</th>
                <th scope="col">Unavailable sources</th>
              </tr>
            </thead>
            <tbody>
              {runs.map((r) => (
                <tr key={r.name} data-run={r.name} data-state={SyncState[r.state]}>
                  <td>{SYNC_STATE_LABELS[r.state]}</td>
                  <td>{r.trigger === SyncTrigger.ON_DEMAND ? "On demand" : r.trigger === SyncTrigger.SCHEDULE ? "Schedule" : "–"}</td>
                  <td>{dateTime(r.createTime)}</td>
                  <td>{dateTime(r.startTime)}</td>
                  <td>{dateTime(r.endTime)}</td>
                  <td class="wrap">{r.error || "–"}</td>
                  <td>{r.unavailableSources.length > 0 ? r.unavailableSources.join(", ") : "–"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
