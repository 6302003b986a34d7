// One license in detail: its data, its assignments (ListAssignments, with
// the latest run's alerts) and the assignments the latest compliance run
// found invalid, with the reasons (ListInvalidAssignments).
import { Fragment } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { client } from "../../api";
import { AssignmentType, LicensesService, Metric, type License } from "../../gen/estate/licensing/v1/licenses_pb";
import { ComplianceService, InvalidReason } from "../../gen/estate/licensing/v1/compliance_pb";
import { dateTime, enumLabel } from "../../ui/format";
import { Refused } from "../../ui/Refused";
import { Label } from "./labels";
import { quantityText } from "./LicenseForm";
import { customerParent, ListStatus, num, Pager, PAGE_SIZE, useLoad, usePaging } from "./shared";

function Consumer({ computer, user }: { computer: string; user: string }) {
  if (computer)
    return (
      <>
        Computer <Label name={computer} />
      </>
    );
  if (user)
    return (
      <>
        User <Label name={user} />
      </>
    );
  return <span class="muted">–</span>;
}

export function reasonText(reason: InvalidReason): string {
  return enumLabel(InvalidReason[reason], "");
}

function price(license: License): string {
  if (!license.price) return "–";
  try {
    const digits =
      new Intl.NumberFormat("en", { style: "currency", currency: license.price.currencyCode }).resolvedOptions()
        .maximumFractionDigits ?? 2;
    return new Intl.NumberFormat(undefined, { style: "currency", currency: license.price.currencyCode }).format(
      Number(license.price.amountMinor) / 10 ** digits,
    );
  } catch {
    return `${license.price.amountMinor} ${license.price.currencyCode} (minor units)`;
  }
}

export function LicenseDetails({ name, version, onClose }: { name: string; version: number; onClose: () => void }) {
  const heading = useRef<HTMLHeadingElement>(null);
  const found = useLoad(() => client(LicensesService).getLicense({ name }), [name, version]);
  // Opened from a row's Details button: move focus to the panel (not on a reload that restores it).
  useEffect(() => {
    if (document.activeElement?.classList.contains("details")) heading.current?.focus();
  }, [name]);
  const license = found.data;
  return (
    <section class="details-panel" id="license-details" aria-labelledby="license-details-title" data-details-for={name}>
      <div class="head">
        <h2 id="license-details-title" tabIndex={-1} ref={heading}>
          License details: {license ? <Label name={license.application || license.family} empty="no application" /> : "…"}
        </h2>
        <button type="button" class="secondary" id="close-details" onClick={onClose}>
          Close details
        </button>
      </div>
      <Refused refusal={found.refused} />
      {found.loading && !license && <p class="muted">Loading the license…</p>}
      {license && (
        <dl>
          <dt>Resource name</dt>
          <dd>
            <code class="resource-id">{license.name}</code>
          </dd>
          <dt>Status</dt>
          <dd>
            <LicenseStatus license={license} />
          </dd>
          <dt>{license.family ? "Family" : "Application"}</dt>
          <dd>
            <Label name={license.application || license.family} empty="not set" />
          </dd>
          <dt>Metric</dt>
          <dd>{license.metric ? enumLabel(Metric[license.metric], "") : "–"}</dd>
          <dt>Assignment type</dt>
          <dd>{license.assignmentType ? enumLabel(AssignmentType[license.assignmentType], "") : "–"}</dd>
          <dt>Quantity</dt>
          <dd>{quantityText(license)}</dd>
          <dt>Assigned / unassigned</dt>
          <dd>
            {num(license.assigned)} / {num(license.unassigned)}
          </dd>
          {license.metric === Metric.PROCESSORS || license.metric === Metric.CORES ? (
            <>
              <dt>Minimum per computer</dt>
              <dd>{license.minimumPerComputer || "none"}</dd>
            </>
          ) : null}
          <dt>Legal owner</dt>
          <dd>
            <Label name={license.legalOwner} empty="not set" />
          </dd>
          <dt>Allocation</dt>
          <dd>
            {license.automaticAllocation ? "Automatic" : "Not automatic"}
            {license.allocations.length > 0 && (
              <ul>
                {license.allocations.map((a) => (
                  <li key={a.node}>
                    <Label name={a.node} />: {num(a.quantity)} (manual)
                  </li>
                ))}
              </ul>
            )}
          </dd>
          <dt>Downgrade rights</dt>
          <dd>{license.downgradeRights ? "Yes" : "No"}</dd>
          <dt>Purchase date</dt>
          <dd>{license.purchaseDate || "–"}</dd>
          <dt>Price</dt>
          <dd>{price(license)}</dd>
          <dt>Vendor</dt>
          <dd>{license.vendor || "–"}</dd>
          <dt>Invoice reference</dt>
          <dd>{license.invoiceReference || "–"}</dd>
          <dt>Agreement</dt>
          <dd>
            <Label name={license.agreement} empty="none" />
          </dd>
          <dt>Subscription</dt>
          <dd>
            {license.subscription ? `${license.subscription.startDate} – ${license.subscription.endDate}` : "–"}
            {license.effectiveSubscription &&
              (license.effectiveSubscription.startDate !== license.subscription?.startDate ||
                license.effectiveSubscription.endDate !== license.subscription?.endDate) && (
                <>
                  {" "}
                  (counts: {license.effectiveSubscription.startDate} – {license.effectiveSubscription.endDate}, the
                  agreement's period)
                </>
              )}
          </dd>
          {license.upgradeOf.length > 0 && (
            <>
              <dt>Upgrade of</dt>
              <dd>
                <ul>
                  {license.upgradeOf.map((u) => (
                    <li key={u.base}>
                      <Label name={u.base} />: {num(u.quantity)}
                    </li>
                  ))}
                </ul>
              </dd>
            </>
          )}
          {Object.entries(license.customFields).map(([key, value]) => (
            <Fragment key={key}>
              <dt>{key}</dt>
              <dd>{value || "–"}</dd>
            </Fragment>
          ))}
          <dt>Created / changed</dt>
          <dd>
            {dateTime(license.createTime)} / {dateTime(license.updateTime)}
          </dd>
        </dl>
      )}
      <Assignments license={name} version={version} />
      <InvalidForLicense license={name} version={version} />
    </section>
  );
}

export function LicenseStatus({ license }: { license: License }) {
  return (
    <>
      {license.archived && <span class="chip disabled">Archived{license.archiveTime ? ` ${dateTime(license.archiveTime)}` : ""}</span>}
      {license.incomplete && (
        <span class="chip warning" title="Left out of compliance until completed">
          Incomplete{license.missingFields.length ? `: missing ${license.missingFields.join(", ")}` : ""}
        </span>
      )}
      {!license.archived && !license.incomplete && <span class="chip synced">Active</span>}
    </>
  );
}

function Assignments({ license, version }: { license: string; version: number }) {
  const paging = usePaging("apage");
  const list = useLoad(
    () => client(LicensesService).listAssignments({ parent: license, pageSize: PAGE_SIZE, pageToken: paging.token }),
    [license, paging.token, version],
  );
  const rows = list.data?.assignments ?? [];
  return (
    <>
      <h3 id="assignments-title">Assignments</h3>
      <ListStatus list={list} paging={paging} loading="Loading assignments…" />
      {list.data && rows.length === 0 && !paging.hasPrevious && (
        <p class="muted">No assignments. Organization and site licenses cover through allocation, not assignments.</p>
      )}
      {rows.length > 0 && (
        <div class="table-wrap">
          <table id="assignments" aria-labelledby="assignments-title" aria-busy={list.loading}>
            <thead>
              <tr>
                <th scope="col">Assigned to</th>
                <th scope="col" class="num">
                  Quantity
                </th>
                <th scope="col">Assigned on</th>
                <th scope="col">Latest compliance run</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((a) => (
                <tr key={a.name} data-assignment={a.name} data-invalid={a.alerts.length ? "true" : undefined}>
                  <td>
                    <Consumer computer={a.computer} user={a.user} />
                  </td>
                  <td class="num">{num(a.quantity)}</td>
                  <td>{dateTime(a.createTime)}</td>
                  <td class="reasons">
                    {a.alerts.length === 0 ? (
                      <span class="chip synced">No alert</span>
                    ) : (
                      <>
                        <span class="chip warning">Invalid</span>
                        <ul>
                          {a.alerts.map((alert, i) => (
                            <li key={i}>
                              {reasonText(alert.reason)} ({num(alert.units)} units): {alert.message}
                            </li>
                          ))}
                        </ul>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager paging={paging} nextToken={list.data?.nextPageToken} label="Assignments" idPrefix="assignments-" loading={list.loading} />
    </>
  );
}

function InvalidForLicense({ license, version }: { license: string; version: number }) {
  const paging = usePaging("ipage");
  const list = useLoad(
    () =>
      client(ComplianceService).listInvalidAssignments({
        parent: customerParent(),
        license,
        pageSize: PAGE_SIZE,
        pageToken: paging.token,
      }),
    [license, paging.token, version],
  );
  const rows = list.data?.invalidAssignments ?? [];
  return (
    <>
      <h3 id="license-invalid-title">Invalid assignments (latest compliance run)</h3>
      <ListStatus list={list} paging={paging} />
      {list.data && !list.data.run && <p class="muted">No compliance run has finished yet.</p>}
      {list.data && list.data.run && rows.length === 0 && !paging.hasPrevious && (
        <p class="muted" id="license-invalid-empty">
          The latest compliance run found no invalid assignment of this license.
        </p>
      )}
      {rows.length > 0 && (
        <div class="table-wrap">
          <table id="license-invalid-assignments" aria-labelledby="license-invalid-title">
            <thead>
              <tr>
                <th scope="col">Assigned to</th>
                <th scope="col">Reason</th>
                <th scope="col" class="num">
                  Invalid units
                </th>
                <th scope="col">Why</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={`${r.assignment}-${r.reason}`} data-assignment={r.assignment}>
                  <td>
                    <Consumer computer={r.computer} user={r.user} />
                  </td>
                  <td>{reasonText(r.reason)}</td>
                  <td class="num">{num(r.units)}</td>
                  <td class="message">{r.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager paging={paging} nextToken={list.data?.nextPageToken} label="Invalid assignments" idPrefix="license-invalid-" loading={list.loading} />
    </>
  );
}
