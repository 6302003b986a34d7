// "Add managed customers": one name per line (optionally `name,external id`),
// created under the partner with the same first owner. One line is a
// CreateOrganization, 2..100 lines one BatchCreateOrganizations (all or
// none). Each row carries a request id that stays the same while the row
// does, so retrying after a lost answer creates nothing twice.
import { useRef, useState } from "preact/hooks";
import { client, refusal, type FieldError, type Refusal } from "../../api";
import { OrganizationKind } from "../../gen/estate/common/v1/common_pb";
import { OrganizationsService } from "../../gen/estate/customers/v1/organizations_pb";
import { Refused } from "../../ui/Refused";

/** The server's batch limit (BatchCreateOrganizationsRequest.requests: 1..100). */
const MAX_BATCH = 100;

interface Line {
  /** 1-based line number in the text area. */
  number: number;
  displayName: string;
  externalId: string;
}

/** Parses `name` or `name,external id`; a name holding a comma may be quoted (`"Acme, Inc.",A-1`). */
function parseLine(text: string): { displayName: string; externalId: string } {
  const line = text.trim();
  if (line.startsWith('"')) {
    let name = "";
    let i = 1;
    for (; i < line.length; i++) {
      if (line[i] === '"') {
        if (line[i + 1] === '"') {
          name += '"';
          i++;
        } else break;
      } else name += line[i];
    }
    const rest = line.slice(i + 1).trim();
    return { displayName: name.trim(), externalId: rest.startsWith(",") ? rest.slice(1).trim() : rest };
  }
  const comma = line.indexOf(",");
  if (comma < 0) return { displayName: line, externalId: "" };
  return { displayName: line.slice(0, comma).trim(), externalId: line.slice(comma + 1).trim() };
}

/** A random UUID (v4); crypto.randomUUID needs a secure context, getRandomValues does not. */
function newRequestId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function parseLines(text: string): Line[] {
  const lines: Line[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    if (raw.trim() === "") return;
    lines.push({ number: index + 1, ...parseLine(raw) });
  });
  return lines;
}

interface LocatedError extends FieldError {
  line?: number;
}

/** Which text-area line a server field names (`requests[3]...`, or `organization...` for a single create). */
function locate(fields: FieldError[], lines: Line[]): LocatedError[] {
  return fields.map((f) => {
    const batch = /^requests\[(\d+)\]/.exec(f.field);
    if (batch) return { ...f, line: lines[Number(batch[1])]?.number };
    if (lines.length === 1 && /^(organization|request_id)/.test(f.field)) return { ...f, line: lines[0].number };
    return f;
  });
}

export function AddCustomers({ partner, onCreated }: { partner: string; onCreated: (count: number) => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const opener = useRef<HTMLButtonElement>(null);
  const textArea = useRef<HTMLTextAreaElement>(null);
  const [text, setText] = useState("");
  const [ownerEmail, setOwnerEmail] = useState("");
  const [ownerName, setOwnerName] = useState("");
  const [formError, setFormError] = useState("");
  const [refused, setRefused] = useState<Refusal | null>(null);
  const [errors, setErrors] = useState<LocatedError[]>([]);
  const [busy, setBusy] = useState(false);
  // Request ids per row (its content and occurrence), kept while the dialog's rows stay.
  const requestIds = useRef(new Map<string, string>());

  const lines = parseLines(text);

  function open() {
    setFormError("");
    setRefused(null);
    setErrors([]);
    dialog.current?.showModal();
    textArea.current?.focus();
  }

  function close() {
    dialog.current?.close();
  }

  function requestIdsFor(rows: Line[]): string[] {
    const seen = new Map<string, number>();
    return rows.map((row) => {
      const base = JSON.stringify([row.displayName, row.externalId, ownerEmail.trim(), ownerName.trim()]);
      const occurrence = (seen.get(base) ?? 0) + 1;
      seen.set(base, occurrence);
      const key = `${base}#${occurrence}`;
      let id = requestIds.current.get(key);
      if (!id) {
        id = newRequestId();
        requestIds.current.set(key, id);
      }
      return id;
    });
  }

  async function submit(event: Event) {
    event.preventDefault();
    setFormError("");
    setRefused(null);
    setErrors([]);
    if (lines.length === 0) {
      setFormError("Enter at least one customer name, one per line.");
      return;
    }
    if (lines.length > MAX_BATCH) {
      setFormError(`At most ${MAX_BATCH} customers can be added at once; there are ${lines.length} lines.`);
      return;
    }
    const ids = requestIdsFor(lines);
    const initialOwner = { email: ownerEmail.trim(), displayName: ownerName.trim() };
    const requests = lines.map((line, i) => ({
      parent: partner,
      organization: {
        kind: OrganizationKind.CUSTOMER,
        displayName: line.displayName,
        externalId: line.externalId,
      },
      requestId: ids[i],
      initialOwner,
    }));
    setBusy(true);
    try {
      const organizations = OrganizationsService;
      if (requests.length === 1) {
        await client(organizations).createOrganization(requests[0]);
      } else {
        await client(organizations).batchCreateOrganizations({ parent: partner, requests });
      }
      requestIds.current.clear();
      setText("");
      close();
      onCreated(requests.length);
    } catch (error) {
      const r = refusal(error);
      setRefused({ ...r, fields: [] });
      setErrors(locate(r.fields, lines));
    } finally {
      setBusy(false);
    }
  }

  const ownerErrors = (which: "email" | "display_name") =>
    errors.filter((e) => new RegExp(`initial_owner\\.${which}$`).test(e.field));
  const tooMany = lines.length > MAX_BATCH;

  return (
    <>
      <button type="button" id="add-customers" ref={opener} onClick={open}>
        Add customers
      </button>
      <dialog
        id="add-customers-dialog"
        ref={dialog}
        aria-labelledby="add-customers-heading"
        onClose={() => opener.current?.focus()}
      >
        <form class="stacked add-customers" onSubmit={submit} noValidate>
          <div class="dialog-head">
            <h2 id="add-customers-heading">Add managed customers</h2>
            <button type="button" class="link" onClick={close} aria-label="Close">
              Close
            </button>
          </div>
          <label for="new-customers">Customers, one per line</label>
          <p class="muted hint" id="new-customers-hint">
            A name, or <code>name,external id</code>. Quote a name that holds a comma: <code>"Acme, Inc.",A-1</code>. Up
            to {MAX_BATCH} at once: all are created or none.
          </p>
          <textarea
            id="new-customers"
            ref={textArea}
            rows={8}
            value={text}
            aria-describedby="new-customers-hint new-customers-count"
            aria-invalid={tooMany || errors.some((e) => e.line !== undefined) ? "true" : undefined}
            onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
          />
          <p id="new-customers-count" class={tooMany ? "field-error" : "muted"}>
            {lines.length} customer{lines.length === 1 ? "" : "s"}
            {tooMany && ` — more than ${MAX_BATCH}`}
          </p>

          <fieldset class="owner">
            <legend>First owner of each new customer</legend>
            <label for="owner-email">Owner email</label>
            <input
              id="owner-email"
              type="email"
              required
              autoComplete="off"
              value={ownerEmail}
              aria-describedby="owner-email-errors"
              onInput={(e) => setOwnerEmail((e.target as HTMLInputElement).value)}
            />
            <FieldErrors id="owner-email-errors" errors={ownerErrors("email")} />
            <label for="owner-name">Owner name</label>
            <input
              id="owner-name"
              type="text"
              required
              maxLength={256}
              autoComplete="off"
              value={ownerName}
              aria-describedby="owner-name-errors"
              onInput={(e) => setOwnerName((e.target as HTMLInputElement).value)}
            />
            <FieldErrors id="owner-name-errors" errors={ownerErrors("display_name")} />
          </fieldset>

          {formError && (
            <p class="field-error" id="add-customers-error" role="alert">
              {formError}
            </p>
          )}
          <Refused refusal={refused} />
          {errors.length > 0 && (
            <ul id="create-errors" class="create-errors">
              {errors.map((e, i) => (
                <li key={`${e.field}-${i}`} class="field-error" data-line={e.line}>
                  {e.line !== undefined && <strong>Line {e.line}: </strong>}
                  <code>{e.field}</code>: {e.description}
                </li>
              ))}
            </ul>
          )}

          <div class="dialog-actions">
            <button type="button" class="secondary" onClick={close}>
              Cancel
            </button>
            <button type="submit" id="create-customers" disabled={busy}>
              {busy ? "Creating…" : lines.length > 1 ? `Create ${lines.length} customers` : "Create customer"}
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}

function FieldErrors({ id, errors }: { id: string; errors: FieldError[] }) {
  return (
    <span id={id} class="field-error">
      {errors.map((e) => e.description).join("; ")}
    </span>
  );
}
