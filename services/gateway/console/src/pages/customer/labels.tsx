// Names people read for the resource names the lists return: each looked
// up once (and cached for the tab), shown as the short id until known or
// when the caller may not read it.
import { useEffect, useState } from "preact/hooks";
import { client } from "../../api";
import { OrganizationsService } from "../../gen/estate/customers/v1/organizations_pb";
import { CatalogService, type Application } from "../../gen/estate/licensing/v1/catalog_pb";
import { OrganizationStructureService } from "../../gen/estate/licensing/v1/org_structure_pb";
import { AgreementsService } from "../../gen/estate/licensing/v1/agreements_pb";
import { InventoryService } from "../../gen/estate/licensing/v1/inventory_pb";
import { LicensesService } from "../../gen/estate/licensing/v1/licenses_pb";

const cache = new Map<string, Promise<string | null>>();

export function applicationLabel(app: Application): string {
  return [app.displayName, app.version, app.edition].filter(Boolean).join(" ");
}

function parentOf(name: string): string {
  return name.split("/").slice(0, 2).join("/");
}

async function fetchLabel(name: string): Promise<string | null> {
  if (/^organizations\/[^/]+$/.test(name)) {
    return (await client(OrganizationsService).getOrganization({ name })).displayName || null;
  }
  if (/^customers\/[^/]+\/applications\/[^/]+$/.test(name)) {
    return applicationLabel(await client(CatalogService).getApplication({ name }));
  }
  if (/^customers\/[^/]+\/families\/[^/]+$/.test(name)) {
    // No GetFamily: any application of the family names it.
    const page = await client(CatalogService).listApplications({ parent: parentOf(name), family: name, pageSize: 1 });
    const app = page.applications[0];
    if (!app) return null;
    const family = app.familyDisplayName || app.displayName;
    return app.manufacturer ? `${app.manufacturer} ${family}` : family;
  }
  if (/^customers\/[^/]+\/nodes\/[^/]+$/.test(name)) {
    return (await client(OrganizationStructureService).getOrgNode({ name })).displayName || null;
  }
  if (/^customers\/[^/]+\/agreements\/[^/]+$/.test(name)) {
    return (await client(AgreementsService).getAgreement({ name })).displayName || null;
  }
  if (/^customers\/[^/]+\/computers\/[^/]+$/.test(name)) {
    return (await client(InventoryService).getComputer({ name })).hostname || null;
  }
  if (/^customers\/[^/]+\/licenses\/[^/]+$/.test(name)) {
    const license = await client(LicensesService).getLicense({ name });
    const product = license.application || license.family;
    const productLabel = product ? await lookup(product) : null;
    return productLabel ? `${productLabel} license` : null;
  }
  return null;
}

/** The display name of `name`, or null when it cannot be read. */
export function lookup(name: string): Promise<string | null> {
  let found = cache.get(name);
  if (!found) {
    found = fetchLabel(name).catch(() => null);
    cache.set(name, found);
  }
  return found;
}

/** Forgets a name after its resource changed. */
export function forget(name: string): void {
  cache.delete(name);
}

export function useLabel(name: string): string | null {
  const [label, setLabel] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    setLabel(null);
    if (name) lookup(name).then((found) => live && setLabel(found));
    return () => {
      live = false;
    };
  }, [name]);
  return label;
}

/** The last segment of a resource name. */
export function shortId(name: string): string {
  return name.slice(name.lastIndexOf("/") + 1);
}

/** A resource shown by its display name, the resource name in a tooltip; the id when the name cannot be read. */
export function Label({ name, empty = "–" }: { name: string; empty?: string }) {
  const label = useLabel(name);
  if (!name) return <span class="muted">{empty}</span>;
  if (label) return <span title={name}>{label}</span>;
  return (
    <span class="muted resource-id" title={name}>
      {shortId(name)}
    </span>
  );
}
