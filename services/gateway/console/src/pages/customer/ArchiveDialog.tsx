// Confirmation of archiving or unarchiving a license, with the options
// ArchiveLicense / UnarchiveLicense offer and what each takes along; after
// the call it says what the server archived (or brought back).
import { useEffect, useRef, useState } from "preact/hooks";
import { client, refusal, type Refusal } from "../../api";
import { AgreementsService } from "../../gen/estate/licensing/v1/agreements_pb";
import { LicensesService, type License } from "../../gen/estate/licensing/v1/licenses_pb";
import { Refused } from "../../ui/Refused";
import { Label } from "./labels";
import { restoreFocus } from "./shared";

export type ArchiveAction = "archive" | "unarchive";

interface Outcome {
  title: string;
  lists: { heading: string; names: string[] }[];
}

function NameList({ heading, names }: { heading: string; names: string[] }) {
  if (names.length === 0) return null;
  return (
    <>
      <h3>{heading}</h3>
      <ul>
        {names.map((n) => (
          <li key={n}>
            <Label name={n} /> <code class="resource-id">{n}</code>
          </li>
        ))}
      </ul>
    </>
  );
}

export function ArchiveDialog({
  action,
  license,
  onChanged,
  onClose,
}: {
  action: ArchiveAction;
  license: License;
  onChanged: () => void;
  onClose: () => void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const opener = useRef<Element | null>(document.activeElement);
  const [first, setFirst] = useState(false);
  const [second, setSecond] = useState(false);
  const [busy, setBusy] = useState(false);
  const [refused, setRefused] = useState<Refusal | null>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [agreementLicenses, setAgreementLicenses] = useState<bigint | null>(null);

  useEffect(() => {
    const el = dialog.current;
    if (el && !el.open) el.showModal();
    const saved = opener.current;
    return () => restoreFocus(saved, "#licenses-title");
  }, []);

  useEffect(() => {
    if (action !== "archive" || !license.agreement) return;
    client(AgreementsService)
      .getAgreement({ name: license.agreement })
      .then((a) => setAgreementLicenses(a.licenseCount))
      .catch(() => setAgreementLicenses(null));
  }, [license.agreement, action]);

  const close = () => {
    dialog.current?.close();
  };

  const confirm = async () => {
    setBusy(true);
    setRefused(null);
    try {
      if (action === "archive") {
        const done = await client(LicensesService).archiveLicense({
          name: license.name,
          includeConnectedLicenses: first,
          includeAgreement: second,
        });
        setOutcome({
          title: "Archived",
          lists: [
            { heading: "Licenses archived", names: done.archivedLicenses },
            { heading: "Agreements archived", names: done.archivedAgreements },
            { heading: "Upgrades left unarchived, now incomplete (their base is archived)", names: done.incompleteLicenses },
          ],
        });
      } else {
        const done = await client(LicensesService).unarchiveLicense({
          name: license.name,
          includeArchivedTogether: first,
          includeConnectedLicenses: second,
        });
        setOutcome({
          title: "Unarchived",
          lists: [
            { heading: "Licenses unarchived", names: done.unarchivedLicenses },
            { heading: "Agreements unarchived", names: done.unarchivedAgreements },
          ],
        });
      }
      onChanged();
    } catch (error) {
      setRefused(refusal(error));
    } finally {
      setBusy(false);
    }
  };

  const id = `${action}-dialog`;
  const bases = license.upgradeOf.map((u) => u.base);
  return (
    <dialog ref={dialog} id={id} aria-labelledby={`${id}-title`} onClose={onClose}>
      <h2 id={`${id}-title`}>
        {action === "archive" ? "Archive license" : "Unarchive license"}: <Label name={license.application || license.family} empty="license" />
      </h2>
      <p class="muted">
        <code class="resource-id">{license.name}</code>
      </p>
      {outcome ? (
        <div role="status" class="outcome">
          <p>
            <strong>{outcome.title}.</strong>
          </p>
          {outcome.lists.map((l) => (
            <NameList key={l.heading} heading={l.heading} names={l.names} />
          ))}
        </div>
      ) : action === "archive" ? (
        <>
          <p>
            An archived license stays readable but is left out of compliance calculations. Upgrades of it that stay
            unarchived become incomplete, since their base is missing.
          </p>
          <div class="options">
            <label>
              <input type="checkbox" id="archive-connected" checked={first} onChange={(e) => setFirst(e.currentTarget.checked)} />
              <span>
                Also archive the connected licenses: the base licenses it upgrades
                {bases.length > 0 ? (
                  <>
                    {" "}
                    (
                    {bases.map((b, i) => (
                      <span key={b}>
                        {i > 0 && ", "}
                        <Label name={b} />
                      </span>
                    ))}
                    )
                  </>
                ) : (
                  " (it upgrades none)"
                )}{" "}
                and the upgrade licenses of it, transitively.
              </span>
            </label>
            <label>
              <input type="checkbox" id="archive-agreement" checked={second} onChange={(e) => setSecond(e.currentTarget.checked)} />
              <span>
                Also archive its agreement
                {license.agreement ? (
                  <>
                    {" "}
                    (<Label name={license.agreement} />
                    {agreementLicenses !== null && `, ${agreementLicenses.toLocaleString()} licenses on it`}) and that
                    agreement's other licenses
                  </>
                ) : (
                  " (it has none) and the agreement's other licenses"
                )}
                ; together with the first option, the agreements of every connected license too.
              </span>
            </label>
          </div>
        </>
      ) : (
        <>
          <p>
            An unarchived license counts in compliance again and is reconnected to its agreement (which comes back
            too). Its archived base and upgrade licenses must come back with it: without one of these options that
            includes them, the server refuses and names them.
          </p>
          <div class="options">
            <label>
              <input type="checkbox" id="unarchive-together" checked={first} onChange={(e) => setFirst(e.currentTarget.checked)} />
              <span>Also unarchive everything archived together with it (the licenses and agreements of the same archive action).</span>
            </label>
            <label>
              <input type="checkbox" id="unarchive-connected" checked={second} onChange={(e) => setSecond(e.currentTarget.checked)} />
              <span>Also unarchive its archived base and upgrade licenses, transitively, whenever they were archived.</span>
            </label>
          </div>
        </>
      )}
      <Refused refusal={refused} />
      <div class="form-actions">
        {!outcome && (
          <button type="button" id={`confirm-${action}`} disabled={busy} onClick={confirm}>
            {busy ? "Working…" : action === "archive" ? "Archive" : "Unarchive"}
          </button>
        )}
        <button type="button" class="secondary close-dialog" onClick={close}>
          {outcome ? "Close" : "Cancel"}
        </button>
      </div>
    </dialog>
  );
}
