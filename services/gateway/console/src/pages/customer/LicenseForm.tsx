// The license form, for a new license (CreateLicense) or an existing one
// (UpdateLicense with the changed fields as its update mask). What it asks
// for follows the customer's license policy: which fields are required,
// their descriptions and their allowed values. Nothing is checked here
// that the server judges: every field violation the server names is shown
// at once, next to its input.
import type { ComponentChildren, JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { client, refusal, type FieldError, type Refusal } from "../../api";
import {
  AssignmentType,
  LicenseSchema,
  LicensesService,
  Metric,
  type License,
} from "../../gen/estate/licensing/v1/licenses_pb";
import type { LicensePolicy, LicensingSettings, PolicyField } from "../../gen/estate/licensing/v1/policy_pb";
import { CatalogService } from "../../gen/estate/licensing/v1/catalog_pb";
import { OrganizationStructureService } from "../../gen/estate/licensing/v1/org_structure_pb";
import { AgreementKind, AgreementsService } from "../../gen/estate/licensing/v1/agreements_pb";
import { enumLabel } from "../../ui/format";
import { Refused } from "../../ui/Refused";
import { applicationLabel, useLabel, shortId } from "./labels";
import { customerParent, requestId } from "./shared";

type LicenseInit = MessageInitShape<typeof LicenseSchema>;
type Values = Record<string, string>;

/** Writable License fields, as UpdateLicense's mask names them. */
const PATHS = [
  "application",
  "family",
  "metric",
  "assignment_type",
  "quantity",
  "legal_owner",
  "purchase_date",
  "price",
  "vendor",
  "invoice_reference",
  "custom_fields",
  "automatic_allocation",
  "downgrade_rights",
  "minimum_per_computer",
  "upgrade_of",
  "subscription",
  "agreement",
] as const;
type Path = (typeof PATHS)[number];

/** Fields a license needs to count in compliance (saved as incomplete without them when the customer allows it). */
const COMPLETENESS = new Set(["application", "metric", "assignment_type", "quantity", "legal_owner", "purchase_date"]);

/** The standard policy fields, when the policy could not be read. */
const STANDARD_POLICY = ["vendor", "invoice_reference", "purchase_date", "price", "agreement"];

const METRICS = Object.values(Metric).filter((v): v is Metric => typeof v === "number" && v !== Metric.UNSPECIFIED);
const ASSIGNMENT_TYPES = Object.values(AssignmentType).filter(
  (v): v is AssignmentType => typeof v === "number" && v !== AssignmentType.UNSPECIFIED,
);

const ASSIGNMENT_HELP: Record<number, string> = {
  [AssignmentType.ORGANIZATION]: "Covers automatically within the nodes it is allocated to.",
  [AssignmentType.SITE]: "Like organization; never invalid.",
  [AssignmentType.COMPUTER]: "Covers only the computers/datacenters it is assigned to.",
  [AssignmentType.USER]: "Covers only the users it is assigned to.",
};

function fractionDigits(currency: string): number {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

/** Minor units as a decimal amount of `currency`. */
function fromMinor(minor: bigint, currency: string): string {
  const digits = fractionDigits(currency);
  if (digits === 0) return minor.toString();
  const negative = minor < 0n;
  const text = (negative ? -minor : minor).toString().padStart(digits + 1, "0");
  return `${negative ? "-" : ""}${text.slice(0, -digits)}.${text.slice(-digits)}`;
}

/** A decimal amount as minor units, or null when it is not one. */
function toMinor(amount: string, currency: string): bigint | null {
  const digits = fractionDigits(currency);
  const match = /^(-?)(\d+)(?:[.,](\d*))?$/.exec(amount.trim());
  if (!match) return null;
  const fraction = match[3] ?? "";
  if (fraction.length > digits) return null;
  return BigInt(`${match[1]}${match[2]}${fraction.padEnd(digits, "0")}`);
}

function initialValues(license: License | null): Values {
  const values: Values = {
    covers: license?.family ? "family" : "application",
    application: license?.application ?? "",
    family: license?.family ?? "",
    metric: String(license?.metric ?? Metric.UNSPECIFIED),
    assignment_type: String(license?.assignmentType ?? AssignmentType.UNSPECIFIED),
    quantity: license?.quantity?.kind.case === "count" ? license.quantity.kind.value.toString() : "",
    unlimited: license?.quantity?.kind.case === "unlimited" ? "true" : "",
    minimum_per_computer: license?.minimumPerComputer ? String(license.minimumPerComputer) : "",
    legal_owner: license?.legalOwner ?? "",
    automatic_allocation: license?.automaticAllocation ? "true" : "",
    downgrade_rights: license?.downgradeRights ? "true" : "",
    purchase_date: license?.purchaseDate ?? "",
    vendor: license?.vendor ?? "",
    invoice_reference: license?.invoiceReference ?? "",
    agreement: license?.agreement ?? "",
    "price.currency_code": license?.price?.currencyCode ?? "",
    "price.amount": license?.price ? fromMinor(license.price.amountMinor, license.price.currencyCode) : "",
    "subscription.start_date": license?.subscription?.startDate ?? "",
    "subscription.end_date": license?.subscription?.endDate ?? "",
  };
  for (const [key, value] of Object.entries(license?.customFields ?? {})) values[`custom_fields.${key}`] = value;
  return values;
}

interface UpgradeRow {
  base: string;
  quantity: string;
}

/** The license the form's values describe, and the values it cannot put into a request (as the server would name them). */
function build(values: Values, upgrades: UpgradeRow[]): { init: LicenseInit; local: FieldError[] } {
  const local: FieldError[] = [];
  const init: LicenseInit = {
    application: values.covers === "application" ? values.application : "",
    family: values.covers === "family" ? values.family : "",
    metric: Number(values.metric) as Metric,
    assignmentType: Number(values.assignment_type) as AssignmentType,
    legalOwner: values.legal_owner,
    purchaseDate: values.purchase_date,
    vendor: values.vendor,
    invoiceReference: values.invoice_reference,
    agreement: values.agreement,
    automaticAllocation: values.automatic_allocation === "true",
    downgradeRights: values.downgrade_rights === "true",
  };
  if (values.unlimited === "true") {
    init.quantity = { kind: { case: "unlimited", value: {} } };
  } else if (values.quantity.trim() !== "") {
    if (/^-?\d+$/.test(values.quantity.trim())) {
      init.quantity = { kind: { case: "count", value: BigInt(values.quantity.trim()) } };
    } else {
      local.push({ field: "license.quantity.count", description: "must be a whole number" });
    }
  }
  const minimum = values.minimum_per_computer.trim();
  if (minimum !== "") {
    if (/^-?\d+$/.test(minimum) && Math.abs(Number(minimum)) < 2 ** 31) init.minimumPerComputer = Number(minimum);
    else local.push({ field: "license.minimum_per_computer", description: "must be a whole number" });
  }
  const currency = values["price.currency_code"].trim();
  const amount = values["price.amount"].trim();
  if (currency || amount) {
    const minor = amount ? toMinor(amount, currency) : 0n;
    if (minor === null) {
      local.push({
        field: "license.price.amount_minor",
        description: `must be an amount with at most ${fractionDigits(currency)} decimals, e.g. 1250.00`,
      });
    } else {
      init.price = { currencyCode: currency, amountMinor: minor };
    }
  }
  const start = values["subscription.start_date"];
  const end = values["subscription.end_date"];
  if (start || end) init.subscription = { startDate: start, endDate: end };
  const custom: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    if (key.startsWith("custom_fields.") && value !== "") custom[key.slice("custom_fields.".length)] = value;
  }
  init.customFields = custom;
  init.upgradeOf = [];
  upgrades.forEach((row, index) => {
    if (!row.base && !row.quantity) return;
    if (row.quantity.trim() !== "" && !/^-?\d+$/.test(row.quantity.trim())) {
      local.push({ field: `license.upgrade_of[${index}].quantity`, description: "must be a whole number" });
      return;
    }
    init.upgradeOf?.push({ base: row.base, quantity: BigInt(row.quantity.trim() || "0") });
  });
  return { init, local };
}

/** What a field holds, comparable between two licenses. */
function signature(license: License, path: Path): string {
  switch (path) {
    case "application":
      return license.application;
    case "family":
      return license.family;
    case "metric":
      return String(license.metric);
    case "assignment_type":
      return String(license.assignmentType);
    case "quantity": {
      const kind = license.quantity?.kind;
      return kind?.case === "count" ? `count ${kind.value}` : kind?.case === "unlimited" ? "unlimited" : "";
    }
    case "legal_owner":
      return license.legalOwner;
    case "purchase_date":
      return license.purchaseDate;
    case "price":
      return license.price ? `${license.price.currencyCode} ${license.price.amountMinor}` : "";
    case "vendor":
      return license.vendor;
    case "invoice_reference":
      return license.invoiceReference;
    case "custom_fields":
      return JSON.stringify(Object.entries(license.customFields).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    case "automatic_allocation":
      return String(license.automaticAllocation);
    case "downgrade_rights":
      return String(license.downgradeRights);
    case "minimum_per_computer":
      return String(license.minimumPerComputer);
    case "upgrade_of":
      return JSON.stringify(license.upgradeOf.map((u) => [u.base, u.quantity.toString()]));
    case "subscription":
      return license.subscription ? `${license.subscription.startDate} ${license.subscription.endDate}` : "";
    case "agreement":
      return license.agreement;
  }
}

/** The form input a server field path belongs to (`license.custom_fields["k"]` → `custom_fields.k`). */
function inputKey(field: string): string {
  let key = field.replace(/^license\./, "");
  const custom = /^custom_fields\[(".*")\]$/.exec(key);
  if (custom) {
    try {
      key = `custom_fields.${JSON.parse(custom[1]) as string}`;
    } catch {
      key = "custom_fields";
    }
  }
  if (key.startsWith("quantity")) return "quantity";
  if (key === "price.amount_minor") return "price.amount";
  if (key.startsWith("upgrade_of")) return "upgrade_of";
  return key;
}

interface Choice {
  value: string;
  label?: string;
  /** A resource whose display name labels the choice. */
  labelOf?: string;
  suffix?: string;
}

interface ChoicePage {
  choices: Choice[];
  next: string;
}

function ChoiceOption({ choice }: { choice: Choice }) {
  const looked = useLabel(choice.labelOf ?? "");
  const text = choice.label ?? looked ?? shortId(choice.value);
  return <option value={choice.value}>{choice.suffix ? `${text} ${choice.suffix}` : text}</option>;
}

/** A select over one page of a list at a time ("More choices" asks for the next page), keeping the current value even when not on a loaded page. */
function RefSelect({
  value,
  onChange,
  load,
  reloadKey = "",
  emptyText,
  what,
  a11y,
  name,
}: {
  value: string;
  onChange: (value: string) => void;
  load: (token: string) => Promise<ChoicePage>;
  reloadKey?: string;
  emptyText: string;
  what: string;
  a11y: A11y;
  name: string;
}) {
  const [choices, setChoices] = useState<Choice[]>([]);
  const [next, setNext] = useState("");
  const [loading, setLoading] = useState(false);
  const [refused, setRefused] = useState<Refusal | null>(null);
  const call = useRef(0);
  const fetchPage = async (token: string) => {
    const mine = ++call.current;
    setLoading(true);
    try {
      const page = await load(token);
      if (mine !== call.current) return;
      setChoices((before) => (token ? [...before, ...page.choices] : page.choices));
      setNext(page.next);
      setRefused(null);
    } catch (error) {
      if (mine === call.current) setRefused(refusal(error));
    } finally {
      if (mine === call.current) setLoading(false);
    }
  };
  useEffect(() => {
    fetchPage("");
  }, [reloadKey]);
  const missing = value && !choices.some((c) => c.value === value);
  return (
    <div class="inputs-row">
      <select {...a11y} name={name} value={value} onChange={(e) => onChange((e.target as HTMLSelectElement).value)}>
        <option value="">{emptyText}</option>
        {missing && <ChoiceOption choice={{ value, labelOf: value }} />}
        {choices.map((c) => (
          <ChoiceOption key={c.value} choice={c} />
        ))}
      </select>
      {next && (
        <button type="button" class="secondary" disabled={loading} onClick={() => fetchPage(next)}>
          More {what}
        </button>
      )}
      {loading && <span class="muted">Loading…</span>}
      {refused && (
        <span class="muted" role="alert">
          The {what} could not be listed: {refused.message}
        </span>
      )}
    </div>
  );
}

const CHOICES = 100;

function applications(token: string): Promise<ChoicePage> {
  return client(CatalogService)
    .listApplications({ parent: customerParent(), pageSize: CHOICES, pageToken: token, orderBy: "display_name" })
    .then((page) => ({
      choices: page.applications.map((a) => ({
        value: a.name,
        label: a.manufacturer ? `${applicationLabel(a)} (${a.manufacturer})` : applicationLabel(a),
      })),
      next: page.nextPageToken,
    }));
}

function families(token: string): Promise<ChoicePage> {
  return client(CatalogService)
    .listFamilies({ parent: customerParent(), pageSize: CHOICES, pageToken: token, orderBy: "display_name" })
    .then((page) => ({
      choices: page.families.map((f) => ({ value: f.name, label: f.manufacturer ? `${f.manufacturer} ${f.displayName}` : f.displayName })),
      next: page.nextPageToken,
    }));
}

function nodes(token: string): Promise<ChoicePage> {
  return client(OrganizationStructureService)
    .listOrgNodes({ parent: customerParent(), pageSize: CHOICES, pageToken: token })
    .then((page) => ({
      choices: page.orgNodes.map((n) => ({
        value: n.name,
        label: `${"· ".repeat(n.depth)}${n.displayName}${n.legal ? "" : " (not legal: cannot own licenses)"}`,
      })),
      next: page.nextPageToken,
    }));
}

function agreementsFor(purchaseDate: string) {
  return (token: string): Promise<ChoicePage> =>
    client(AgreementsService)
      .listAgreements({
        parent: customerParent(),
        pageSize: CHOICES,
        pageToken: token,
        orderBy: "display_name",
        offeredForPurchaseDate: /^\d{4}-\d{2}-\d{2}$/.test(purchaseDate) ? purchaseDate : "",
      })
      .then((page) => ({
        choices: page.agreements.map((a) => ({
          value: a.name,
          label: `${a.displayName} (${a.customKind || enumLabel(AgreementKind[a.kind], "")})`,
        })),
        next: page.nextPageToken,
      }));
}

function baseLicenses(self: string) {
  return (token: string): Promise<ChoicePage> =>
    client(LicensesService)
      .listLicenses({ parent: customerParent(), pageSize: CHOICES, pageToken: token })
      .then((page) => ({
        choices: page.licenses
          .filter((l) => l.name !== self)
          .map((l) => ({
            value: l.name,
            labelOf: l.application || l.family || undefined,
            label: l.application || l.family ? undefined : `License ${shortId(l.name)}`,
            suffix: `· ${quantityText(l)} · ${shortId(l.name).slice(0, 8)}`,
          })),
        next: page.nextPageToken,
      }));
}

export function quantityText(license: License): string {
  const kind = license.quantity?.kind;
  if (kind?.case === "unlimited") return "Unlimited";
  if (kind?.case === "count") return kind.value.toLocaleString();
  return "–";
}

interface A11y {
  id: string;
  "aria-describedby"?: string;
  "aria-invalid"?: "true";
  "aria-required"?: "true";
}

type Need = "required" | "needed" | null;

/** One labelled input with its help text and the server's errors for it. */
function FormField({
  id,
  label,
  need,
  help,
  errors,
  wide,
  check,
  children,
}: {
  id: string;
  label: string;
  need: Need;
  help?: string;
  errors: FieldError[];
  wide?: boolean;
  check?: boolean;
  children: (a11y: A11y) => ComponentChildren;
}) {
  const described = [help ? `${id}-help` : "", errors.length ? `${id}-errors` : ""].filter(Boolean).join(" ");
  const a11y: A11y = {
    id,
    "aria-describedby": described || undefined,
    "aria-invalid": errors.length ? "true" : undefined,
    "aria-required": need === "required" ? "true" : undefined,
  };
  const labelEl = (
    <label for={id}>
      {label}
      <NeedMark need={need} />
    </label>
  );
  return (
    <div class={`field${wide ? " wide" : ""}${check ? " check" : ""}`}>
      {check ? (
        <>
          {children(a11y)}
          {labelEl}
        </>
      ) : (
        <>
          {labelEl}
          {children(a11y)}
        </>
      )}
      {help && (
        <p class="help" id={`${id}-help`}>
          {help}
        </p>
      )}
      <div id={`${id}-errors`}>
        <FieldErrors errors={errors} />
      </div>
    </div>
  );
}

function NeedMark({ need }: { need: Need }) {
  if (need === "required") return <span class="req"> (required)</span>;
  if (need === "needed") return <span class="needed"> (needed for compliance)</span>;
  return null;
}

function FieldErrors({ errors, named = false }: { errors: FieldError[]; named?: boolean }) {
  return (
    <>
      {errors.map((e, i) => (
        <p class="field-error" data-field={e.field} key={`${e.field}-${i}`}>
          {named && (
            <>
              <code>{e.field}</code>:{" "}
            </>
          )}
          {e.description}
        </p>
      ))}
    </>
  );
}

function policyLabel(field: string): string {
  switch (field) {
    case "vendor":
      return "Vendor";
    case "invoice_reference":
      return "Invoice reference";
    case "purchase_date":
      return "Purchase date";
    case "price":
      return "Price";
    case "agreement":
      return "Agreement";
    default:
      return field.startsWith("custom_fields.") ? field.slice("custom_fields.".length) : field;
  }
}

function inputId(key: string): string {
  return `license-${key.replace(/[^a-zA-Z0-9_-]/g, "-")}`;
}

export function LicenseForm({
  license,
  policy,
  policyRefused,
  settings,
  onSaved,
  onCancel,
}: {
  /** The license to change; null for a new one. */
  license: License | null;
  policy: LicensePolicy | null;
  policyRefused: Refusal | null;
  settings: LicensingSettings | null;
  onSaved: (saved: License, created: boolean) => void;
  onCancel: () => void;
}) {
  const [values, setValues] = useState<Values>(() => initialValues(license));
  const [upgrades, setUpgrades] = useState<UpgradeRow[]>(() =>
    (license?.upgradeOf ?? []).map((u) => ({ base: u.base, quantity: u.quantity.toString() })),
  );
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [refused, setRefused] = useState<Refusal | null>(null);
  const [note, setNote] = useState("");
  const [saving, setSaving] = useState(false);
  const [reqId, setReqId] = useState(requestId);
  const summary = useRef<HTMLDivElement>(null);
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    heading.current?.focus();
  }, []);

  const set = (key: string, value: string) => setValues((v) => ({ ...v, [key]: value }));
  const text = (key: string) => (e: JSX.TargetedEvent<HTMLInputElement | HTMLSelectElement>) => set(key, e.currentTarget.value);
  const checkbox = (key: string) => (e: JSX.TargetedEvent<HTMLInputElement>) => set(key, e.currentTarget.checked ? "true" : "");

  // Policy fields in the policy's order; custom fields the license holds but the policy does not name, after them.
  const policyFields: PolicyField[] = policy?.fields.length
    ? [...policy.fields]
    : STANDARD_POLICY.map(
        (field) => ({ field, required: false, description: "", allowedValues: [], customValuesAllowed: false }) as unknown as PolicyField,
      );
  const named = new Set(policyFields.map((f) => f.field));
  const extraCustom = Object.keys(values).filter((k) => k.startsWith("custom_fields.") && !named.has(k));
  const rule = (field: string) => policyFields.find((f) => f.field === field);

  const need = (field: string): Need => {
    if (rule(field)?.required) return "required";
    if (COMPLETENESS.has(field)) return settings && !settings.allowIncompleteLicenses ? "required" : "needed";
    return null;
  };

  const keys = new Set<string>([
    "covers",
    "application",
    "family",
    "metric",
    "assignment_type",
    "quantity",
    "minimum_per_computer",
    "legal_owner",
    "automatic_allocation",
    "downgrade_rights",
    "price.currency_code",
    "price.amount",
    "subscription",
    "subscription.start_date",
    "subscription.end_date",
    "upgrade_of",
    ...policyFields.map((f) => f.field),
    ...extraCustom,
  ]);
  const errorsFor = (...forKeys: string[]) => errors.filter((e) => forKeys.includes(inputKey(e.field)));
  const unmatched = errors.filter((e) => !keys.has(inputKey(e.field)));

  const submit = async (event: Event) => {
    event.preventDefault();
    setNote("");
    const { init, local } = build(values, upgrades);
    if (local.length) {
      setErrors(local);
      setRefused(null);
      requestAnimationFrame(() => summary.current?.focus());
      return;
    }
    setSaving(true);
    try {
      let saved: License;
      if (license) {
        const next = create(LicenseSchema, { ...init, name: license.name, etag: license.etag });
        const paths = PATHS.filter((p) => signature(next, p) !== signature(license, p));
        if (paths.length === 0) {
          setErrors([]);
          setRefused(null);
          setNote("Nothing changed: there is nothing to save.");
          return;
        }
        saved = await client(LicensesService).updateLicense({ license: next, updateMask: { paths: [...paths] } });
      } else {
        saved = await client(LicensesService).createLicense({ parent: customerParent(), license: init, requestId: reqId });
      }
      setErrors([]);
      setRefused(null);
      onSaved(saved, !license);
    } catch (error) {
      const r = refusal(error);
      setErrors(r.fields);
      setRefused({ ...r, fields: [] });
      // A retry of a lost answer keeps the idempotency key; a refused request gets a new one.
      if (!["Unavailable", "DeadlineExceeded", "Unknown", "Canceled"].includes(r.code)) setReqId(requestId());
      requestAnimationFrame(() => summary.current?.focus());
    } finally {
      setSaving(false);
    }
  };

  const policyInput = (field: PolicyField | { field: string; required: boolean; description: string; allowedValues: string[]; customValuesAllowed: boolean }) => {
    const key = field.field;
    const id = inputId(key);
    const help = field.description || undefined;
    if (key === "purchase_date") {
      return (
        <FormField key={key} id={id} label="Purchase date" need={need(key)} help={help} errors={errorsFor(key)}>
          {(a11y) => <input {...a11y} type="date" name="purchase_date" value={values.purchase_date} onInput={text(key)} />}
        </FormField>
      );
    }
    if (key === "price") {
      return (
        <fieldset key={key} name="price" class="field wide" aria-describedby={help ? `${id}-help` : undefined}>
          <legend>
            Price
            <NeedMark need={need(key)} />
          </legend>
          {help && (
            <p class="help" id={`${id}-help`}>
              {help}
            </p>
          )}
          <FieldErrors errors={errorsFor("price")} />
          <div class="form-grid">
            <FormField id={`${id}-currency`} label="Currency (ISO 4217)" need={null} errors={errorsFor("price.currency_code")}>
              {(a11y) => (
                <input
                  {...a11y}
                  name="price.currency_code"
                  value={values["price.currency_code"]}
                  maxLength={3}
                  size={5}
                  placeholder="EUR"
                  autocomplete="off"
                  onInput={text("price.currency_code")}
                />
              )}
            </FormField>
            <FormField id={`${id}-amount`} label="Amount" need={null} help="In the currency, e.g. 1250.00." errors={errorsFor("price.amount")}>
              {(a11y) => (
                <input {...a11y} name="price.amount" inputMode="decimal" value={values["price.amount"]} onInput={text("price.amount")} />
              )}
            </FormField>
          </div>
        </fieldset>
      );
    }
    if (key === "agreement") {
      return (
        <FormField
          key={key}
          id={id}
          label="Agreement"
          need={need(key)}
          help={[help, "Only software agreements offered for the purchase date are listed."].filter(Boolean).join(" ")}
          errors={errorsFor(key)}
        >
          {(a11y) => (
            <RefSelect
              a11y={a11y}
              name="agreement"
              value={values.agreement}
              onChange={(v) => set(key, v)}
              load={agreementsFor(values.purchase_date)}
              reloadKey={values.purchase_date}
              emptyText="No agreement"
              what="agreements"
            />
          )}
        </FormField>
      );
    }
    // Text fields: vendor, invoice reference and custom fields.
    const allowed = field.allowedValues;
    const current = values[key] ?? "";
    return (
      <FormField
        key={key}
        id={id}
        label={policyLabel(key)}
        need={need(key)}
        help={help}
        errors={errorsFor(key)}
      >
        {(a11y) =>
          allowed.length > 0 && !field.customValuesAllowed ? (
            <select {...a11y} name={key} value={current} onChange={text(key)}>
              <option value="">–</option>
              {current && !allowed.includes(current) && <option value={current}>{current} (not an allowed value)</option>}
              {allowed.map((v) => (
                <option key={v} value={v}>
                  {v}
                </option>
              ))}
            </select>
          ) : (
            <>
              <input {...a11y} name={key} value={current} list={allowed.length ? `${id}-values` : undefined} onInput={text(key)} />
              {allowed.length > 0 && (
                <datalist id={`${id}-values`}>
                  {allowed.map((v) => (
                    <option key={v} value={v} />
                  ))}
                </datalist>
              )}
            </>
          )
        }
      </FormField>
    );
  };

  const metric = Number(values.metric) as Metric;
  return (
    <section class="editor" aria-labelledby="license-form-title">
      <h2 id="license-form-title" tabIndex={-1} ref={heading}>
        {license ? "Edit license" : "New license"}
      </h2>
      <Refused refusal={policyRefused} />
      {policyRefused && <p class="muted">The license policy could not be read; the server still applies it on saving.</p>}
      <p class="muted">
        Fields marked <span class="req">(required)</span> must be filled or the license cannot be saved
        {settings?.allowIncompleteLicenses
          ? "; without those marked (needed for compliance) the license is saved as incomplete and left out of compliance."
          : "."}
      </p>
      <form id="license-form" onSubmit={submit} noValidate>
        <div ref={summary} tabIndex={-1} id="license-form-errors">
          <Refused refusal={refused} />
          {errors.length > 0 && (
            <div class="form-errors" role="alert">
              <p>
                {errors.length === 1 ? "1 field needs attention" : `${errors.length} fields need attention`}
                {unmatched.length < errors.length ? ", shown next to the fields" : ""}.
              </p>
              {unmatched.length > 0 && <FieldErrors errors={unmatched} named />}
            </div>
          )}
          {note && (
            <p role="status" class="muted">
              {note}
            </p>
          )}
        </div>

        <fieldset>
          <legend>What it licenses</legend>
          <div class="form-grid">
            <div class="field wide" role="radiogroup" aria-labelledby="license-covers-label">
              <span id="license-covers-label">
                <strong>Covers</strong>
                <NeedMark need={need("application")} />
              </span>
              <div class="inputs-row">
                <label class="inline">
                  <input type="radio" name="covers" value="application" checked={values.covers === "application"} onChange={() => set("covers", "application")} />
                  One application
                </label>
                <label class="inline">
                  <input type="radio" name="covers" value="family" checked={values.covers === "family"} onChange={() => set("covers", "family")} />
                  Every version and edition of a family
                </label>
              </div>
            </div>
            {values.covers === "family" ? (
              <FormField id="license-family" label="Family" need={need("application")} errors={errorsFor("family", "application")}>
                {(a11y) => (
                  <RefSelect a11y={a11y} name="family" value={values.family} onChange={(v) => set("family", v)} load={families} emptyText="Choose a family" what="families" />
                )}
              </FormField>
            ) : (
              <FormField id="license-application" label="Application" need={need("application")} errors={errorsFor("application", "family")}>
                {(a11y) => (
                  <RefSelect
                    a11y={a11y}
                    name="application"
                    value={values.application}
                    onChange={(v) => set("application", v)}
                    load={applications}
                    emptyText="Choose an application"
                    what="applications"
                  />
                )}
              </FormField>
            )}
            <FormField id="license-metric" label="Metric" need={need("metric")} help="How the requirement is counted." errors={errorsFor("metric")}>
              {(a11y) => (
                <select {...a11y} name="metric" value={values.metric} onChange={text("metric")}>
                  <option value="0">–</option>
                  {METRICS.map((m) => (
                    <option key={m} value={String(m)}>
                      {enumLabel(Metric[m], "")}
                    </option>
                  ))}
                </select>
              )}
            </FormField>
            <FormField
              id="license-assignment_type"
              label="Assignment type"
              need={need("assignment_type")}
              help={ASSIGNMENT_HELP[Number(values.assignment_type)] ?? "Whom the license is assigned to."}
              errors={errorsFor("assignment_type")}
            >
              {(a11y) => (
                <select {...a11y} name="assignment_type" value={values.assignment_type} onChange={text("assignment_type")}>
                  <option value="0">–</option>
                  {ASSIGNMENT_TYPES.map((t) => (
                    <option key={t} value={String(t)}>
                      {enumLabel(AssignmentType[t], "")}
                    </option>
                  ))}
                </select>
              )}
            </FormField>
            <FormField id="license-quantity" label="Quantity" need={need("quantity")} help="License units, at least 1; or unlimited." errors={errorsFor("quantity")}>
              {(a11y) => (
                <div class="inputs-row">
                  <input
                    {...a11y}
                    type="number"
                    name="quantity"
                    min={1}
                    step={1}
                    value={values.quantity}
                    disabled={values.unlimited === "true"}
                    onInput={text("quantity")}
                  />
                  <label class="inline">
                    <input type="checkbox" name="quantity.unlimited" checked={values.unlimited === "true"} onChange={checkbox("unlimited")} />
                    Unlimited
                  </label>
                </div>
              )}
            </FormField>
            {(metric === Metric.PROCESSORS || metric === Metric.CORES || values.minimum_per_computer !== "") && (
              <FormField
                id="license-minimum_per_computer"
                label="Minimum per computer"
                need={null}
                help="Processors and cores licenses: each computer requires at least this many units (0 = no minimum)."
                errors={errorsFor("minimum_per_computer")}
              >
                {(a11y) => (
                  <input
                    {...a11y}
                    type="number"
                    name="minimum_per_computer"
                    min={0}
                    max={1024}
                    value={values.minimum_per_computer}
                    onInput={text("minimum_per_computer")}
                  />
                )}
              </FormField>
            )}
          </div>
        </fieldset>

        <fieldset>
          <legend>Ownership and allocation</legend>
          <div class="form-grid">
            <FormField
              id="license-legal_owner"
              label="Legal owner"
              need={need("legal_owner")}
              help="The legal organization node that owns the license."
              errors={errorsFor("legal_owner")}
            >
              {(a11y) => (
                <RefSelect a11y={a11y} name="legal_owner" value={values.legal_owner} onChange={(v) => set("legal_owner", v)} load={nodes} emptyText="Choose a node" what="nodes" />
              )}
            </FormField>
            <FormField
              id="license-automatic_allocation"
              label="Automatic allocation"
              need={null}
              check
              help="Re-distributed over the nodes below the legal owner on every calculation."
              errors={errorsFor("automatic_allocation")}
            >
              {(a11y) => (
                <input {...a11y} type="checkbox" name="automatic_allocation" checked={values.automatic_allocation === "true"} onChange={checkbox("automatic_allocation")} />
              )}
            </FormField>
            <FormField
              id="license-downgrade_rights"
              label="Downgrade rights"
              need={null}
              check
              help="Covers earlier versions of the family when the application allows it."
              errors={errorsFor("downgrade_rights")}
            >
              {(a11y) => (
                <input {...a11y} type="checkbox" name="downgrade_rights" checked={values.downgrade_rights === "true"} onChange={checkbox("downgrade_rights")} />
              )}
            </FormField>
          </div>
        </fieldset>

        <fieldset>
          <legend>Purchase (license policy)</legend>
          <div class="form-grid">
            {policyFields.map((f) => policyInput(f))}
            {extraCustom.map((key) =>
              policyInput({ field: key, required: false, description: "Not in the license policy.", allowedValues: [], customValuesAllowed: true }),
            )}
          </div>
        </fieldset>

        <fieldset>
          <legend>Subscription</legend>
          <p class="help">Only for a subscription license: the period it is valid in (both dates, inclusive).</p>
          <FieldErrors errors={errorsFor("subscription")} />
          <div class="form-grid">
            <FormField id="license-subscription-start" label="Subscription start" need={null} errors={errorsFor("subscription.start_date")}>
              {(a11y) => (
                <input {...a11y} type="date" name="subscription.start_date" value={values["subscription.start_date"]} onInput={text("subscription.start_date")} />
              )}
            </FormField>
            <FormField id="license-subscription-end" label="Subscription end" need={null} errors={errorsFor("subscription.end_date")}>
              {(a11y) => (
                <input {...a11y} type="date" name="subscription.end_date" value={values["subscription.end_date"]} onInput={text("subscription.end_date")} />
              )}
            </FormField>
          </div>
        </fieldset>

        <fieldset>
          <legend>Upgrade of</legend>
          <p class="help">For an upgrade license: the base licenses it upgrades and the quantity it takes from each.</p>
          <FieldErrors errors={errorsFor("upgrade_of")} />
          {upgrades.map((row, index) => (
            <div class="inputs-row" key={index}>
              <RefSelect
                a11y={{ id: `license-upgrade-${index}-base`, "aria-describedby": undefined }}
                name={`upgrade_of[${index}].base`}
                value={row.base}
                onChange={(v) => setUpgrades((rows) => rows.map((r, i) => (i === index ? { ...r, base: v } : r)))}
                load={baseLicenses(license?.name ?? "")}
                emptyText="Choose a base license"
                what="licenses"
              />
              <label class="visually-hidden" for={`license-upgrade-${index}-base`}>
                Base license {index + 1}
              </label>
              <label class="inline">
                Quantity
                <input
                  type="number"
                  min={1}
                  name={`upgrade_of[${index}].quantity`}
                  value={row.quantity}
                  onInput={(e) => {
                    const v = e.currentTarget.value;
                    setUpgrades((rows) => rows.map((r, i) => (i === index ? { ...r, quantity: v } : r)));
                  }}
                />
              </label>
              <button
                type="button"
                class="secondary"
                aria-label={`Remove base license ${index + 1}`}
                onClick={() => setUpgrades((rows) => rows.filter((_, i) => i !== index))}
              >
                Remove
              </button>
            </div>
          ))}
          <button type="button" class="secondary" onClick={() => setUpgrades((rows) => [...rows, { base: "", quantity: "1" }])}>
            Add a base license
          </button>
        </fieldset>

        <div class="form-actions">
          <button id="save-license" type="submit" disabled={saving}>
            {saving ? "Saving…" : license ? "Save changes" : "Save license"}
          </button>
          <button type="button" class="secondary" id="cancel-license" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}
