// Usage and billing reports (`#/reports`). Filters and places live in the
// route query:
//   usage reports:   status (UNDER_REVIEW or a comma list), month (YYYY-MM),
//                    product, partner (a partner's name), page
//   billing reports: billing_status, billing_month, bpage
// Workflow steps appear only where a report's status allows them; the
// server decides, and its refusal is shown as it gives it.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { useEffect, useState } from "preact/hooks";
import { client, refusal } from "../../api";
import {
  BillingReportSchema,
  BillingReportStatus,
  ReportsService,
  UsageReportStatus,
  type BillingReport,
  type UsageReportSummary,
} from "../../gen/estate/billing/v1/reports_pb";
import { href, replaceQuery, route } from "../../router";
import { idOf } from "../../session";
import { dateTime } from "../../ui/format";
import { Refused } from "../../ui/Refused";
import {
  allPartners,
  basisPoints,
  ConfirmDialog,
  DialogForm,
  displayName,
  distributorName,
  EmptyRow,
  EnumListSelect,
  enumName,
  enumWords,
  ExportButton,
  ExportNote,
  minorDigits,
  Modal,
  money,
  moneyDecimal,
  num,
  organizationOf,
  OrgName,
  Outcome,
  Pager,
  parseEnumList,
  parseMoney,
  partnerOf,
  resolveNames,
  SectionNav,
  StatusChip,
  TableWrap,
  useCsvExport,
  useOutcome,
  usePaged,
  useSubmit,
  type Confirmation,
  type Feedback,
  type LoadPage,
} from "./common";
import "./distributor.css";

const PAGE_SIZE = 50;

export function UsageReports() {
  const [ask, setAsk] = useState<Confirmation | null>(null);
  const outcome = useOutcome();
  // Bumped when approving a usage report made a billing report.
  const [billed, setBilled] = useState(0);
  const [prepared, setPrepared] = useState(0);
  const feedback: Feedback = { ask: setAsk, say: outcome.say, fail: outcome.fail };
  return (
    <div class="distributor-reports">
      <h1>Usage and billing reports</h1>
      <SectionNav
        sections={[
          { id: "usage-reports-section", label: "Usage reports" },
          { id: "billing-reports", label: "Billing reports" },
        ]}
      />
      <Outcome text={outcome.said} failed={outcome.failed} />
      <UsageList
        feedback={feedback}
        reloadKey={prepared}
        onApproved={() => setBilled((b) => b + 1)}
        onPrepared={() => setPrepared((p) => p + 1)}
      />
      <BillingList feedback={feedback} reloadKey={billed} />
      <ConfirmDialog ask={ask} onClose={() => setAsk(null)} />
    </div>
  );
}

function reportLabel(r: { name: string; product: string; month: string }): string {
  const partner = partnerOf(r.name);
  const who = displayName(organizationOf(partner)) ?? idOf(partner);
  return `${who}, ${r.product}, ${r.month}`;
}

/** The month before this one, `YYYY-MM` (UTC). */
function lastMonth(): string {
  const now = new Date();
  const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
  return d.toISOString().slice(0, 7);
}

/** The columns both report tables begin with. */
function ReportHeaders() {
  return (
    <>
      <th scope="col">Partner</th>
      <th scope="col">Product</th>
      <th scope="col">Month</th>
      <th scope="col">Status</th>
    </>
  );
}

/** A report's partner (a link to it), product, month and status: the cells under `ReportHeaders`. */
function ReportCells({
  partner,
  report,
  e,
}: {
  partner: string;
  report: { product: string; month: string; status: number };
  e: typeof UsageReportStatus | typeof BillingReportStatus;
}) {
  return (
    <>
      <td>
        <a href={href(["partners"], { partner })}>
          <OrgName org={organizationOf(partner)} />
        </a>
      </td>
      <td>
        <code>{report.product}</code>
      </td>
      <td>{report.month}</td>
      <td data-col="status">
        <StatusChip e={e} value={report.status} />
      </td>
    </>
  );
}

// ---------------------------------------------------------------------------
// Usage reports.

function UsageList({
  feedback,
  reloadKey,
  onApproved,
  onPrepared,
}: {
  feedback: Feedback;
  reloadKey: number;
  onApproved: () => void;
  onPrepared: () => void;
}) {
  const q = route.value.query;
  const statusRaw = q.get("status");
  const statuses = parseEnumList(UsageReportStatus, "USAGE_REPORT_STATUS_", statusRaw);
  const month = q.get("month") ?? "";
  const product = q.get("product") ?? "";
  const partner = q.get("partner") ?? "";
  const token = q.get("page") ?? "";
  const parent = partner || allPartners();
  const request = { parent, statuses, month, product };
  const load: LoadPage<UsageReportSummary> = async (pageSize, pageToken) => {
    const r = await client(ReportsService).listUsageReports({ ...request, pageSize, pageToken });
    return { rows: r.usageReports, next: r.nextPageToken };
  };
  const list = usePaged(`${JSON.stringify(request)}#${reloadKey}`, token, "page", (pageToken) => load(PAGE_SIZE, pageToken));
  const csvExport = useCsvExport({ noun: "usage reports", filename: "usage-reports", load, table: usageTable });
  const [rejecting, setRejecting] = useState<UsageReportSummary | null>(null);
  const [commenting, setCommenting] = useState<UsageReportSummary | null>(null);
  const [busy, setBusy] = useState("");

  const set = (changes: Record<string, string | undefined>) => replaceQuery({ ...changes, page: undefined });
  const filtered = !!(statuses.length || month || product || partner);

  const changed = (updated: UsageReportSummary) => {
    list.replace((r) => r.name === updated.name, updated);
    feedback.say(
      `Usage report ${reportLabel(updated)} is now ${enumWords(UsageReportStatus, updated.status).toLowerCase()}.`,
    );
  };
  const step = async (report: UsageReportSummary, action: "submit" | "approve") => {
    setBusy(report.name);
    try {
      const args = { name: report.name, etag: report.etag };
      const updated =
        action === "submit"
          ? await client(ReportsService).submitUsageReport(args)
          : await client(ReportsService).approveUsageReport(args);
      changed(updated);
      if (action === "approve") onApproved();
    } catch (e) {
      feedback.fail(refusal(e));
    } finally {
      setBusy("");
    }
  };

  return (
    <section class="list-section" id="usage-reports-section" aria-labelledby="usage-reports-title">
      <h2 id="usage-reports-title" tabIndex={-1}>
        Usage reports
      </h2>
      <PrepareForm feedback={feedback} onPrepared={onPrepared} />
      <form class="toolbar" aria-label="Filter usage reports" onSubmit={(e) => e.preventDefault()}>
        <div class="field">
          <label for="report-status">Status</label>
          <EnumListSelect id="report-status" e={UsageReportStatus} values={statuses} onChange={(status) => set({ status })} />
        </div>
        <div class="field">
          <label for="report-month">Month</label>
          <input id="report-month" type="month" value={month} onChange={(e) => set({ month: e.currentTarget.value || undefined })} />
        </div>
        <div class="field">
          <label for="report-product">Product</label>
          <input
            id="report-product"
            value={product}
            maxLength={64}
            placeholder="e.g. sam-core"
            onChange={(e) => set({ product: e.currentTarget.value.trim() || undefined })}
          />
        </div>
        {filtered && (
          <button
            type="button"
            class="secondary"
            onClick={() => set({ status: undefined, month: undefined, product: undefined, partner: undefined })}
          >
            Clear filters
          </button>
        )}
        <ExportButton id="export-reports" csvExport={csvExport} />
      </form>
      {partner && (
        <p class="filter-note">
          Reports of <OrgName org={organizationOf(partner)} />
          <button type="button" class="link" onClick={() => set({ partner: undefined })}>
            Show every partner's
          </button>
        </p>
      )}
      <ExportNote id="export-note" csvExport={csvExport} />
      <Refused refusal={list.refusal} />
      <TableWrap label="Usage reports table">
        <table id="usage-reports" aria-busy={list.loading}>
          <caption class="muted">Monthly usage reports per partner and product, newest month first</caption>
          <thead>
            <tr>
              <ReportHeaders />
              <th scope="col" class="num">
                Provisioned
              </th>
              <th scope="col" class="num">
                Used
              </th>
              <th scope="col" class="num">
                Chargeable
              </th>
              <th scope="col" class="num">
                Over-provisioned
              </th>
              <th scope="col">Flags</th>
              <th scope="col">Comments</th>
              <th scope="col">Submitted</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            <EmptyRow list={list} columns={12} empty="No usage report matches." />
            {list.rows.map((r) => (
              <tr key={r.name} data-report={r.name} data-status={enumName(UsageReportStatus, r.status)}>
                <ReportCells partner={partnerOf(r.name)} report={r} e={UsageReportStatus} />
                <td class="num">{num(r.provisionedUnits)}</td>
                <td class="num">{r.usedUnits === undefined ? "Not reported" : num(r.usedUnits)}</td>
                <td class="num">{num(r.chargeableUnits)}</td>
                <td class="num">{num(r.overProvisionedPercent)} %</td>
                <td>
                  {r.autoSubmitted && <span class="chip pending flag">Auto-submitted</span>}
                  {r.flagged && <span class="chip warning flag">Flagged for review</span>}
                  {!r.autoSubmitted && !r.flagged && "–"}
                </td>
                <td class="wrap">
                  <Notes report={r} />
                </td>
                <td>{dateTime(r.submitTime)}</td>
                <td class="actions">
                  {r.status === UsageReportStatus.PREPARING && (
                    <button
                      type="button"
                      class="submit-report"
                      disabled={busy === r.name}
                      onClick={() => void step(r, "submit")}
                    >
                      Submit
                    </button>
                  )}
                  {r.status === UsageReportStatus.UNDER_REVIEW && (
                    <>
                      <button
                        type="button"
                        class="approve"
                        disabled={busy === r.name}
                        onClick={() => void step(r, "approve")}
                      >
                        Approve
                      </button>
                      <button type="button" class="secondary reject" onClick={() => setRejecting(r)}>
                        Reject
                      </button>
                    </>
                  )}
                  <button type="button" class="secondary comment" onClick={() => setCommenting(r)}>
                    Comment
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
      <Pager list={list} label="Usage reports" />
      <Modal id="reject-dialog" open={!!rejecting} title="Reject usage report" onClose={() => setRejecting(null)}>
        {rejecting && (
          <RejectForm
            report={rejecting}
            onClose={() => setRejecting(null)}
            onDone={(u) => {
              setRejecting(null);
              changed(u);
            }}
          />
        )}
      </Modal>
      <Modal id="comment-dialog" open={!!commenting} title="Distributor comment" onClose={() => setCommenting(null)}>
        {commenting && (
          <CommentForm
            report={commenting}
            onClose={() => setCommenting(null)}
            onDone={(u) => {
              setCommenting(null);
              list.replace((r) => r.name === u.name, u);
              feedback.say(`Comment saved on ${reportLabel(u)}.`);
            }}
          />
        )}
      </Modal>
    </section>
  );
}

function iso(t: { seconds: bigint; nanos: number } | undefined): string {
  return t ? new Date(Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6)).toISOString() : "";
}

/** The usage reports export's columns. */
async function usageTable(rows: UsageReportSummary[]) {
  const header = [
    "name",
    "partner",
    "partner_name",
    "product",
    "month",
    "status",
    "provisioned_units",
    "used_units",
    "chargeable_units",
    "over_provisioned_percent",
    "auto_submitted",
    "flagged",
    "comment",
    "rejection_reason",
    "distributor_comment",
    "submit_time",
    "update_time",
  ];
  const partnerNames = await resolveNames(rows.map((r) => organizationOf(partnerOf(r.name))));
  const body = rows.map((r) => {
    const p = partnerOf(r.name);
    return [
      r.name,
      p,
      partnerNames.get(organizationOf(p)) ?? "",
      r.product,
      r.month,
      enumName(UsageReportStatus, r.status),
      r.provisionedUnits,
      r.usedUnits,
      r.chargeableUnits,
      r.overProvisionedPercent,
      r.autoSubmitted,
      r.flagged,
      r.comment,
      r.rejectionReason,
      r.distributorComment,
      iso(r.submitTime),
      iso(r.updateTime),
    ];
  });
  return { header, body };
}

function Notes({ report: r }: { report: UsageReportSummary }) {
  const notes: { who: string; text: string; when?: string }[] = [];
  const when = (t: UsageReportSummary["commentTime"]) => (t ? dateTime(t) : undefined);
  if (r.comment) notes.push({ who: "Partner", text: r.comment, when: when(r.commentTime) });
  if (r.rejectionReason) notes.push({ who: "Rejected because", text: r.rejectionReason });
  if (r.distributorComment)
    notes.push({ who: "Distributor", text: r.distributorComment, when: when(r.distributorCommentTime) });
  if (!notes.length) return <>–</>;
  return (
    <ul class="notes">
      {notes.map((n) => (
        <li key={n.who}>
          <strong>{n.who}:</strong> {n.text}
          {n.when && <span class="muted"> ({n.when})</span>}
        </li>
      ))}
    </ul>
  );
}

/** A report dialog's form: `onDone` gets the report the server saved. */
interface FormProps<T> {
  report: T;
  onClose: () => void;
  onDone: (u: T) => void;
}

function RejectForm({ report, onClose, onDone }: FormProps<UsageReportSummary>) {
  const [reason, setReason] = useState("");
  const [missing, setMissing] = useState(false);
  const { busy, failed, submit } = useSubmit();
  const reject = async () => {
    if (!reason.trim()) {
      setMissing(true);
      document.getElementById("reject-reason")?.focus();
      return;
    }
    setMissing(false);
    await submit(async () =>
      onDone(
        await client(ReportsService).rejectUsageReport({ name: report.name, etag: report.etag, comment: reason.trim() }),
      ),
    );
  };
  return (
    <DialogForm
      submitId="confirm-reject"
      submitLabel="Reject report"
      busyLabel="Rejecting…"
      danger
      noValidate
      busy={busy}
      failed={failed}
      onSubmit={reject}
      onClose={onClose}
    >
      <p>{reportLabel(report)}</p>
      <label for="reject-reason">Reason (required; the partner sees it)</label>
      <textarea
        id="reject-reason"
        rows={4}
        maxLength={2000}
        required
        aria-required="true"
        aria-invalid={missing}
        aria-describedby="reject-reason-error"
        value={reason}
        onInput={(e) => setReason(e.currentTarget.value)}
      />
      <span id="reject-reason-error" class="field-error" role={missing ? "alert" : undefined}>
        {missing ? "Give the reason for rejecting the report." : ""}
      </span>
    </DialogForm>
  );
}

function CommentForm({ report, onClose, onDone }: FormProps<UsageReportSummary>) {
  const [text, setText] = useState(report.distributorComment);
  const { busy, failed, submit } = useSubmit();
  const save = () =>
    submit(async () =>
      onDone(
        await client(ReportsService).updateUsageReport({
          usageReport: { name: report.name, distributorComment: text },
          updateMask: { paths: ["distributor_comment"] },
          etag: report.etag,
        }),
      ),
    );
  return (
    <DialogForm
      submitId="save-comment"
      submitLabel="Save comment"
      busyLabel="Saving…"
      busy={busy}
      failed={failed}
      onSubmit={save}
      onClose={onClose}
    >
      <p>{reportLabel(report)}</p>
      <label for="distributor-comment">Your comment (the partner's comment stays as it is)</label>
      <textarea
        id="distributor-comment"
        rows={4}
        maxLength={2000}
        value={text}
        onInput={(e) => setText(e.currentTarget.value)}
      />
    </DialogForm>
  );
}

function PrepareForm({ feedback, onPrepared }: { feedback: Feedback; onPrepared: () => void }) {
  const [month, setMonth] = useState(lastMonth());
  const [busy, setBusy] = useState(false);
  return (
    <form
      class="toolbar"
      id="prepare-reports-form"
      aria-label="Prepare usage reports"
      onSubmit={(e) => {
        e.preventDefault();
        setBusy(true);
        client(ReportsService)
          .prepareUsageReports({ parent: distributorName(), month })
          .then((r) => {
            feedback.say(`${r.usageReports.length} usage reports of ${month} prepared or recalculated.`);
            onPrepared();
          })
          .catch((err: unknown) => feedback.fail(refusal(err)))
          .finally(() => setBusy(false));
      }}
    >
      <div class="field">
        <label for="prepare-month">Month to prepare</label>
        <input id="prepare-month" type="month" required value={month} onInput={(e) => setMonth(e.currentTarget.value)} />
      </div>
      <button type="submit" class="secondary" id="prepare-reports" disabled={busy || !month}>
        {busy ? "Preparing…" : "Prepare reports"}
      </button>
      <span class="muted">Creates the month's reports and recalculates those still preparing or rejected.</span>
    </form>
  );
}

// ---------------------------------------------------------------------------
// Billing reports.

type BillingAction = "submit" | "return" | "reject" | "accept" | "complete";

const UNDER_REVIEW = [
  BillingReportStatus.UNDER_REVIEW_MANUAL,
  BillingReportStatus.UNDER_REVIEW_AUTOMATIC,
  BillingReportStatus.UNDER_REVIEW_AUTOMATIC_WITH_PENALTIES,
];

/** The steps the proto allows from a status (return, reject, accept and complete: platform administrators). */
function billingActions(status: BillingReportStatus): BillingAction[] {
  if (status === BillingReportStatus.PREPARING || status === BillingReportStatus.RETURNED) return ["submit"];
  if (UNDER_REVIEW.includes(status)) return ["accept", "return", "reject"];
  if (status === BillingReportStatus.SUBMITTED) return ["complete"];
  return [];
}

const ACTION_LABEL: Record<BillingAction, string> = {
  submit: "Submit",
  return: "Return",
  reject: "Reject",
  accept: "Accept",
  complete: "Complete",
};

function BillingList({ feedback, reloadKey }: { feedback: Feedback; reloadKey: number }) {
  const q = route.value.query;
  const statusRaw = q.get("billing_status");
  const statuses = parseEnumList(BillingReportStatus, "BILLING_REPORT_STATUS_", statusRaw);
  const month = q.get("billing_month") ?? "";
  const token = q.get("bpage") ?? "";
  const request = { parent: distributorName(), statuses, month };
  const load: LoadPage<BillingReport> = async (pageSize, pageToken) => {
    const r = await client(ReportsService).listBillingReports({ ...request, pageSize, pageToken });
    return { rows: r.billingReports, next: r.nextPageToken };
  };
  const list = usePaged(`${JSON.stringify(request)}#${reloadKey}`, token, "bpage", (pageToken) => load(PAGE_SIZE, pageToken));
  const csvExport = useCsvExport({ noun: "billing reports", filename: "billing-reports", load, table: billingTable });
  const [editing, setEditing] = useState<BillingReport | null>(null);
  const [busy, setBusy] = useState("");
  const set = (changes: Record<string, string | undefined>) => replaceQuery({ ...changes, bpage: undefined });

  // Scroll to the section when a dashboard count opened it.
  useEffect(() => {
    if (statusRaw || month) document.getElementById("billing-reports")?.scrollIntoView({ block: "start" });
  }, []);

  const changed = (u: BillingReport) => {
    list.replace((r) => r.name === u.name, u);
    feedback.say(`Billing report ${reportLabel({ name: u.partner, product: u.product, month: u.month })} is now ${enumWords(BillingReportStatus, u.status).toLowerCase()}.`);
  };
  const call = (r: BillingReport, action: BillingAction): Promise<BillingReport> => {
    const args = { name: r.name, etag: r.etag };
    const reports = client(ReportsService);
    switch (action) {
      case "submit":
        return reports.submitBillingReport(args);
      case "return":
        return reports.returnBillingReport(args);
      case "reject":
        return reports.rejectBillingReport(args);
      case "accept":
        return reports.acceptBillingReport(args);
      case "complete":
        return reports.completeBillingReport(args);
    }
  };
  const act = (r: BillingReport, action: BillingAction) => {
    if (action === "reject") {
      feedback.ask({
        title: "Reject billing report?",
        body: "Rejecting a billing report is final.",
        confirmLabel: "Reject",
        danger: true,
        run: async () => changed(await call(r, action)),
      });
      return;
    }
    setBusy(r.name);
    call(r, action)
      .then(changed)
      .catch((e: unknown) => feedback.fail(refusal(e)))
      .finally(() => setBusy(""));
  };

  return (
    <section class="list-section" id="billing-reports" aria-labelledby="billing-reports-title">
      <h2 id="billing-reports-title" tabIndex={-1}>
        Billing reports
      </h2>
      <form class="toolbar" aria-label="Filter billing reports" onSubmit={(e) => e.preventDefault()}>
        <div class="field">
          <label for="billing-status">Status</label>
          <EnumListSelect
            id="billing-status"
            e={BillingReportStatus}
            values={statuses}
            onChange={(billing_status) => set({ billing_status })}
          />
        </div>
        <div class="field">
          <label for="billing-month">Month</label>
          <input
            id="billing-month"
            type="month"
            value={month}
            onChange={(e) => set({ billing_month: e.currentTarget.value || undefined })}
          />
        </div>
        {(statuses.length > 0 || month) && (
          <button type="button" class="secondary" onClick={() => set({ billing_status: undefined, billing_month: undefined })}>
            Clear filters
          </button>
        )}
        <ExportButton id="export-billing-reports" csvExport={csvExport} />
      </form>
      <p class="muted">
        Return, reject, accept and complete are the platform administrators' review steps; the server refuses them to
        others.
      </p>
      <ExportNote id="export-billing-note" csvExport={csvExport} />
      <Refused refusal={list.refusal} />
      <TableWrap label="Billing reports table">
        <table id="billing-report-list" aria-busy={list.loading}>
          <caption class="muted">Billing reports made from approved usage reports, newest month first</caption>
          <thead>
            <tr>
              <ReportHeaders />
              <th scope="col" class="num">
                Units
              </th>
              <th scope="col">PO number</th>
              <th scope="col" class="num">
                Unit price
              </th>
              <th scope="col" class="num">
                Channel margin
              </th>
              <th scope="col" class="num">
                Amount
              </th>
              <th scope="col" class="num">
                Total
              </th>
              <th scope="col">Updated</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            <EmptyRow list={list} columns={12} empty="No billing report matches." />
            {list.rows.map((r) => {
              const editable = r.status === BillingReportStatus.PREPARING || r.status === BillingReportStatus.RETURNED;
              return (
                <tr key={r.name} data-billing-report={r.name} data-status={enumName(BillingReportStatus, r.status)}>
                  <ReportCells partner={r.partner} report={r} e={BillingReportStatus} />
                  <td class="num">{num(r.units)}</td>
                  <td>{r.poNumber || "–"}</td>
                  <td class="num">{r.unitPrice?.currencyCode ? money(r.unitPrice) : "No price"}</td>
                  <td class="num">{basisPoints(r.channelMarginBasisPoints)}</td>
                  <td class="num">{money(r.amount)}</td>
                  <td class="num">{money(r.total)}</td>
                  <td>{dateTime(r.updateTime)}</td>
                  <td class="actions">
                    {editable && (
                      <button type="button" class="secondary edit" onClick={() => setEditing(r)}>
                        Edit
                      </button>
                    )}
                    {billingActions(r.status).map((action) => (
                      <button
                        key={action}
                        type="button"
                        class={action === "submit" || action === "accept" || action === "complete" ? action : `secondary ${action}`}
                        disabled={busy === r.name}
                        onClick={() => act(r, action)}
                      >
                        {ACTION_LABEL[action]}
                      </button>
                    ))}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </TableWrap>
      <Pager list={list} label="Billing reports" />
      <Modal id="billing-edit-dialog" open={!!editing} title="Price billing report" onClose={() => setEditing(null)}>
        {editing && (
          <BillingForm
            report={editing}
            onClose={() => setEditing(null)}
            onDone={(u) => {
              setEditing(null);
              list.replace((r) => r.name === u.name, u);
              feedback.say("Billing report saved.");
            }}
          />
        )}
      </Modal>
    </section>
  );
}

/** The billing reports export's columns. */
async function billingTable(rows: BillingReport[]) {
  const header = [
    "name",
    "partner",
    "partner_name",
    "product",
    "month",
    "status",
    "units",
    "po_number",
    "currency",
    "unit_price",
    "channel_margin_percent",
    "amount",
    "total",
    "usage_report",
    "update_time",
  ];
  const partnerNames = await resolveNames(rows.map((r) => organizationOf(r.partner)));
  const body = rows.map((r) => [
    r.name,
    r.partner,
    partnerNames.get(organizationOf(r.partner)) ?? "",
    r.product,
    r.month,
    enumName(BillingReportStatus, r.status),
    r.units,
    r.poNumber,
    r.unitPrice?.currencyCode ?? r.amount?.currencyCode ?? "",
    r.unitPrice ? moneyDecimal(r.unitPrice) : "",
    r.channelMarginBasisPoints / 100,
    r.amount?.currencyCode ? moneyDecimal(r.amount) : "",
    r.total?.currencyCode ? moneyDecimal(r.total) : "",
    r.usageReport,
    iso(r.updateTime),
  ]);
  return { header, body };
}

function BillingForm({ report, onClose, onDone }: FormProps<BillingReport>) {
  const [po, setPo] = useState(report.poNumber);
  const [currency, setCurrency] = useState(report.unitPrice?.currencyCode || "");
  const [price, setPrice] = useState(report.unitPrice?.currencyCode ? moneyDecimal(report.unitPrice) : "");
  const [margin, setMargin] = useState(String(report.channelMarginBasisPoints / 100));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const { busy, failed, submit } = useSubmit();

  const save = async () => {
    const problems: Record<string, string> = {};
    const paths: string[] = [];
    const update: MessageInitShape<typeof BillingReportSchema> = { name: report.name };
    if (po !== report.poNumber) {
      paths.push("po_number");
      update.poNumber = po.trim();
    }
    const code = currency.trim().toUpperCase();
    const oldPrice = report.unitPrice?.currencyCode ? moneyDecimal(report.unitPrice) : "";
    if (price.trim() !== oldPrice || code !== (report.unitPrice?.currencyCode ?? "")) {
      if (!/^[A-Z]{3}$/.test(code)) problems.currency = "A three-letter ISO 4217 code, e.g. EUR.";
      const minor = parseMoney(price, code || "EUR");
      if (minor === null) problems.price = `An amount with at most ${minorDigits(code || "EUR")} decimals.`;
      if (!problems.currency && minor !== null) {
        paths.push("unit_price");
        update.unitPrice = { currencyCode: code, amountMinor: minor };
      }
    }
    const pct = Number(margin.replace(",", "."));
    if (!Number.isFinite(pct) || pct < 0 || pct > 100) problems.margin = "A percentage from 0 to 100.";
    else if (Math.round(pct * 100) !== report.channelMarginBasisPoints) {
      paths.push("channel_margin_basis_points");
      update.channelMarginBasisPoints = Math.round(pct * 100);
    }
    setErrors(problems);
    if (Object.keys(problems).length) return;
    if (!paths.length) {
      onClose();
      return;
    }
    await submit(async () =>
      onDone(
        await client(ReportsService).updateBillingReport({
          billingReport: update,
          updateMask: { paths },
          etag: report.etag,
        }),
      ),
    );
  };

  return (
    <DialogForm
      submitId="save-billing-report"
      submitLabel="Save"
      busyLabel="Saving…"
      noValidate
      busy={busy}
      failed={failed}
      onSubmit={save}
      onClose={onClose}
    >
      <p>
        {reportLabel({ name: report.partner, product: report.product, month: report.month })}: {num(report.units)} units.
        A submit needs a PO number and a unit price.
      </p>
      <label for="billing-po">PO number</label>
      <input id="billing-po" maxLength={64} value={po} onInput={(e) => setPo(e.currentTarget.value)} />
      <label for="billing-price">Unit price</label>
      <input
        id="billing-price"
        inputMode="decimal"
        value={price}
        aria-invalid={!!errors.price}
        aria-describedby="billing-price-error"
        onInput={(e) => setPrice(e.currentTarget.value)}
      />
      <span id="billing-price-error" class="field-error">
        {errors.price ?? ""}
      </span>
      <label for="billing-currency">Currency</label>
      <input
        id="billing-currency"
        maxLength={3}
        value={currency}
        aria-invalid={!!errors.currency}
        aria-describedby="billing-currency-error"
        onInput={(e) => setCurrency(e.currentTarget.value)}
      />
      <span id="billing-currency-error" class="field-error">
        {errors.currency ?? ""}
      </span>
      <label for="billing-margin">Channel margin (%)</label>
      <input
        id="billing-margin"
        type="number"
        min={0}
        max={100}
        step={0.01}
        value={margin}
        aria-invalid={!!errors.margin}
        aria-describedby="billing-margin-error"
        onInput={(e) => setMargin(e.currentTarget.value)}
      />
      <span id="billing-margin-error" class="field-error">
        {errors.margin ?? ""}
      </span>
    </DialogForm>
  );
}
