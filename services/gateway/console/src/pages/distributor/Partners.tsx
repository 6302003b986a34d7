// Partners (`#/partners`): the distributor's partner accounts, their
// customers' billing accounts and the service plans, each a paged list
// whose filters and place live in the route query:
//   partners:  status (ACTIVE,SUSPENDED,…), type, region, acquired_from,
//              acquired_to, order ("acquisition_date desc"), page
//   customers: partner (a partner's name; unset: every partner), enabled,
//              license_status, cpage
//   plans:     plans_enabled, ppage
// `partner=` also shows that partner's account; `customer=` a customer
// account with its product licenses (lpage).
import { useEffect, useState } from "preact/hooks";
import { client, refusal, type Refusal } from "../../api";
import {
  PartnersService,
  PartnerStatus,
  PartnerType,
  type CustomerAccount,
  type Partner,
} from "../../gen/estate/billing/v1/partners_pb";
import { ProductLicensesService, ProductLicenseStatus } from "../../gen/estate/billing/v1/product_licenses_pb";
import { LicenseType, ServicePlansService, type ServicePlan } from "../../gen/estate/billing/v1/service_plans_pb";
import { href, replaceQuery, route } from "../../router";
import { idOf } from "../../session";
import { date, dateTime } from "../../ui/format";
import { Refused } from "../../ui/Refused";
import {
  allPartners,
  basisPoints,
  chipClass,
  ConfirmDialog,
  DialogForm,
  displayName,
  distributorName,
  EmptyRow,
  enumListParam,
  enumName,
  enumValues,
  enumWords,
  Modal,
  money,
  organizationOf,
  OrgName,
  Outcome,
  Pager,
  parseEnum,
  parseEnumList,
  partnerOf,
  partnerTypeWords,
  SectionNav,
  StatusChip,
  TableWrap,
  useLoad,
  useOutcome,
  usePaged,
  type Confirmation,
  type Feedback as PageFeedback,
} from "./common";
import "./distributor.css";

const PAGE_SIZE = 50;

interface Feedback extends PageFeedback {
  edit: (p: Partner) => void;
}

export function Partners() {
  const q = route.value.query;
  const [ask, setAsk] = useState<Confirmation | null>(null);
  const outcome = useOutcome();
  // The partner an action last changed, for every view of it.
  const [updated, setUpdated] = useState<Partner | null>(null);
  const [editing, setEditing] = useState<Partner | null>(null);
  const feedback: Feedback = { ask: setAsk, edit: setEditing, say: outcome.say, fail: outcome.fail };
  const selectedPartner = q.get("partner") ?? "";
  const selectedCustomer = q.get("customer") ?? "";

  return (
    <div class="distributor-partners">
      <h1>Partners and customers</h1>
      <SectionNav
        sections={[
          { id: "partners-section", label: "Partners" },
          { id: "customers-section", label: "Customer accounts" },
          { id: "plans-section", label: "Service plans" },
        ]}
      />
      <Outcome text={outcome.said} failed={outcome.failed} />
      {selectedCustomer && <CustomerDetail name={selectedCustomer} feedback={feedback} />}
      {selectedPartner && (
        <PartnerDetail name={selectedPartner} feedback={feedback} updated={updated} onChanged={setUpdated} />
      )}
      <PartnersList feedback={feedback} updated={updated} onChanged={setUpdated} />
      <CustomersList feedback={feedback} partner={selectedPartner} />
      <PlansList feedback={feedback} />
      <ConfirmDialog ask={ask} onClose={() => setAsk(null)} />
      <EditPartnerDialog
        partner={editing}
        onClose={() => setEditing(null)}
        onSaved={(u) => {
          setUpdated(u);
          feedback.say("Partner saved.");
        }}
      />
    </div>
  );
}

// ---------------------------------------------------------------------------
// Partner workflow.

function PartnerActions({
  partner,
  feedback,
  onDone,
}: {
  partner: Partner;
  feedback: Feedback;
  onDone: (p: Partner) => void;
}) {
  const who = () => displayName(organizationOf(partner.name)) ?? idOf(partner.name);
  const step = (
    verb: string,
    title: string,
    body: string,
    danger: boolean,
    call: () => Promise<Partner>,
  ) =>
    feedback.ask({
      title,
      body,
      confirmLabel: verb,
      danger,
      run: async () => {
        const updated = await call();
        onDone(updated);
        feedback.say(`Partner ${who()} is now ${enumWords(PartnerStatus, updated.status).toLowerCase()}.`);
      },
    });
  const name = partner.name;
  const etag = partner.etag;
  const active = partner.status === PartnerStatus.ACTIVE;
  const suspended = partner.status === PartnerStatus.SUSPENDED;
  return (
    <>
      {active && (
        <button type="button" class="secondary edit" onClick={() => feedback.edit(partner)}>
          Edit
        </button>
      )}
      {active && (
        <button
          type="button"
          class="secondary suspend"
          onClick={() =>
            step(
              "Suspend",
              "Suspend partner?",
              "A suspended partner is read-only; an MSP may still report usage. You can reactivate it later.",
              false,
              () => client(PartnersService).suspendPartner({ name, etag }),
            )
          }
        >
          Suspend
        </button>
      )}
      {suspended && (
        <button
          type="button"
          class="secondary reactivate"
          onClick={() =>
            step("Reactivate", "Reactivate partner?", "The partner becomes active again.", false, () =>
              client(PartnersService).reactivatePartner({ name, etag }),
            )
          }
        >
          Reactivate
        </button>
      )}
      {(active || suspended) && (
        <button
          type="button"
          class="secondary cancel"
          onClick={() =>
            step(
              "Cancel partner",
              "Cancel partner for good?",
              "Canceling is final: the partner's access is revoked and nothing of it can be changed any more.",
              true,
              () => client(PartnersService).cancelPartner({ name, etag }),
            )
          }
        >
          Cancel partner
        </button>
      )}
    </>
  );
}

function EditPartnerDialog({
  partner,
  onClose,
  onSaved,
}: {
  partner: Partner | null;
  onClose: () => void;
  onSaved: (p: Partner) => void;
}) {
  return (
    <Modal id="partner-edit-dialog" open={!!partner} title="Edit partner" onClose={onClose}>
      {partner && <EditPartnerForm partner={partner} onClose={onClose} onSaved={onSaved} />}
    </Modal>
  );
}

function EditPartnerForm({
  partner,
  onClose,
  onSaved,
}: {
  partner: Partner;
  onClose: () => void;
  onSaved: (p: Partner) => void;
}) {
  const [region, setRegion] = useState(partner.region);
  const [acquired, setAcquired] = useState(partner.acquisitionDate);
  const [margin, setMargin] = useState(String(partner.channelMarginBasisPoints / 100));
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState<Refusal | null>(null);
  const [marginError, setMarginError] = useState("");

  const save = async () => {
    const pct = Number(margin.replace(",", "."));
    if (!Number.isFinite(pct) || pct < 0 || pct > 100) {
      setMarginError("Enter a percentage from 0 to 100.");
      return;
    }
    setMarginError("");
    const bp = Math.round(pct * 100);
    const paths: string[] = [];
    if (region !== partner.region) paths.push("region");
    if (acquired !== partner.acquisitionDate) paths.push("acquisition_date");
    if (bp !== partner.channelMarginBasisPoints) paths.push("channel_margin_basis_points");
    if (!paths.length) {
      onClose();
      return;
    }
    setBusy(true);
    try {
      const updated = await client(PartnersService).updatePartner({
        partner: { name: partner.name, region, acquisitionDate: acquired, channelMarginBasisPoints: bp },
        updateMask: { paths },
        etag: partner.etag,
      });
      onSaved(updated);
      onClose();
    } catch (e) {
      setFailed(refusal(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <DialogForm
      submitId="save-partner"
      submitLabel="Save"
      busyLabel="Saving…"
      busy={busy}
      failed={failed}
      onSubmit={save}
      onClose={onClose}
    >
      <p class="muted">
        <OrgName org={organizationOf(partner.name)} />
      </p>
      <label for="partner-region">Region</label>
      <input id="partner-region" maxLength={64} required value={region} onInput={(e) => setRegion(e.currentTarget.value)} />
      <label for="partner-acquired">Acquisition date</label>
      <input
        id="partner-acquired"
        type="date"
        required
        value={acquired}
        onInput={(e) => setAcquired(e.currentTarget.value)}
      />
      <label for="partner-margin">Channel margin (%) of new billing reports</label>
      <input
        id="partner-margin"
        type="number"
        min={0}
        max={100}
        step={0.01}
        value={margin}
        aria-invalid={!!marginError}
        aria-describedby="partner-margin-error"
        onInput={(e) => setMargin(e.currentTarget.value)}
      />
      <span id="partner-margin-error" class="field-error">
        {marginError}
      </span>
    </DialogForm>
  );
}

function PartnerDetail({
  name,
  feedback,
  updated,
  onChanged,
}: {
  name: string;
  feedback: Feedback;
  updated: Partner | null;
  onChanged: (p: Partner) => void;
}) {
  const loaded = useLoad(name, () => client(PartnersService).getPartner({ name }));
  useEffect(() => {
    if (updated?.name === name) loaded.setValue(updated);
  }, [updated]);
  const p = loaded.value;
  const done = (changed: Partner) => {
    loaded.setValue(changed);
    onChanged(changed);
  };
  return (
    <section class="detail-card" id="partner-detail" aria-labelledby="partner-detail-title" data-partner={name}>
      <h2 id="partner-detail-title">
        Partner: <OrgName org={organizationOf(name)} />
      </h2>
      <Refused refusal={loaded.failed} />
      {loaded.loading && !p && <p class="muted">Loading…</p>}
      {p && (
        <>
          <dl>
            <dt>Status</dt>
            <dd data-col="status">
              <StatusChip e={PartnerStatus} value={p.status} /> <span class="muted">since {dateTime(p.statusTime)}</span>
            </dd>
            <dt>Type</dt>
            <dd>{partnerTypeWords(p.type)}</dd>
            <dt>Acquired</dt>
            <dd>{p.acquisitionDate}</dd>
            <dt>Region</dt>
            <dd>{p.region || "–"}</dd>
            <dt>Channel margin</dt>
            <dd>{basisPoints(p.channelMarginBasisPoints)}</dd>
            <dt>Account opened</dt>
            <dd>{date(p.createTime)}</dd>
            <dt>Organization id</dt>
            <dd>
              <code>{idOf(p.organization || name)}</code>
            </dd>
          </dl>
          <div class="dialog-actions">
            <PartnerActions partner={p} feedback={feedback} onDone={done} />
            <a href={href(["reports"], { partner: name })}>Usage reports</a>
          </div>
        </>
      )}
      <p>
        <button type="button" class="link" onClick={() => replaceQuery({ partner: undefined, cpage: undefined })}>
          Close and show every partner's customers
        </button>
      </p>
    </section>
  );
}

// ---------------------------------------------------------------------------

const SORTABLE: { column: string; label: string }[] = [
  { column: "type", label: "Type" },
  { column: "status", label: "Status" },
  { column: "acquisition_date", label: "Acquired" },
  { column: "region", label: "Region" },
];

function PartnersList({
  feedback,
  updated,
  onChanged,
}: {
  feedback: Feedback;
  updated: Partner | null;
  onChanged: (p: Partner) => void;
}) {
  const q = route.value.query;
  const statuses = parseEnumList(PartnerStatus, "PARTNER_STATUS_", q.get("status"));
  const type = parseEnum(PartnerType, "PARTNER_TYPE_", q.get("type"));
  const region = q.get("region") ?? "";
  const from = q.get("acquired_from") ?? "";
  const to = q.get("acquired_to") ?? "";
  const order = q.get("order") ?? "";
  const [orderColumn, orderDir] = order ? order.split(/\s+/) : ["acquisition_date", "asc"];
  const token = q.get("page") ?? "";
  const filter = { statuses, type: type ?? 0, region, from, to, order };

  const list = usePaged<Partner>(JSON.stringify(filter), token, "page", async (pageToken) => {
    const r = await client(PartnersService).listPartners({
      parent: distributorName(),
      pageSize: PAGE_SIZE,
      pageToken,
      statuses,
      type: type ?? PartnerType.UNSPECIFIED,
      region,
      acquiredOnOrAfter: from,
      acquiredOnOrBefore: to,
      orderBy: order,
    });
    return { rows: r.partners, next: r.nextPageToken };
  });

  const set = (changes: Record<string, string | undefined>) => replaceQuery({ ...changes, page: undefined });
  const toggleStatus = (value: number, on: boolean) => {
    const next = on ? [...statuses, value] : statuses.filter((s) => s !== value);
    set({ status: enumListParam(PartnerStatus, enumValues(PartnerStatus).filter((s) => next.includes(s))) });
  };
  const sortBy = (column: string) => {
    const dir = orderColumn === column && (orderDir ?? "asc") === "asc" ? "desc" : "asc";
    set({ order: column === "acquisition_date" && dir === "asc" ? undefined : `${column} ${dir}` });
  };
  useEffect(() => {
    if (updated) list.replace((r) => r.name === updated.name, updated);
  }, [updated]);
  const done = (p: Partner) => {
    list.replace((r) => r.name === p.name, p);
    onChanged(p);
  };
  const filtered = !!(statuses.length || type || region || from || to);

  return (
    <section class="list-section" id="partners-section" aria-labelledby="partners-title">
      <h2 id="partners-title" tabIndex={-1}>
        Partners
      </h2>
      <form class="toolbar" onSubmit={(e) => e.preventDefault()} aria-label="Filter partners">
        <fieldset class="segmented">
          <legend>Status</legend>
          {enumValues(PartnerStatus).map((s) => (
            <label key={s}>
              <input
                type="checkbox"
                name="partner-status"
                value={enumName(PartnerStatus, s)}
                checked={statuses.includes(s)}
                onChange={(e) => toggleStatus(s, e.currentTarget.checked)}
              />{" "}
              {enumWords(PartnerStatus, s)}
            </label>
          ))}
        </fieldset>
        <div class="field">
          <label for="partner-type">Type</label>
          <select
            id="partner-type"
            value={type ? enumName(PartnerType, type) : ""}
            onChange={(e) => set({ type: e.currentTarget.value || undefined })}
          >
            <option value="">Any</option>
            <option value="MSP">MSP</option>
            <option value="RESELLER">Reseller</option>
          </select>
        </div>
        <div class="field">
          <label for="partner-region-filter">Region</label>
          <input
            id="partner-region-filter"
            value={region}
            maxLength={64}
            onChange={(e) => set({ region: e.currentTarget.value.trim() || undefined })}
          />
        </div>
        <div class="field">
          <label for="partner-acquired-from">Acquired from</label>
          <input
            id="partner-acquired-from"
            type="date"
            value={from}
            onChange={(e) => set({ acquired_from: e.currentTarget.value || undefined })}
          />
        </div>
        <div class="field">
          <label for="partner-acquired-to">Acquired to</label>
          <input
            id="partner-acquired-to"
            type="date"
            value={to}
            onChange={(e) => set({ acquired_to: e.currentTarget.value || undefined })}
          />
        </div>
        {filtered && (
          <button
            type="button"
            class="secondary"
            onClick={() =>
              set({ status: undefined, type: undefined, region: undefined, acquired_from: undefined, acquired_to: undefined })
            }
          >
            Clear filters
          </button>
        )}
      </form>
      <Refused refusal={list.refusal} />
      <TableWrap label="Partners table">
        <table id="partners" aria-busy={list.loading}>
          <caption class="muted">Partner accounts{filtered ? " (filtered)" : ""}</caption>
          <thead>
            <tr>
              <th scope="col">Partner</th>
              {SORTABLE.map(({ column, label }) => {
                const sorted = orderColumn === column;
                const dir = (orderDir ?? "asc") === "desc" ? "descending" : "ascending";
                return (
                  <th key={column} scope="col" aria-sort={sorted ? dir : "none"}>
                    <button type="button" class="sort" onClick={() => sortBy(column)}>
                      {label}
                      {sorted ? (dir === "ascending" ? " ▲" : " ▼") : ""}
                    </button>
                  </th>
                );
              })}
              <th scope="col" class="num">
                Channel margin
              </th>
              <th scope="col">Status since</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            <EmptyRow list={list} columns={8} empty="No partner matches." />
            {list.rows.map((p) => (
              <tr key={p.name} data-partner={p.name}>
                <td>
                  <a href={href(["partners"], { ...Object.fromEntries(q), partner: p.name, cpage: undefined })}>
                    <OrgName org={p.organization || organizationOf(p.name)} />
                  </a>
                </td>
                <td>{partnerTypeWords(p.type)}</td>
                <td data-col="status">
                  <StatusChip e={PartnerStatus} value={p.status} />
                </td>
                <td>{p.acquisitionDate}</td>
                <td>{p.region || "–"}</td>
                <td class="num">{basisPoints(p.channelMarginBasisPoints)}</td>
                <td>{date(p.statusTime)}</td>
                <td class="actions">
                  <PartnerActions partner={p} feedback={feedback} onDone={done} />
                  <a href={href(["reports"], { partner: p.name })}>Reports</a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
      <Pager list={list} label="Partners" />
    </section>
  );
}

// ---------------------------------------------------------------------------

function enabledParam(raw: string | null): boolean | undefined {
  return raw === "true" ? true : raw === "false" ? false : undefined;
}

function EnabledChip({ enabled }: { enabled: boolean }) {
  return <span class={chipClass(enabled ? "ENABLED" : "DISABLED")}>{enabled ? "Enabled" : "Disabled"}</span>;
}

function setCustomerEnabled(account: CustomerAccount, enabled: boolean, feedback: Feedback, onDone: (c: CustomerAccount) => void) {
  const run = async () => {
    const updated = await client(PartnersService).setCustomerAccountEnabled({
      name: account.name,
      enabled,
      etag: account.etag,
    });
    onDone(updated);
    feedback.say(`Customer account ${updated.enabled ? "enabled" : "disabled"}.`);
  };
  if (enabled) {
    run().catch((e: unknown) => feedback.fail(refusal(e)));
    return;
  }
  feedback.ask({
    title: "Disable customer account?",
    body: "The customer's billing account is disabled: no new licenses can be sold to it until it is enabled again.",
    confirmLabel: "Disable",
    danger: true,
    run,
  });
}

function CustomerToggle({
  account,
  feedback,
  onDone,
}: {
  account: CustomerAccount;
  feedback: Feedback;
  onDone: (c: CustomerAccount) => void;
}) {
  return account.enabled ? (
    <button type="button" class="secondary disable" onClick={() => setCustomerEnabled(account, false, feedback, onDone)}>
      Disable
    </button>
  ) : (
    <button type="button" class="secondary enable" onClick={() => setCustomerEnabled(account, true, feedback, onDone)}>
      Enable
    </button>
  );
}

function CustomersList({ feedback, partner }: { feedback: Feedback; partner: string }) {
  const q = route.value.query;
  const enabled = enabledParam(q.get("enabled"));
  const licenseStatus = parseEnum(ProductLicenseStatus, "PRODUCT_LICENSE_STATUS_", q.get("license_status"));
  const token = q.get("cpage") ?? "";
  const parent = partner || allPartners();
  const filter = { parent, enabled, licenseStatus };
  const list = usePaged<CustomerAccount>(JSON.stringify(filter), token, "cpage", async (pageToken) => {
    const r = await client(PartnersService).listCustomerAccounts({
      parent,
      pageSize: PAGE_SIZE,
      pageToken,
      enabled,
      licenseStatus: licenseStatus ?? ProductLicenseStatus.UNSPECIFIED,
    });
    return { rows: r.customers, next: r.nextPageToken };
  });
  const set = (changes: Record<string, string | undefined>) => replaceQuery({ ...changes, cpage: undefined });
  const done = (c: CustomerAccount) => list.replace((r) => r.name === c.name, c);

  return (
    <section class="list-section" id="customers-section" aria-labelledby="customers-title">
      <h2 id="customers-title" tabIndex={-1}>
        Customer accounts
      </h2>
      <div class="toolbar">
        <p class="filter-note">
          {partner ? (
            <>
              Customers of <OrgName org={organizationOf(partner)} />
              <button type="button" class="link" onClick={() => set({ partner: undefined })}>
                Show every partner's
              </button>
            </>
          ) : (
            "Customers of every partner"
          )}
        </p>
        <div class="field">
          <label for="customer-enabled">Account</label>
          <select
            id="customer-enabled"
            value={enabled === undefined ? "" : String(enabled)}
            onChange={(e) => set({ enabled: e.currentTarget.value || undefined })}
          >
            <option value="">Enabled or disabled</option>
            <option value="true">Enabled</option>
            <option value="false">Disabled</option>
          </select>
        </div>
        <div class="field">
          <label for="customer-license-status">With a license that is</label>
          <select
            id="customer-license-status"
            value={licenseStatus ? enumName(ProductLicenseStatus, licenseStatus) : ""}
            onChange={(e) => set({ license_status: e.currentTarget.value || undefined })}
          >
            <option value="">Any status</option>
            {enumValues(ProductLicenseStatus).map((s) => (
              <option key={s} value={enumName(ProductLicenseStatus, s)}>
                {enumWords(ProductLicenseStatus, s)}
              </option>
            ))}
          </select>
        </div>
      </div>
      <Refused refusal={list.refusal} />
      <TableWrap label="Customer accounts table">
        <table id="customer-accounts" aria-busy={list.loading}>
          <caption class="muted">Customer billing accounts, oldest first</caption>
          <thead>
            <tr>
              <th scope="col">Customer</th>
              <th scope="col">Partner</th>
              <th scope="col">Account</th>
              <th scope="col">Opened</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            <EmptyRow list={list} columns={5} empty="No customer account matches." />
            {list.rows.map((c) => (
              <tr key={c.name} data-customer={c.name}>
                <td>
                  <a href={href(["partners"], { ...Object.fromEntries(q), customer: c.name, lpage: undefined })}>
                    <OrgName org={c.organization || organizationOf(c.name)} />
                  </a>
                </td>
                <td>
                  <OrgName org={organizationOf(partnerOf(c.name))} />
                </td>
                <td data-col="status">
                  <EnabledChip enabled={c.enabled} />
                </td>
                <td>{date(c.createTime)}</td>
                <td class="actions">
                  <CustomerToggle account={c} feedback={feedback} onDone={done} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
      <Pager list={list} label="Customer accounts" />
    </section>
  );
}

function CustomerDetail({ name, feedback }: { name: string; feedback: Feedback }) {
  const loaded = useLoad(name, () => client(PartnersService).getCustomerAccount({ name }));
  const token = route.value.query.get("lpage") ?? "";
  const licenses = usePaged(name, token, "lpage", async (pageToken) => {
    const r = await client(ProductLicensesService).listProductLicenses({
      parent: name,
      pageSize: PAGE_SIZE,
      pageToken,
    });
    return { rows: r.productLicenses, next: r.nextPageToken };
  });
  const c = loaded.value;
  return (
    <section class="detail-card" id="customer-detail" aria-labelledby="customer-detail-title" data-customer={name}>
      <h2 id="customer-detail-title">
        Customer: <OrgName org={organizationOf(name)} />
      </h2>
      <Refused refusal={loaded.failed} />
      {c && (
        <>
          <dl>
            <dt>Partner</dt>
            <dd>
              <a href={href(["partners"], { partner: partnerOf(name) })}>
                <OrgName org={organizationOf(partnerOf(name))} />
              </a>
            </dd>
            <dt>Account</dt>
            <dd data-col="status">
              <EnabledChip enabled={c.enabled} />
            </dd>
            <dt>Opened</dt>
            <dd>{date(c.createTime)}</dd>
          </dl>
          <div class="dialog-actions">
            <CustomerToggle account={c} feedback={feedback} onDone={loaded.setValue} />
          </div>
        </>
      )}
      <h3>Product licenses</h3>
      <Refused refusal={licenses.refusal} />
      <TableWrap label="Product licenses table">
        <table id="product-licenses" aria-busy={licenses.loading}>
          <caption class="muted">The customer's licenses, oldest first</caption>
          <thead>
            <tr>
              <th scope="col">Product</th>
              <th scope="col">Type</th>
              <th scope="col" class="num">
                Seats
              </th>
              <th scope="col">Start</th>
              <th scope="col">End</th>
              <th scope="col">Auto-renewal</th>
              <th scope="col">Status</th>
              <th scope="col">Service plan</th>
            </tr>
          </thead>
          <tbody>
            <EmptyRow list={licenses} columns={8} empty="No product license." />
            {licenses.rows.map((l) => (
              <tr key={l.name} data-license={l.name}>
                <td>
                  <code>{l.product}</code>
                </td>
                <td>{enumWords(LicenseType, l.licenseType)}</td>
                <td class="num">{l.seats.toLocaleString()}</td>
                <td>{l.startDate}</td>
                <td>{l.endDate || "–"}</td>
                <td>{l.autoRenewal ? "Yes" : "No"}</td>
                <td data-col="status">
                  <StatusChip e={ProductLicenseStatus} value={l.status} />
                </td>
                <td>
                  <code class="id">{idOf(l.servicePlan)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
      <Pager list={licenses} label="Product licenses" />
      <p>
        <button type="button" class="link" onClick={() => replaceQuery({ customer: undefined, lpage: undefined })}>
          Close customer
        </button>
      </p>
    </section>
  );
}

// ---------------------------------------------------------------------------

function today(): string {
  return new Date().toISOString().slice(0, 10);
}

function PriceCell({ plan }: { plan: ServicePlan }) {
  const now = today();
  const current = [...plan.prices].reverse().find((p) => p.effectiveFrom <= now);
  const upcoming = plan.prices.find((p) => p.effectiveFrom > now);
  return (
    <>
      {current ? `${money(current.unitPrice)} per ${plan.unitType || "unit"}` : "No price"}
      {upcoming && (
        <span class="muted">
          {" "}
          (from {upcoming.effectiveFrom}: {money(upcoming.unitPrice)})
        </span>
      )}
    </>
  );
}

function PlanStatus({ plan }: { plan: ServicePlan }) {
  if (plan.endOfSaleTime) return <span class={chipClass("CANCELED")}>End of sale {date(plan.endOfSaleTime)}</span>;
  return <EnabledChip enabled={plan.enabled} />;
}

function PlansList({ feedback }: { feedback: Feedback }) {
  const q = route.value.query;
  const enabled = enabledParam(q.get("plans_enabled"));
  const token = q.get("ppage") ?? "";
  const list = usePaged<ServicePlan>(JSON.stringify({ enabled }), token, "ppage", async (pageToken) => {
    const r = await client(ServicePlansService).listServicePlans({
      parent: distributorName(),
      pageSize: PAGE_SIZE,
      pageToken,
      enabled,
    });
    return { rows: r.servicePlans, next: r.nextPageToken };
  });
  const done = (p: ServicePlan) => list.replace((r) => r.name === p.name, p);

  const setEnabled = (plan: ServicePlan, on: boolean) => {
    const run = async () => {
      const updated = await client(ServicePlansService).updateServicePlan({
        servicePlan: { name: plan.name, enabled: on },
        updateMask: { paths: ["enabled"] },
        etag: plan.etag,
      });
      done(updated);
      feedback.say(`Service plan ${updated.displayName} ${updated.enabled ? "enabled" : "disabled"}.`);
    };
    if (on) {
      run().catch((e: unknown) => feedback.fail(refusal(e)));
      return;
    }
    feedback.ask({
      title: `Disable ${plan.displayName}?`,
      body: "A disabled plan takes no new licenses; customers already licensed on it stay as they are.",
      confirmLabel: "Disable",
      run,
    });
  };
  const endSale = (plan: ServicePlan) =>
    feedback.ask({
      title: `End the sale of ${plan.displayName}?`,
      body: "Ending the sale is final: the plan becomes read-only and takes no new licenses. Existing licenses run on.",
      confirmLabel: "End sale",
      danger: true,
      run: async () => {
        const updated = await client(ServicePlansService).endServicePlanSale({ name: plan.name, etag: plan.etag });
        done(updated);
        feedback.say(`The sale of ${updated.displayName} has ended.`);
      },
    });

  return (
    <section class="list-section" id="plans-section" aria-labelledby="plans-title">
      <h2 id="plans-title" tabIndex={-1}>
        Service plans
      </h2>
      <div class="toolbar">
        <div class="field">
          <label for="plans-enabled">Plans</label>
          <select
            id="plans-enabled"
            value={enabled === undefined ? "" : String(enabled)}
            onChange={(e) => replaceQuery({ plans_enabled: e.currentTarget.value || undefined, ppage: undefined })}
          >
            <option value="">Enabled or disabled</option>
            <option value="true">Enabled</option>
            <option value="false">Disabled</option>
          </select>
        </div>
      </div>
      <Refused refusal={list.refusal} />
      <TableWrap label="Service plans table">
        <table id="service-plans" aria-busy={list.loading}>
          <caption class="muted">Service plans, oldest first</caption>
          <thead>
            <tr>
              <th scope="col">Plan</th>
              <th scope="col">Product</th>
              <th scope="col">License</th>
              <th scope="col">Unit</th>
              <th scope="col" class="num">
                Initial period
              </th>
              <th scope="col">Auto-renewal</th>
              <th scope="col" class="num">
                Notify before expiry
              </th>
              <th scope="col">Price now</th>
              <th scope="col">Status</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            <EmptyRow list={list} columns={10} empty="No service plan matches." />
            {list.rows.map((p) => (
              <tr key={p.name} data-plan={p.name}>
                <td>{p.displayName}</td>
                <td>
                  <code>{p.product}</code>
                </td>
                <td>{enumWords(LicenseType, p.licenseType)}</td>
                <td>{p.unitType || "–"}</td>
                <td class="num">{p.initialPeriodMonths} months</td>
                <td>{p.autoRenewal ? "Yes" : "No"}</td>
                <td class="num">{p.expirationNotificationDays} days</td>
                <td>
                  <PriceCell plan={p} />
                </td>
                <td data-col="status">
                  <PlanStatus plan={p} />
                </td>
                <td class="actions">
                  {!p.endOfSaleTime &&
                    (p.enabled ? (
                      <button type="button" class="secondary disable-plan" onClick={() => setEnabled(p, false)}>
                        Disable
                      </button>
                    ) : (
                      <button type="button" class="secondary enable-plan" onClick={() => setEnabled(p, true)}>
                        Enable
                      </button>
                    ))}
                  {!p.endOfSaleTime && (
                    <button type="button" class="secondary end-sale" onClick={() => endSale(p)}>
                      End sale
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
      <Pager list={list} label="Service plans" />
    </section>
  );
}
