// External access: the partners the signed-in customer lets see its data,
// how (continuous, for a period, or disabled), and a form to grant a new
// partner. Only the customer decides; a managed customer's grant to the
// partner that manages it is fixed and shown read-only.
import { useEffect, useState } from "preact/hooks";
import { client, refusal, type Refusal } from "../../api";
import {
  AccessGrantsService,
  AccessMode,
  type AccessGrant,
} from "../../gen/estate/customers/v1/access_grants_pb";
import { dateTime } from "../../ui/format";
import { Refused } from "../../ui/Refused";
import { useLabel } from "./labels";
import { dayStart, ListStatus, organization, Pager, PAGE_SIZE, useLoad, usePaging, utcDate, utcDay } from "./shared";
import "./customer.css";

const MODES: { mode: AccessMode; text: string }[] = [
  { mode: AccessMode.CONTINUOUS, text: "Continuous" },
  { mode: AccessMode.PERIOD, text: "Period" },
  { mode: AccessMode.DISABLED, text: "Disabled" },
];

function modeText(mode: AccessMode): string {
  return MODES.find((m) => m.mode === mode)?.text ?? "Not set";
}

/** `organizations/{uuid}` from what a person typed: a uuid or the resource name; anything else is sent as typed, for the server to judge. */
function partnerName(typed: string): string {
  const value = typed.trim();
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) return `organizations/${value.toLowerCase()}`;
  return value;
}

/** The period fields of a grant for `mode`, from date inputs (start inclusive, end exclusive, UTC days). */
function periodOf(mode: AccessMode, start: string, end: string) {
  if (mode !== AccessMode.PERIOD) return {};
  return {
    startTime: start ? dayStart(start) : undefined,
    endTime: end ? dayStart(end) : undefined,
  };
}

export function AccessGrants() {
  const parent = organization();
  const paging = usePaging("page");
  const list = useLoad(
    () => client(AccessGrantsService).listAccessGrants({ parent, pageSize: PAGE_SIZE, pageToken: paging.token }),
    [parent, paging.token],
  );
  const [status, setStatus] = useState("");

  const replace = (saved: AccessGrant) => {
    if (!list.data) return;
    const grants = list.data.accessGrants.map((g) => (g.name === saved.name ? saved : g));
    list.setData({ ...list.data, accessGrants: grants });
  };

  const grants = list.data?.accessGrants ?? [];
  return (
    <section aria-labelledby="access-title">
      <h1 id="access-title">Partner access</h1>
      <p class="muted">
        Partners see your computers, applications and licenses only while their access is effective. Disabling access
        keeps the partner listed but shows it nothing; a managed customer's partner always has continuous access.
      </p>
      <p role="status" class="status" id="grant-status">
        {status}
      </p>

      <NewGrant
        onCreated={(grant, label) => {
          setStatus(`Access granted to ${label}: ${modeText(grant.mode)}.`);
          list.reload();
        }}
      />

      <h2 id="grants-title">Partners with access</h2>
      <ListStatus list={list} paging={paging} loading="Loading partner access…" />
      {list.data && grants.length === 0 && !paging.hasPrevious && (
        <p class="muted" id="grants-empty">
          No partner has access yet.
        </p>
      )}
      {(grants.length > 0 || paging.hasPrevious) && (
        <div class="table-wrap">
          <table id="grants" aria-labelledby="grants-title" aria-busy={list.loading}>
            <caption class="visually-hidden">Partners with access to your data, and their access</caption>
            <thead>
              <tr>
                <th scope="col">Partner</th>
                <th scope="col">Access</th>
                <th scope="col">Period</th>
                <th scope="col">Effective now</th>
                <th scope="col">Last changed</th>
                <th scope="col">Change access</th>
              </tr>
            </thead>
            <tbody>
              {grants.map((grant) => (
                <GrantRow key={grant.name} grant={grant} onSaved={replace} onStatus={setStatus} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager paging={paging} nextToken={list.data?.nextPageToken} label="Partner access" loading={list.loading} />
    </section>
  );
}

function PartnerCell({ partner }: { partner: string }) {
  const label = useLabel(partner);
  return (
    <>
      {label ? <strong>{label}</strong> : <span class="muted">Name not visible to you</span>}
      <br />
      <code class="resource-id">{partner}</code>
    </>
  );
}

function GrantRow({
  grant,
  onSaved,
  onStatus,
}: {
  grant: AccessGrant;
  onSaved: (grant: AccessGrant) => void;
  onStatus: (text: string) => void;
}) {
  const label = useLabel(grant.partner);
  const who = label ?? grant.partner;
  const [mode, setMode] = useState(grant.mode);
  const [start, setStart] = useState(utcDay(grant.startTime));
  const [end, setEnd] = useState(utcDay(grant.endTime));
  const [saving, setSaving] = useState(false);
  const [refused, setRefused] = useState<Refusal | null>(null);

  // A saved (or reloaded) grant resets the editor.
  useEffect(() => {
    setMode(grant.mode);
    setStart(utcDay(grant.startTime));
    setEnd(utcDay(grant.endTime));
  }, [grant.etag, grant.name]);

  const id = grant.partner.replace(/[^a-zA-Z0-9]/g, "-");
  const save = async () => {
    setSaving(true);
    setRefused(null);
    try {
      const saved = await client(AccessGrantsService).updateAccessGrant({
        accessGrant: { name: grant.name, mode, etag: grant.etag, ...periodOf(mode, start, end) },
      });
      onSaved(saved);
      onStatus(`Access for ${who} saved: ${modeText(saved.mode)}${saved.effective ? ", effective now" : ", not effective now"}.`);
    } catch (error) {
      setRefused(refusal(error));
    } finally {
      setSaving(false);
    }
  };

  return (
    <>
      <tr data-partner={grant.partner} data-managed={grant.managed ? "true" : undefined}>
        <th scope="row" class="partner-cell">
          <PartnerCell partner={grant.partner} />
        </th>
        <td data-col="mode">
          {modeText(grant.mode)}
          {grant.managed && (
            <>
              {" "}
              <span class="chip pending">Managed</span>
            </>
          )}
        </td>
        <td data-col="period">
          {grant.mode === AccessMode.PERIOD ? (
            <>
              {utcDate(grant.startTime)} – {utcDate(grant.endTime)} <span class="muted">(end excluded, UTC)</span>
            </>
          ) : (
            <span class="muted">–</span>
          )}
        </td>
        <td data-col="effective">
          {grant.effective ? <span class="chip synced">Effective</span> : <span class="chip disabled">Not effective</span>}
        </td>
        <td data-col="updated">{dateTime(grant.updateTime)}</td>
        <td class="grant-edit">
          {grant.managed ? (
            <div class="grant-controls">
              <select class="grant-mode" aria-label={`Access for ${who}`} value={String(grant.mode)} disabled>
                {MODES.map((m) => (
                  <option key={m.mode} value={String(m.mode)}>
                    {m.text}
                  </option>
                ))}
              </select>
              <span class="managed-reason">
                Read-only: this partner manages your organization, so its access is continuous and only the partner
                relationship can change it.
              </span>
            </div>
          ) : (
            <div class="grant-controls">
              <select
                class="grant-mode"
                id={`mode-${id}`}
                aria-label={`Access for ${who}`}
                value={String(mode)}
                onChange={(e) => setMode(Number((e.target as HTMLSelectElement).value) as AccessMode)}
              >
                {mode === AccessMode.UNSPECIFIED && <option value="0">Choose…</option>}
                {MODES.map((m) => (
                  <option key={m.mode} value={String(m.mode)}>
                    {m.text}
                  </option>
                ))}
              </select>
              {mode === AccessMode.PERIOD && (
                <>
                  <DayInput text="From" class="grant-start" label={`Access for ${who} from (UTC day, included)`} value={start} onInput={setStart} />
                  <DayInput text="Until" class="grant-end" label={`Access for ${who} until (UTC day, excluded)`} value={end} onInput={setEnd} />
                </>
              )}
              <button type="button" class="save-grant" disabled={saving} onClick={save} aria-label={`Save access for ${who}`}>
                {saving ? "Saving…" : "Save"}
              </button>
            </div>
          )}
        </td>
      </tr>
      {refused && (
        <tr class="row-refusal" data-refusal-for={grant.partner}>
          <td colSpan={6}>
            <Refused refusal={refused} />
          </td>
        </tr>
      )}
    </>
  );
}

/** A grant row's date input, labelled inline. */
function DayInput({
  text,
  class: className,
  label,
  value,
  onInput,
}: {
  text: string;
  class: string;
  label: string;
  value: string;
  onInput: (day: string) => void;
}) {
  return (
    <label class="inline">
      {text}
      <input
        type="date"
        class={className}
        aria-label={label}
        value={value}
        onInput={(e) => onInput((e.target as HTMLInputElement).value)}
      />
    </label>
  );
}

/** Fields the new-grant form shows next to their inputs. */
const INLINE = ["access_grant.partner", "access_grant.mode", "access_grant.start_time", "access_grant.end_time"];

function NewGrant({ onCreated }: { onCreated: (grant: AccessGrant, label: string) => void }) {
  const [partner, setPartner] = useState("");
  const [mode, setMode] = useState(AccessMode.CONTINUOUS);
  const [start, setStart] = useState("");
  const [end, setEnd] = useState("");
  const [saving, setSaving] = useState(false);
  const [refused, setRefused] = useState<Refusal | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setSaving(true);
    setRefused(null);
    try {
      const created = await client(AccessGrantsService).createAccessGrant({
        parent: organization(),
        accessGrant: { partner: partnerName(partner), mode, ...periodOf(mode, start, end) },
      });
      setPartner("");
      setStart("");
      setEnd("");
      setMode(AccessMode.CONTINUOUS);
      onCreated(created, created.partner);
    } catch (error) {
      setRefused(refusal(error));
    } finally {
      setSaving(false);
    }
  };

  const errorFor = (field: string) =>
    refused?.fields
      .filter((f) => f.field === field)
      .map((f) => (
        <p class="field-error" data-field={f.field} key={f.field + f.description}>
          {f.description}
        </p>
      ));

  return (
    <form id="grant-form" class="grant-form" onSubmit={submit} noValidate aria-labelledby="grant-form-title">
      <h2 id="grant-form-title">Grant a partner access</h2>
      <div class="toolbar">
        <div class="field">
          <label for="grant-partner">Partner organization</label>
          <input
            id="grant-partner"
            name="partner"
            value={partner}
            size={44}
            placeholder="organizations/… or the partner's id"
            aria-describedby="grant-partner-help"
            onInput={(e) => setPartner((e.target as HTMLInputElement).value)}
          />
          <span id="grant-partner-help" class="help">
            The partner's organization id, as the partner gives it to you.
          </span>
          {errorFor("access_grant.partner")}
        </div>
        <div class="field">
          <label for="grant-mode">Access</label>
          <select
            id="grant-mode"
            name="mode"
            value={String(mode)}
            onChange={(e) => setMode(Number((e.target as HTMLSelectElement).value) as AccessMode)}
          >
            {MODES.map((m) => (
              <option key={m.mode} value={String(m.mode)}>
                {m.text}
              </option>
            ))}
          </select>
          {errorFor("access_grant.mode")}
        </div>
        {mode === AccessMode.PERIOD && (
          <>
            <div class="field">
              <label for="new-grant-start">From (UTC day, included)</label>
              <input
                id="new-grant-start"
                type="date"
                value={start}
                onInput={(e) => setStart((e.target as HTMLInputElement).value)}
              />
              {errorFor("access_grant.start_time")}
            </div>
            <div class="field">
              <label for="new-grant-end">Until (UTC day, excluded)</label>
              <input id="new-grant-end" type="date" value={end} onInput={(e) => setEnd((e.target as HTMLInputElement).value)} />
              {errorFor("access_grant.end_time")}
            </div>
          </>
        )}
        <button id="create-grant" type="submit" disabled={saving}>
          {saving ? "Granting…" : "Grant access"}
        </button>
      </div>
      <Refused refusal={refused && { ...refused, fields: refused.fields.filter((f) => !INLINE.includes(f.field)) }} />
    </form>
  );
}
