// The customer's licenses: one page at a time, with the archived and
// incomplete filters and the API's sort; a form driven by the license
// policy to register or change a license; archive and unarchive with
// their options; and a license's assignments in a details panel.
import { useRef, useState } from "preact/hooks";
import { client } from "../../api";
import { AssignmentType, LicensesService, Metric, type License } from "../../gen/estate/licensing/v1/licenses_pb";
import { LicensePolicyService } from "../../gen/estate/licensing/v1/policy_pb";
import { replaceQuery, route } from "../../router";
import { date, enumLabel } from "../../ui/format";
import { ArchiveDialog, type ArchiveAction } from "./ArchiveDialog";
import { forget, Label, useLabel } from "./labels";
import { LicenseDetails, LicenseStatus } from "./LicenseDetails";
import { LicenseForm, quantityText } from "./LicenseForm";
import { customerParent, ListStatus, num, Pager, PAGE_SIZE, restoreFocus, SortHeader, sortOrder, useLoad, usePaging } from "./shared";
import "./customer.css";

/** ListLicenses' order_by columns, with their headings. */
const SORTABLE: Record<string, string> = {
  create_time: "Created",
  update_time: "Changed",
  purchase_date: "Purchase date",
  quantity: "Quantity",
  metric: "Metric",
  vendor: "Vendor",
  invoice_reference: "Invoice reference",
};

function productName(license: License): string {
  return license.application || license.family;
}

export function Licenses() {
  const query = route.value.query;
  const archived = query.get("archived") === "1";
  const incomplete = query.get("incomplete") === "1";
  const selected = query.get("license") ?? "";
  const parent = customerParent();
  const paging = usePaging("page");
  // The API's default order is create_time ascending.
  const order = sortOrder(SORTABLE, "create_time", paging);
  const orderBy = order.orderBy;

  const list = useLoad(
    () =>
      client(LicensesService).listLicenses({
        parent,
        pageSize: PAGE_SIZE,
        pageToken: paging.token,
        includeArchived: archived,
        onlyIncomplete: incomplete,
        orderBy,
      }),
    [parent, paging.token, archived, incomplete, orderBy],
  );
  const policy = useLoad(() => client(LicensePolicyService).getLicensePolicy({ name: `${parent}/licensePolicy` }), [parent]);
  const settings = useLoad(
    () => client(LicensePolicyService).getLicensingSettings({ name: `${parent}/licensingSettings` }),
    [parent],
  );

  const [editor, setEditor] = useState<{ license: License | null; key: number } | null>(null);
  const [dialog, setDialog] = useState<{ action: ArchiveAction; license: License } | null>(null);
  const [status, setStatus] = useState<{ text: string; license?: string } | null>(null);
  const [version, setVersion] = useState(0);
  const opener = useRef<Element | null>(null);

  const openEditor = (license: License | null) => {
    opener.current = document.activeElement;
    setStatus(null);
    setEditor({ license, key: Date.now() });
  };
  const closeEditor = () => {
    setEditor(null);
    restoreFocus(opener.current, "#new-license");
  };
  const changed = () => {
    list.reload();
    setVersion((v) => v + 1);
  };
  const setFilter = (key: string, on: boolean) => replaceQuery({ [key]: on ? "1" : undefined, ...paging.changes() });
  const showDetails = (name: string) => replaceQuery({ license: name, apage: undefined, "apage-prev": undefined, ipage: undefined, "ipage-prev": undefined });

  const rows = list.data?.licenses ?? [];
  return (
    <section aria-labelledby="licenses-title">
      <h1 id="licenses-title" tabIndex={-1}>
        Licenses
      </h1>
      <p class="muted">
        Licenses you purchased. Archived licenses stay readable but are left out of compliance; incomplete licenses
        lack data compliance needs and are left out until completed.
      </p>

      <div class="toolbar filters">
        <label>
          <input type="checkbox" id="show-archived" checked={archived} onChange={(e) => setFilter("archived", e.currentTarget.checked)} />
          Show archived licenses
        </label>
        <label>
          <input type="checkbox" id="show-incomplete" checked={incomplete} onChange={(e) => setFilter("incomplete", e.currentTarget.checked)} />
          Only incomplete licenses
        </label>
        <button type="button" id="new-license" onClick={() => openEditor(null)} aria-expanded={editor?.license === null}>
          New license
        </button>
      </div>

      {status && (
        <p role="status" class="status" id="license-status">
          {status.text}{" "}
          {status.license && (
            <button type="button" class="link" onClick={() => status.license && showDetails(status.license)}>
              Show its details
            </button>
          )}
        </p>
      )}

      {editor &&
        (policy.loading || settings.loading ? (
          <p class="muted">Loading the license policy…</p>
        ) : (
          <LicenseForm
            key={editor.key}
            license={editor.license}
            policy={policy.data}
            policyRefused={policy.refused}
            settings={settings.data}
            onCancel={closeEditor}
            onSaved={(saved, created) => {
              forget(saved.name);
              setEditor(null);
              const missing = saved.incomplete ? ` It is incomplete (missing ${saved.missingFields.join(", ") || "data"}) and left out of compliance until completed.` : "";
              setStatus({ text: `${created ? "License registered." : "License saved."}${missing}`, license: saved.name });
              changed();
              restoreFocus(opener.current, "#new-license");
            }}
          />
        ))}

      <ListStatus list={list} paging={paging} loading="Loading licenses…" />
      {list.data && rows.length === 0 && !paging.hasPrevious && (
        <p class="muted" id="licenses-empty">
          {incomplete ? "No incomplete licenses." : archived ? "No licenses." : "No licenses (archived ones are hidden)."}
        </p>
      )}
      {(rows.length > 0 || paging.hasPrevious) && (
        <div class="table-wrap">
          <table id="licenses" aria-busy={list.loading}>
            <caption class="visually-hidden">
              Licenses{archived ? ", archived included" : ""}
              {incomplete ? ", only incomplete" : ""}
            </caption>
            <thead>
              <tr>
                <th scope="col">Licensed product</th>
                <SortHeader order={order} column="metric" />
                <th scope="col">Assignment</th>
                <SortHeader order={order} column="quantity" numeric />
                <th scope="col" class="num">
                  Assigned
                </th>
                <th scope="col" class="num">
                  Unassigned
                </th>
                <SortHeader order={order} column="purchase_date" />
                <SortHeader order={order} column="vendor" />
                <SortHeader order={order} column="invoice_reference" />
                <th scope="col">Status</th>
                <SortHeader order={order} column="create_time" />
                <SortHeader order={order} column="update_time" />
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((license) => (
                <LicenseRow
                  key={license.name}
                  license={license}
                  selected={selected === license.name}
                  onDetails={() => showDetails(license.name)}
                  onEdit={() => openEditor(license)}
                  onArchive={(action) => setDialog({ action, license })}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager paging={paging} nextToken={list.data?.nextPageToken} label="Licenses" loading={list.loading} />

      {selected && (
        <LicenseDetails
          name={selected}
          version={version}
          onClose={() => {
            replaceQuery({ license: undefined, apage: undefined, "apage-prev": undefined, ipage: undefined, "ipage-prev": undefined });
            restoreFocus(null, "#licenses-title");
          }}
        />
      )}

      {dialog && (
        <ArchiveDialog
          key={`${dialog.action}-${dialog.license.name}`}
          action={dialog.action}
          license={dialog.license}
          onChanged={changed}
          onClose={() => setDialog(null)}
        />
      )}
    </section>
  );
}

function LicenseRow({
  license,
  selected,
  onDetails,
  onEdit,
  onArchive,
}: {
  license: License;
  selected: boolean;
  onDetails: () => void;
  onEdit: () => void;
  onArchive: (action: ArchiveAction) => void;
}) {
  const product = productName(license);
  const label = useLabel(product);
  const what = label ?? (product ? "this license" : "license without application");
  const hasUnassigned = license.assignmentType === AssignmentType.COMPUTER || license.assignmentType === AssignmentType.USER;
  return (
    <tr
      data-license={license.name}
      class={selected ? "selected" : undefined}
      data-archived={license.archived ? "true" : undefined}
      data-incomplete={license.incomplete ? "true" : undefined}
    >
      <th scope="row" class="partner-cell">
        <Label name={product} empty="Not set" />
        {license.family && <span class="muted"> (family)</span>}
      </th>
      <td>{license.metric ? enumLabel(Metric[license.metric], "") : "–"}</td>
      <td>{license.assignmentType ? enumLabel(AssignmentType[license.assignmentType], "") : "–"}</td>
      <td class="num">{quantityText(license)}</td>
      <td class="num">{num(license.assigned)}</td>
      <td class="num">{hasUnassigned && license.quantity?.kind.case === "count" ? num(license.unassigned) : "–"}</td>
      <td>{license.purchaseDate || "–"}</td>
      <td>{license.vendor || "–"}</td>
      <td>{license.invoiceReference || "–"}</td>
      <td>
        <LicenseStatus license={license} />
      </td>
      <td>{date(license.createTime)}</td>
      <td>{date(license.updateTime)}</td>
      <td>
        <div class="row-actions">
          <button type="button" class="secondary details" aria-label={`Details of ${what}`} aria-pressed={selected} onClick={onDetails}>
            Details
          </button>
          {!license.archived && (
            <button type="button" class="secondary edit" aria-label={`Edit ${what}`} onClick={onEdit}>
              Edit
            </button>
          )}
          {license.archived ? (
            <button type="button" class="secondary unarchive" aria-label={`Unarchive ${what}`} onClick={() => onArchive("unarchive")}>
              Unarchive
            </button>
          ) : (
            <button type="button" class="secondary archive" aria-label={`Archive ${what}`} onClick={() => onArchive("archive")}>
              Archive
            </button>
          )}
        </div>
      </td>
    </tr>
  );
}
