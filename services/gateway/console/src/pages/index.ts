// Which pages each kind of organization gets. A page still shows the
// server's refusal when the key's role may not do what it offers. Each
// kind's pages are a chunk of their own, loaded on first use, so a
// partner's browser never downloads the distributor's charts.
import { createElement, type FunctionComponent } from "preact";
import { useEffect, useState } from "preact/hooks";
import { OrganizationKind } from "../gen/estate/common/v1/common_pb";

export interface Page {
  path: string;
  title: string;
  component: FunctionComponent;
}

/** A component whose code is fetched the first time it is shown. */
function lazy(load: () => Promise<FunctionComponent>): FunctionComponent {
  let loaded: FunctionComponent | null = null;
  return function Lazy() {
    const [component, setComponent] = useState<FunctionComponent | null>(() => loaded);
    const [failed, setFailed] = useState<string | null>(null);
    useEffect(() => {
      if (component) return;
      load().then(
        (c) => {
          loaded = c;
          setComponent(() => c);
        },
        (error: unknown) => setFailed(String(error)),
      );
    }, [component]);
    if (failed) return createElement("p", { role: "alert" }, `This page could not be loaded: ${failed}`);
    if (!component) return createElement("p", { class: "muted", "aria-busy": "true" }, "Loading…");
    return createElement(component, null);
  };
}

const CustomersOverview = lazy(() => import("./partner/CustomersOverview").then((m) => m.CustomersOverview));
const AccessGrants = lazy(() => import("./customer/AccessGrants").then((m) => m.AccessGrants));
const Licenses = lazy(() => import("./customer/Licenses").then((m) => m.Licenses));
const Compliance = lazy(() => import("./customer/Compliance").then((m) => m.Compliance));
const Dashboard = lazy(() => import("./distributor/Dashboard").then((m) => m.Dashboard));
const Partners = lazy(() => import("./distributor/Partners").then((m) => m.Partners));
const UsageReports = lazy(() => import("./distributor/UsageReports").then((m) => m.UsageReports));

export function pagesFor(kind: OrganizationKind): Page[] {
  switch (kind) {
    case OrganizationKind.PARTNER:
      return [{ path: "customers", title: "Customers", component: CustomersOverview }];
    case OrganizationKind.CUSTOMER:
      return [
        { path: "access", title: "Access", component: AccessGrants },
        { path: "licenses", title: "Licenses", component: Licenses },
        { path: "compliance", title: "Compliance", component: Compliance },
      ];
    case OrganizationKind.DISTRIBUTOR:
      return [
        { path: "dashboard", title: "Dashboard", component: Dashboard },
        { path: "partners", title: "Partners", component: Partners },
        { path: "reports", title: "Usage reports", component: UsageReports },
      ];
    default:
      return [];
  }
}
