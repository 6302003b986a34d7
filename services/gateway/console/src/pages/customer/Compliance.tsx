// License compliance: calculate now (with the streamed progress), the
// latest run, compliance per application, family or node (shortfalls
// first, the API's order), the assignments found invalid and the licenses
// with unassigned units.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { client, refusal, type Refusal } from "../../api";
import {
  CalculationPhase,
  ComplianceLevel,
  ComplianceService,
  LicenseComplianceStatus,
  RunState,
  RunTrigger,
  type CalculationProgress,
  type ComplianceFigures,
  type ComplianceRow,
  type ComplianceRun,
} from "../../gen/estate/licensing/v1/compliance_pb";
import { href, replaceQuery, route } from "../../router";
import { dateTime, enumLabel } from "../../ui/format";
import { Refused } from "../../ui/Refused";
import { Label, useLabel } from "./labels";
import { reasonText } from "./LicenseDetails";
import { customerParent, ListStatus, num, Pager, PAGE_SIZE, SortHeader, sortOrder, useLoad, usePaging } from "./shared";
import "./customer.css";

/** The phases a calculation goes through, in order (DONE last). */
const PHASES = [
  CalculationPhase.READING,
  CalculationPhase.VALIDATING,
  CalculationPhase.REQUIREMENTS,
  CalculationPhase.UPGRADES,
  CalculationPhase.ASSIGNMENTS,
  CalculationPhase.FIXED_POOLS,
  CalculationPhase.AUTOMATIC_ALLOCATION,
  CalculationPhase.RESULTS,
  CalculationPhase.STORING,
];

const LEVELS: Record<string, { level: ComplianceLevel; text: string }> = {
  application: { level: ComplianceLevel.APPLICATION, text: "Application" },
  family: { level: ComplianceLevel.FAMILY, text: "Family" },
  node: { level: ComplianceLevel.NODE, text: "Organization node and application" },
};

/** ListCompliance's order_by columns. */
const SORTABLE: Record<string, string> = {
  requirement: "Requirement",
  coverage: "Coverage",
  compliance: "Compliance",
};

function phaseName(phase: CalculationPhase): string {
  return enumLabel(CalculationPhase[phase], "");
}

function RunState_({ run }: { run: ComplianceRun }) {
  switch (run.state) {
    case RunState.SUCCEEDED:
      return <span class="chip synced">Succeeded</span>;
    case RunState.RUNNING:
      return <span class="chip pending">Running</span>;
    case RunState.FAILED:
      return <span class="chip disabled">Failed</span>;
    default:
      return <span class="chip">Unknown</span>;
  }
}

function Fact({ term, children }: { term: string; children: ComponentChildren }) {
  return (
    <div>
      <dt>{term}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function RunSummary({ run, id, title }: { run: ComplianceRun; id: string; title: string }) {
  const totals = run.totals;
  return (
    <div class="run" id={id} data-run={run.name} data-state={RunState[run.state]}>
      <strong>{title}</strong> <RunState_ run={run} />{" "}
      <span class="muted">{run.trigger === RunTrigger.SCHEDULED ? "scheduled" : run.trigger === RunTrigger.ON_DEMAND ? "on demand" : ""}</span>
      <dl>
        <Fact term="Started">{dateTime(run.startTime)}</Fact>
        <Fact term="Finished">{run.endTime ? dateTime(run.endTime) : "not yet"}</Fact>
        <Fact term="Computers read">{num(run.computers)}</Fact>
        <Fact term="Installations read">{num(run.installations)}</Fact>
        <Fact term="Licenses read">{num(run.licenses)}</Fact>
        {totals && run.state === RunState.SUCCEEDED && (
          <>
            <Fact term="Requirement (all applications)">{num(totals.requirement)}</Fact>
            <Fact term="Coverage">{num(totals.coverage)}</Fact>
            <Fact term="Compliance">{complianceText(totals)}</Fact>
          </>
        )}
      </dl>
      {run.error && (
        <p class="refused" role="alert">
          The run failed: {run.error}
        </p>
      )}
    </div>
  );
}

function complianceText(f: ComplianceFigures): string {
  if (f.compliance < 0n) return `${num(-f.compliance)} short`;
  if (f.compliance > 0n) return `${num(f.compliance)} surplus`;
  return "Compliant (0)";
}

export function Compliance() {
  const parent = customerParent();
  // Bumped when a calculation finishes: every list reloads from the new run.
  const [generation, setGeneration] = useState(0);
  const latest = useLoad(() => client(ComplianceService).listComplianceRuns({ parent, pageSize: 1 }), [parent, generation]);
  const latestRun = latest.data?.runs[0];

  const finished = () => {
    // Page tokens name the run they were issued for: start the lists over.
    replaceQuery({
      page: undefined,
      "page-prev": undefined,
      ipage: undefined,
      "ipage-prev": undefined,
      upage: undefined,
      "upage-prev": undefined,
    });
    setGeneration((g) => g + 1);
  };

  return (
    <section aria-labelledby="compliance-title">
      <h1 id="compliance-title">License compliance</h1>
      <p class="muted">
        For every application, family and organization node: how many licenses are required, how many cover, and the
        difference. Results come from the latest successful calculation; the service also calculates on a schedule.
      </p>

      <Calculate onFinished={finished} />

      <h2 id="latest-run-title">Latest run</h2>
      <Refused refusal={latest.refused} />
      {latest.loading && !latest.data && <p class="muted">Loading the latest run…</p>}
      {latest.data && !latestRun && (
        <p class="muted" id="latest-run">
          Compliance has not been calculated yet.
        </p>
      )}
      {latestRun && <RunSummary run={latestRun} id="latest-run" title={`Run of ${dateTime(latestRun.startTime)}`} />}

      <ComplianceTable generation={generation} latestRun={latestRun} />
      <InvalidAssignments generation={generation} />
      <UnassignedLicenses generation={generation} />
    </section>
  );
}

function Calculate({ onFinished }: { onFinished: () => void }) {
  const [running, setRunning] = useState(false);
  const [progress, setProgress] = useState<CalculationProgress | null>(null);
  const [run, setRun] = useState<ComplianceRun | null>(null);
  const [refused, setRefused] = useState<Refusal | null>(null);
  const abort = useRef<AbortController | null>(null);

  // Leaving the page stops listening (the run itself finishes on the server).
  useEffect(() => () => abort.current?.abort(), []);

  const start = async () => {
    const controller = new AbortController();
    abort.current = controller;
    setRunning(true);
    setRefused(null);
    setRun(null);
    setProgress(null);
    let last: ComplianceRun | null = null;
    try {
      for await (const message of client(ComplianceService).calculateCompliance(
        { parent: customerParent() },
        { signal: controller.signal },
      )) {
        setProgress(message);
        if (message.run) last = message.run;
      }
      setRun(last);
      onFinished();
    } catch (error) {
      if (!controller.signal.aborted) {
        setRefused(refusal(error));
        onFinished();
      }
    } finally {
      if (!controller.signal.aborted) setRunning(false);
    }
  };

  const phase = progress?.phase ?? CalculationPhase.UNSPECIFIED;
  const done = progress ? Number(progress.done) : 0;
  const total = progress ? Number(progress.total) : 0;
  const isDone = phase === CalculationPhase.DONE;
  const percent = isDone ? 100 : total > 0 ? Math.min(100, Math.floor((done * 100) / total)) : 0;
  const step = PHASES.indexOf(phase) + 1;
  let phaseText = "";
  if (running && !progress) phaseText = "Starting the calculation…";
  else if (isDone) phaseText = "Done: 100%. The results below are from this run.";
  else if (progress)
    phaseText = `Phase ${step} of ${PHASES.length}: ${phaseName(phase)} — ${percent}%${total > 0 ? ` (${num(done)} of ${num(total)})` : ""}`;
  else if (refused) phaseText = "The calculation did not finish.";

  return (
    <div class="calc">
      <button type="button" id="calculate" onClick={start} disabled={running}>
        {running ? "Calculating…" : "Calculate compliance now"}
      </button>
      {(running || progress || refused) && (
        <>
          <progress
            id="calc-progress"
            max={isDone ? 1 : total > 0 ? total : 100}
            value={isDone ? 1 : total > 0 ? done : 0}
            aria-labelledby="calc-phase"
            data-phase={CalculationPhase[phase]}
          >
            {percent}%
          </progress>
          <p id="calc-phase" aria-live="polite" data-phase={CalculationPhase[phase]} data-percent={percent}>
            {phaseText}
          </p>
        </>
      )}
      <Refused refusal={refused} />
      {run && <RunSummary run={run} id="calc-result" title="This calculation" />}
    </div>
  );
}

function ComplianceTable({ generation, latestRun }: { generation: number; latestRun: ComplianceRun | undefined }) {
  const query = route.value.query;
  const levelKey = LEVELS[query.get("level") ?? ""] ? (query.get("level") as string) : "application";
  const level = LEVELS[levelKey].level;
  const onlyShortfalls = query.get("shortfalls") === "1";
  const paging = usePaging("page");
  // The API's default: compliance ascending (shortfalls first).
  const order = sortOrder(SORTABLE, "compliance", paging);
  const orderBy = order.orderBy;
  const parent = customerParent();
  const list = useLoad(
    () =>
      client(ComplianceService).listCompliance({
        parent,
        level,
        onlyShortfalls,
        orderBy,
        pageSize: PAGE_SIZE,
        pageToken: paging.token,
      }),
    [parent, level, onlyShortfalls, orderBy, paging.token, generation],
  );
  const rows = list.data?.rows ?? [];
  const resultRun = list.data?.run ?? "";
  const title = `Compliance by ${LEVELS[levelKey].text.toLowerCase()}`;
  return (
    <>
      <h2 id="compliance-table-title">{title}</h2>
      <div class="toolbar filters">
        <div class="field">
          <label for="compliance-level">Group by</label>
          <select
            id="compliance-level"
            value={levelKey}
            onChange={(e) => replaceQuery({ level: e.currentTarget.value === "application" ? undefined : e.currentTarget.value, ...paging.changes() })}
          >
            {Object.entries(LEVELS).map(([key, l]) => (
              <option key={key} value={key}>
                {l.text}
              </option>
            ))}
          </select>
        </div>
        <label>
          <input
            type="checkbox"
            id="only-shortfalls"
            checked={onlyShortfalls}
            onChange={(e) => replaceQuery({ shortfalls: e.currentTarget.checked ? "1" : undefined, ...paging.changes() })}
          />
          Only shortfalls
        </label>
      </div>
      {resultRun && latestRun && resultRun !== latestRun.name && (
        <p class="muted" id="results-run">
          These results come from the latest successful run (<code class="resource-id">{resultRun}</code>), not the
          latest run.
        </p>
      )}
      <ListStatus list={list} paging={paging} loading="Loading compliance…" />
      {list.data && !list.data.run && (
        <p class="muted" id="compliance-empty">
          No results yet: calculate compliance to see them.
        </p>
      )}
      {list.data && list.data.run && rows.length === 0 && !paging.hasPrevious && (
        <p class="muted" id="compliance-empty">
          {onlyShortfalls ? "No shortfalls." : "No requirements or licenses in the latest run."}
        </p>
      )}
      {(rows.length > 0 || (paging.hasPrevious && list.data?.run)) && (
        <div class="table-wrap">
          <table id="compliance" aria-labelledby="compliance-table-title" aria-busy={list.loading} data-level={levelKey}>
            <caption class="visually-hidden">{title}, shortfalls first unless sorted otherwise</caption>
            <thead>
              <tr>
                {level === ComplianceLevel.NODE && <th scope="col">Node</th>}
                <th scope="col">{level === ComplianceLevel.FAMILY ? "Family" : "Application"}</th>
                {level !== ComplianceLevel.FAMILY && <th scope="col">Family</th>}
                <th scope="col" class="num">
                  Initial requirement
                </th>
                <th scope="col" class="num">
                  Adjustments
                </th>
                <SortHeader order={order} column="requirement" numeric />
                <SortHeader order={order} column="coverage" numeric />
                <SortHeader order={order} column="compliance" numeric />
                <th scope="col" class="num">
                  Shortfall
                </th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row, i) => (
                <ComplianceRowView key={`${row.node}|${row.application}|${row.family}|${i}`} row={row} level={level} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager paging={paging} nextToken={list.data?.nextPageToken} label="Compliance" loading={list.loading} />
    </>
  );
}

function ComplianceRowView({ row, level }: { row: ComplianceRow; level: ComplianceLevel }) {
  const f = row.figures;
  const application = useLabel(row.application);
  const family = useLabel(row.family);
  const compliance = f?.compliance ?? 0n;
  const shortfall = compliance < 0n ? -compliance : 0n;
  return (
    <tr
      data-application={level === ComplianceLevel.FAMILY ? undefined : row.application}
      data-application-name={level === ComplianceLevel.FAMILY ? undefined : (application ?? undefined)}
      data-family={row.family}
      data-family-name={family ?? undefined}
      data-node={row.node || undefined}
      data-shortfall={shortfall > 0n ? "true" : undefined}
    >
      {level === ComplianceLevel.NODE && (
        <td>
          <Label name={row.node} />
        </td>
      )}
      <th scope="row" class="partner-cell">
        <Label name={level === ComplianceLevel.FAMILY ? row.family : row.application} />
      </th>
      {level !== ComplianceLevel.FAMILY && (
        <td>
          <Label name={row.family} />
        </td>
      )}
      <td class="num" data-col="initial_requirement">
        {num(f?.initialRequirement)}
      </td>
      <td class="num" data-col="adjustments">
        {num(f?.adjustments)}
      </td>
      <td class="num" data-col="requirement">
        {num(f?.requirement)}
      </td>
      <td class="num" data-col="coverage">
        {num(f?.coverage)}
        {f?.unlimited && <span class="muted"> (unlimited)</span>}
      </td>
      <td class={`num ${compliance < 0n ? "shortfall" : compliance > 0n ? "surplus" : ""}`} data-col="compliance" data-value={compliance.toString()}>
        {compliance > 0n ? "+" : ""}
        {num(compliance)}
      </td>
      <td class={`num ${shortfall > 0n ? "shortfall" : ""}`} data-col="shortfall" data-value={shortfall.toString()}>
        {num(shortfall)}
      </td>
      <td data-col="status">
        {shortfall > 0n ? (
          <span class="chip disabled">Shortfall</span>
        ) : compliance > 0n ? (
          <span class="chip synced">Surplus</span>
        ) : (
          <span class="chip synced">Compliant</span>
        )}
      </td>
    </tr>
  );
}

function licenseLink(license: string): string {
  return href(["licenses"], { license, archived: "1" });
}

function LicenseLink({ license }: { license: string }) {
  return (
    <a href={licenseLink(license)}>
      <Label name={license} />
    </a>
  );
}

function InvalidAssignments({ generation }: { generation: number }) {
  const paging = usePaging("ipage");
  const parent = customerParent();
  const list = useLoad(
    () => client(ComplianceService).listInvalidAssignments({ parent, pageSize: PAGE_SIZE, pageToken: paging.token }),
    [parent, paging.token, generation],
  );
  const rows = list.data?.invalidAssignments ?? [];
  return (
    <section id="invalid-assignments" aria-labelledby="invalid-title">
      <h2 id="invalid-title">Invalid license assignments</h2>
      <p class="muted">
        Assignments of computer and user licenses that no longer match what they are assigned to, as the latest
        successful run found them.
      </p>
      <ListStatus list={list} paging={paging} loading="Loading invalid assignments…" />
      {list.data && !list.data.run && <p class="muted">No results yet: calculate compliance to see them.</p>}
      {list.data && list.data.run && rows.length === 0 && !paging.hasPrevious && (
        <p class="muted">No invalid assignments.</p>
      )}
      {rows.length > 0 && (
        <div class="table-wrap">
          <table aria-labelledby="invalid-title" aria-busy={list.loading} id="invalid-assignments-table">
            <thead>
              <tr>
                <th scope="col">License</th>
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
                <tr key={`${r.assignment}-${r.reason}`} data-assignment={r.assignment} data-license={r.license}>
                  <td>
                    <LicenseLink license={r.license} />
                  </td>
                  <td>
                    {r.computer ? (
                      <>
                        Computer <Label name={r.computer} />
                      </>
                    ) : (
                      <>
                        User <Label name={r.user} />
                      </>
                    )}
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
      <Pager paging={paging} nextToken={list.data?.nextPageToken} label="Invalid assignments" idPrefix="invalid-" loading={list.loading} />
    </section>
  );
}

function statusChip(status: LicenseComplianceStatus) {
  const text = enumLabel(LicenseComplianceStatus[status], "");
  const kind = status === LicenseComplianceStatus.VALID ? "synced" : status === LicenseComplianceStatus.ARCHIVED ? "disabled" : "warning";
  return <span class={`chip ${kind}`}>{text}</span>;
}

function UnassignedLicenses({ generation }: { generation: number }) {
  const paging = usePaging("upage");
  const parent = customerParent();
  const list = useLoad(
    () =>
      client(ComplianceService).listLicenseCompliance({
        parent,
        onlyUnassigned: true,
        pageSize: PAGE_SIZE,
        pageToken: paging.token,
      }),
    [parent, paging.token, generation],
  );
  const rows = list.data?.licenses ?? [];
  return (
    <section id="unassigned-licenses" aria-labelledby="unassigned-title">
      <h2 id="unassigned-title">Unassigned licenses</h2>
      <p class="muted">
        Computer and user licenses with units not assigned to anyone yet (as of the latest successful run).
      </p>
      <ListStatus list={list} paging={paging} loading="Loading unassigned licenses…" />
      {list.data && !list.data.run && <p class="muted">No results yet: calculate compliance to see them.</p>}
      {list.data && list.data.run && rows.length === 0 && !paging.hasPrevious && (
        <p class="muted">Every computer and user license is fully assigned.</p>
      )}
      {rows.length > 0 && (
        <div class="table-wrap">
          <table aria-labelledby="unassigned-title" aria-busy={list.loading} id="unassigned-licenses-table">
            <thead>
              <tr>
                <th scope="col">License</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">
                  Effective quantity
                </th>
                <th scope="col" class="num">
                  Assigned
                </th>
                <th scope="col" class="num">
                  Unassigned
                </th>
                <th scope="col" class="num">
                  Used
                </th>
                <th scope="col" class="num">
                  Invalid assignments
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((l) => (
                <tr key={l.license} data-license={l.license}>
                  <td>
                    <LicenseLink license={l.license} />
                  </td>
                  <td>{statusChip(l.status)}</td>
                  <td class="num">{l.unlimited ? "Unlimited" : num(l.effectiveQuantity)}</td>
                  <td class="num">{num(l.assigned)}</td>
                  <td class="num" data-col="unassigned">
                    {num(l.unassigned)}
                  </td>
                  <td class="num">{num(l.used)}</td>
                  <td class="num">
                    {num(l.invalidAssignments)}
                    {l.invalidUnits > 0n && <span class="muted"> ({num(l.invalidUnits)} units)</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager paging={paging} nextToken={list.data?.nextPageToken} label="Unassigned licenses" idPrefix="unassigned-" loading={list.loading} />
    </section>
  );
}
